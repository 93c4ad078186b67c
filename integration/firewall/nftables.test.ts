// integration/firewall/nftables.test.ts — the nftables backend against the kernel: real traffic
// (traffic-suite.ts) and the table as `nft -j` shows it: policy and ports are elements, the rules
// never grow. Runs inside the private namespace of scripts/test-integration.sh.

import assert from 'node:assert/strict';
import { execa } from 'execa';
import { createFirewall } from '../../core/kernel/firewall/select.js';
import { NftablesFirewall } from '../../core/kernel/firewall/nftables/backend.js';
import { ExecNftTransport } from '../../core/kernel/firewall/nftables/transport-exec.js';
import { LibnftablesTransport } from '../../core/kernel/firewall/nftables/transport-libnftables.js';
import { createMemoryLogger, silentLogger } from '../../core/log.js';
import { net1, trafficSuite, web, type UserRule } from './traffic-suite.js';

/** The user's nft text for a hook-chain rule. */
const nftRule = (r: UserRule) => `${r.src ? `ip saddr ${r.src} ` : ''}ip daddr ${r.dst}${r.dport ? ` tcp dport ${r.dport}` : ''} ${r.verdict}`;

/** The hook chain's rules as `nft list chain` prints them. */
async function userRules(): Promise<string[]> {
  const out = String((await execa('nft', ['list', 'chain', 'inet', 'tsd', 'user'])).stdout);
  return out.split('\n').map((l) => l.trim()).filter((l) => l && !/^(table|chain) .*\{$|^\}$/.test(l));
}

/** How a user deletes a rule: by the handle nft -a shows. */
async function deleteUserRule(r: UserRule): Promise<void> {
  const out = String((await execa('nft', ['-a', 'list', 'chain', 'inet', 'tsd', 'user'])).stdout);
  const line = out.split('\n').find((l) => l.trim().startsWith(`${nftRule(r)} # handle `));
  assert.ok(line, `rule ${nftRule(r)} in ${out}`);
  await execa('nft', ['delete', 'rule', 'inet', 'tsd', 'user', 'handle', line.split('# handle ')[1]!.trim()]);
}

const nftUser = {
  add: async (r: UserRule) => void (await execa('nft', ['add', 'rule', 'inet', 'tsd', 'user', ...nftRule(r).split(' ')])),
  remove: deleteUserRule,
  list: userRules,
};

interface NftItem { [kind: string]: { name?: string; elem?: unknown[]; expr?: unknown[] } }

async function listTable(): Promise<NftItem[] | undefined> {
  const r = await execa('nft', ['-j', 'list', 'table', 'inet', 'tsd'], { reject: false });
  if (r.exitCode !== 0) return undefined;
  return (JSON.parse(String(r.stdout)) as { nftables: NftItem[] }).nftables;
}

const elems = (t: NftItem[], name: string) => t.find((i) => (i.map ?? i.set)?.name === name)?.[(t.find((i) => i.map?.name === name) ? 'map' : 'set')]?.elem ?? [];
const ruleCount = (t: NftItem[]) => t.filter((i) => i.rule).length;

describe('firewall nftables (libnftables)', () => {
  trafficSuite({
    create: async () => {
      const log = createMemoryLogger();
      const fw = await createFirewall({ backend: 'auto' }, { log });
      assert.equal(fw.backend, 'nftables');
      assert.ok(log.lines.some((l) => /^firewall backend nftables \(auto\) via libnftables$/.test(String(l.msg))));
      return fw;
    },
    sabotage: async () => {
      await execa('nft', ['delete', 'element', 'inet', 'tsd', 'pub4any', '{ tcp . 8080 }']);
    },
    isClean: async () => (await listTable()) === undefined,
    user: nftUser,
  });
});

describe('firewall nftables table contents', () => {
  let fw: NftablesFirewall;
  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    fw = (await createFirewall({ backend: 'nftables' }, { log: silentLogger })) as NftablesFirewall;
    await fw.purge();
  });
  after(async () => {
    await fw?.purge();
  });

  it('holds networks and ports as elements; rule count is independent of them', async () => {
    await fw.reload({ networks: [], ports: [] });
    const empty = await listTable();
    assert.ok(empty);
    const rules = ruleCount(empty);
    await fw.addNetwork({ ...net1, subnets: ['10.71.1.0/24', 'fd71:1::/64'], icc: false });
    const ports = Array.from({ length: 200 }, (_, i) => ({ ...web, hostPort: 20000 + i, containerPort: 1000 + i }));
    await fw.publishPorts([...ports, { ...web, hostIp: '127.0.0.1', hostPort: 7000 }, { ...web, proto: 'udp' as const, hostPort: 53, containerIp: 'fd71:1::2', containerPort: 53 }]);
    const t = await listTable();
    assert.ok(t);
    assert.equal(ruleCount(t), rules);
    assert.equal(elems(t, 'pub4any').length, 200);
    assert.equal(elems(t, 'pub4').length, 1);
    assert.equal(elems(t, 'pub6any').length, 1);
    assert.deepEqual(elems(t, 'bridges'), ['tsdfw-b1']);
    assert.equal(elems(t, 'noicc').length, 1);
    assert.equal(elems(t, 'samebr').length, 0);
    assert.equal(elems(t, 'isolated').length, 1);
    assert.equal(elems(t, 'masq6').length, 1);
    const text = String((await execa('nft', ['list', 'map', 'inet', 'tsd', 'pub4any'])).stdout);
    assert.match(text, /tcp \. 20199 : 10\.71\.1\.2 \. 1199/);
    await fw.removeNetwork('net1');
    const after = await listTable();
    assert.ok(after);
    for (const s of ['pub4any', 'pub4', 'pub6any', 'bridges', 'noicc', 'isolated', 'masq4', 'masq6', 'net4', 'net6']) assert.deepEqual(elems(after, s), [], s);
  });

  it('a conflicting batch changes nothing in the kernel', async () => {
    await fw.addNetwork(net1);
    await fw.publishPorts([web]);
    await assert.rejects(fw.publishPorts([{ ...web, hostPort: 8090 }, { ...web, containerPort: 81 }]), { code: 'Conflict' });
    const t = await listTable();
    assert.ok(t);
    assert.equal(elems(t, 'pub4any').length, 1);
  });

  it('adopts an existing table of its schema on first use (no reload)', async () => {
    const again = (await createFirewall({ backend: 'nftables' }, { log: silentLogger })) as NftablesFirewall;
    await again.addNetwork({ ...net1, id: 'other', bridge: 'tsdfw-b9', subnets: ['10.79.0.0/24'] });
    const t = await listTable();
    assert.ok(t);
    assert.equal(elems(t, 'pub4any').length, 1, 'the first instance\'s port is still there');
    again.close();
  });

  it('port elements over NETLINK_NETFILTER land exactly as nft text puts them (v4/v6, host IPs, every proto)', async () => {
    const listMaps = async () => {
      const out: Record<string, unknown> = {};
      for (const m of ['pub4', 'pub4any', 'pub6', 'pub6any']) {
        const j = JSON.parse(String((await execa('nft', ['-j', 'list', 'map', 'inet', 'tsd', m])).stdout)) as { nftables: NftItem[] };
        out[m] = j.nftables.find((i) => i.map)?.map?.elem ?? [];
      }
      return out;
    };
    const protos = ['tcp', 'udp', 'sctp'] as const;
    const ports = [
      ...Array.from({ length: 600 }, (_, i) => ({ ...web, proto: protos[i % 3]!, hostPort: 30000 + i, containerIp: `10.71.1.${2 + (i % 200)}`, containerPort: 1 + (i % 9) })),
      ...Array.from({ length: 40 }, (_, i) => ({ ...web, hostIp: i % 2 ? '127.0.0.1' : '10.71.1.1', hostPort: 31000 + i, containerPort: 65535 - i })),
      { ...web, proto: 'udp' as const, hostPort: 53, containerIp: 'fd71:1::2', containerPort: 5353 },
      { ...web, hostIp: '::1', hostPort: 443, containerIp: 'fd71:1::3', containerPort: 8443 },
    ];
    const netv6 = { ...net1, subnets: ['10.71.1.0/24', 'fd71:1::/64'] };
    const seen: unknown[] = [];
    for (const netlinkElements of [false, true]) {
      const log = createMemoryLogger();
      const f = new NftablesFirewall(new LibnftablesTransport({ netlinkElements }), log);
      try {
        await f.reload({ networks: [netv6], ports: [] });
        await f.publishPorts(ports);
        const full = await listMaps();
        await f.unpublishPorts(ports.slice(0, 321));
        seen.push([full, await listMaps()]);
        await f.unpublishPorts(ports.slice(321));
        assert.deepEqual(Object.values(await listMaps()).map((e) => (e as unknown[]).length), [0, 0, 0, 0]);
        // applied as one batch, not through the drift-repair rebuild
        assert.ok(!log.lines.some((l) => /nft batch failed/.test(String(l.msg))), JSON.stringify(log.lines));
      } finally {
        await f.purge();
        f.close();
      }
    }
    const [text, fast] = seen as Array<[Record<string, unknown[]>, unknown]>;
    assert.equal(text![0].pub4any!.length, 600);
    assert.equal(text![0].pub4!.length, 40);
    assert.deepEqual(fast, text);
  });

  it('a failing netlink element batch is typed and atomic (a missing key on delete)', async () => {
    const nft = new LibnftablesTransport();
    const f = new NftablesFirewall(nft, silentLogger);
    try {
      await f.reload({ networks: [net1], ports: [{ ...web, hostPort: 8301 }] });
      const e = await nft.portElements('delete', [{ ...web, family: 4, hostIp: undefined, hostPort: 8301 }, { ...web, family: 4, hostIp: undefined, hostPort: 8399 }], 'unpublish 2 port(s)').catch((x) => x);
      assert.match(String(e?.message), /^unpublish 2 port\(s\) inet tsd pub4any: No such file or directory \(ENOENT\)/);
      assert.equal(e.code, 'NotFound');
      const t = await listTable();
      assert.equal(elems(t!, 'pub4any').length, 1, 'the existing key was not deleted: the batch is one transaction');
    } finally {
      await f.purge();
      f.close();
    }
  });

  it('a user rule the rebuild cannot re-add fails the reload by name and leaves the table as it was', async () => {
    await fw.reload({ networks: [net1], ports: [web] });
    await execa('nft', ['add', 'chain', 'inet', 'tsd', 'mine']);
    await execa('nft', ['add', 'rule', 'inet', 'tsd', 'user', 'jump', 'mine']);
    try {
      await assert.rejects(fw.reload({ networks: [net1], ports: [] }), /while keeping the rules of chain inet tsd user/);
      assert.deepEqual(await userRules(), ['jump mine'], 'the user rule was not dropped');
      const t = await listTable();
      assert.equal(elems(t!, 'pub4any').length, 1, 'the failed transaction changed nothing');
    } finally {
      await execa('nft', ['flush', 'chain', 'inet', 'tsd', 'user']);
      await execa('nft', ['delete', 'chain', 'inet', 'tsd', 'mine']);
    }
    await fw.reload({ networks: [net1], ports: [] });
  });

  it('works through a spawned nft as well', async () => {
    const viaExec = new NftablesFirewall(new ExecNftTransport(), silentLogger);
    await viaExec.reload({ networks: [net1], ports: [{ ...web, hostPort: 8181 }] });
    await viaExec.publishPorts([{ ...web, hostPort: 8182 }]);
    const t = await listTable();
    assert.ok(t);
    assert.equal(elems(t, 'pub4any').length, 2);
    await assert.rejects(viaExec.publishPorts([{ ...web, hostPort: 8182, containerPort: 1 }]), /already published/);
    // The rebuild through the binary keeps the user hook chain as well.
    await nftUser.add({ dst: '10.71.1.9', dport: 443, verdict: 'drop' });
    await viaExec.reload({ networks: [net1], ports: [{ ...web, hostPort: 8181 }] });
    assert.deepEqual(await userRules(), ['ip daddr 10.71.1.9 tcp dport 443 drop']);
    await viaExec.purge();
    assert.equal(await listTable(), undefined);
    viaExec.close();
  });
});
