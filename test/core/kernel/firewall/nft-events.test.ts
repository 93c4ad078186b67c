// test/core/kernel/firewall/nft-events.test.ts — decoding nftables events (the messages `nft
// monitor` prints) into transactions, telling tsd's own from others', and the iptables-nft damage
// rules. The integration test (integration/daemon/firewall-watch.test.ts) checks the real kernel.

import assert from 'node:assert/strict';
import { classifyIptablesNft } from '../../../../core/kernel/firewall/iptables/backend.js';
import { decodeEvents, describeAll, emptyTransaction, isOwnTransaction, type NftTransaction } from '../../../../core/kernel/firewall/nft-events.js';

const NFPROTO = { inet: 1, ip: 2, ip6: 10 } as const;

function attr(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}
const str = (s: string) => Buffer.from(`${s}\0`);

/** One nfnetlink nftables message: nlmsghdr + nfgenmsg + attributes. */
function msg(nftType: number, family: number, attrs: Buffer[], portid = 777): Buffer {
  const body = Buffer.concat([Buffer.from([family, 0, 0, 0]), ...attrs]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE((10 << 8) | nftType, 4);
  h.writeUInt32LE(portid, 12);
  return Buffer.concat([h, body]);
}
function newgen(pid: number, name: string): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(pid);
  return msg(15, 0, [attr(1, Buffer.alloc(4)), attr(2, p), attr(3, str(name))]);
}
const delTable = (fam: number, t: string) => msg(2, fam, [attr(1, str(t))]);
const delChain = (fam: number, t: string, c: string) => msg(5, fam, [attr(1, str(t)), attr(3, str(c))]);
const delRule = (fam: number, t: string, c: string) => msg(8, fam, [attr(1, str(t)), attr(2, str(c))]);
const newRule = (fam: number, t: string, c: string) => msg(6, fam, [attr(1, str(t)), attr(2, str(c))]);
const newSetElem = () => msg(12, NFPROTO.inet, [attr(1, str('tsd')), attr(2, str('pub4any'))]);

function decode(...parts: Buffer[]): NftTransaction[] {
  const out: NftTransaction[] = [];
  decodeEvents(Buffer.concat(parts), emptyTransaction(), (t) => out.push(t));
  return out;
}

describe('nftables events', () => {
  it('groups a transaction up to NEWGEN, with the committing pid and name; additions are only counted, new rules named', () => {
    const [t, u, ...rest] = decode(
      delRule(NFPROTO.inet, 'tsd', 'forward'), delRule(NFPROTO.inet, 'tsd', 'forward'), delChain(NFPROTO.inet, 'tsd', 'forward'),
      delTable(NFPROTO.inet, 'tsd'), newgen(4321, 'nft'),
      newRule(NFPROTO.inet, 'tsd', 'user'), newSetElem(), newSetElem(), newgen(99, 'nft'),
    );
    assert.equal(rest.length, 0);
    assert.deepEqual(t!.deletions.map((d) => [d.kind, d.family, d.table, d.name]), [
      ['rule', 'inet', 'tsd', 'forward'], ['chain', 'inet', 'tsd', 'forward'], ['table', 'inet', 'tsd', undefined],
    ], 'each deleted object once');
    assert.deepEqual([t!.pid, t!.proc, t!.portid], [4321, 'nft', 777]);
    assert.deepEqual(u!.deletions, []);
    assert.deepEqual(u!.ruleAdds.map((d) => [d.table, d.name]), [['tsd', 'user']]);
    assert.equal(u!.additions, 3);
  });

  it('carries a transaction split across datagrams', () => {
    const out: NftTransaction[] = [];
    let pending = decodeEvents(delTable(NFPROTO.ip, 'nat'), emptyTransaction(), (t) => out.push(t));
    assert.equal(out.length, 0);
    pending = decodeEvents(newgen(5, 'iptables-nft'), pending, (t) => out.push(t));
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]!.deletions, [{ kind: 'table', family: 'ip', table: 'nat' }]);
    assert.deepEqual(pending.deletions, []);
  });

  it('describes a flush in a few words: a deleted table hides what went with it', () => {
    const [t] = decode(delRule(NFPROTO.inet, 'tsd', 'forward'), delChain(NFPROTO.inet, 'tsd', 'user'), delTable(NFPROTO.inet, 'tsd'), delRule(NFPROTO.ip, 'filter', 'TSD-FORWARD'), delRule(NFPROTO.ip, 'filter', 'TSD-FORWARD'), newgen(1, 'nft'));
    assert.deepEqual(describeAll(t!.deletions), ['table inet tsd', 'rules of chain ip filter TSD-FORWARD']);
  });

  it('tsd\'s own transactions: committed by this process', () => {
    assert.equal(isOwnTransaction({ ...emptyTransaction(), pid: process.pid }), true);
    assert.equal(isOwnTransaction({ ...emptyTransaction(), pid: process.pid + 100_000 }), false);
    assert.equal(isOwnTransaction(emptyTransaction()), false, 'no pid: not known to be ours');
  });

  it('iptables-nft damage: TSD chains and their rules are certain, TSD-USER rules are the user\'s, built-in chain rules are uncertain', () => {
    const one = (...m: Buffer[]) => classifyIptablesNft(decode(...m, newgen(42, 'iptables'))[0]!);
    assert.deepEqual(one(delRule(NFPROTO.ip, 'nat', 'TSD-DNAT')), { what: ['rules of chain ip nat TSD-DNAT'], certain: true, by: 'iptables pid 42' });
    assert.equal(one(delChain(NFPROTO.ip6, 'filter', 'TSD-ISOLATION-2'))?.certain, true);
    assert.deepEqual(one(delTable(NFPROTO.ip, 'filter'))?.what, ['table ip filter']);
    assert.equal(one(delRule(NFPROTO.ip, 'filter', 'TSD-USER')), undefined);
    assert.equal(one(delRule(NFPROTO.ip, 'filter', 'DOCKER')), undefined);
    assert.equal(one(delRule(NFPROTO.inet, 'filter', 'TSD-FORWARD')), undefined, 'an inet table is not iptables\'');
    assert.deepEqual(one(delRule(NFPROTO.ip, 'filter', 'FORWARD')), { what: ['rules of chain ip filter FORWARD'], certain: false, by: 'iptables pid 42' });
  });
});
