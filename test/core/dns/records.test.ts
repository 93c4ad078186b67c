// test/core/dns/records.test.ts — name tables: scoping per network, aliases, short ids, PTR,
// NODATA vs unknown, round robin, O(1) updates, validation naming the field.
import assert from 'node:assert/strict';
import { DnsRecords, wireKey, ptrKeyOf, nameOfKey, TYPE_A, TYPE_AAAA, TYPE_PTR } from '../../../core/dns/records.js';
import { InvalidArgumentError, NotFoundError } from '../../../core/errors.js';

const ip4 = (b: Buffer) => [...b].join('.');

function setup(): DnsRecords {
  const r = new DnsRecords();
  r.addNetwork('n1');
  r.addNetwork('n2', { internal: true });
  r.addEndpoint({ networkId: 'n1', sandboxId: 's1', name: 'web', aliases: ['www', 'api.v1'], shortId: 'abcdef012345', ipv4: '10.0.0.2', ipv6: 'fd00::2' });
  r.addEndpoint({ networkId: 'n1', sandboxId: 's2', name: 'db', ipv4: '10.0.0.3' });
  r.addEndpoint({ networkId: 'n2', sandboxId: 's2', name: 'db', ipv4: '10.1.0.3' });
  r.addEndpoint({ networkId: 'n2', sandboxId: 's3', name: 'secret', ipv4: '10.1.0.4' });
  return r;
}

describe('dns records', () => {
  it('wire keys are lower-cased wire names; PTR keys reverse the address', () => {
    assert.equal(wireKey('Web.Example.'), '\x03web\x07example\x00');
    assert.equal(nameOfKey(wireKey('a.b')), 'a.b.');
    assert.equal(nameOfKey(ptrKeyOf('10.0.0.2')), '2.0.0.10.in-addr.arpa.');
    assert.equal(nameOfKey(ptrKeyOf('fd00::2')), '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.');
  });

  it('answers name, alias (with dots), short id; case-insensitive', () => {
    const r = setup();
    for (const n of ['web', 'WWW', 'api.v1', 'abcdef012345']) {
      const a = r.lookup('s2', wireKey(n), TYPE_A);
      assert.equal(a.kind, 'records', n);
      assert.deepEqual(a.kind === 'records' && a.rdata.map(ip4), ['10.0.0.2']);
    }
    const v6 = r.lookup('s2', wireKey('web'), TYPE_AAAA);
    assert.ok(v6.kind === 'records' && v6.rdata[0]!.length === 16);
  });

  it('NODATA for a known name without that type; unknown otherwise', () => {
    const r = setup();
    assert.equal(r.lookup('s1', wireKey('db'), TYPE_AAAA).kind, 'nodata');
    assert.equal(r.lookup('s1', wireKey('db'), 16 /* TXT */).kind, 'nodata');
    assert.equal(r.lookup('s1', wireKey('nothere'), TYPE_A).kind, 'unknown');
  });

  it('a sandbox sees only the networks it is attached to', () => {
    const r = setup();
    assert.equal(r.lookup('s1', wireKey('secret'), TYPE_A).kind, 'unknown'); // s1 is not on n2
    const both = r.lookup('s2', wireKey('db'), TYPE_A);
    assert.deepEqual(both.kind === 'records' && both.rdata.map(ip4).sort(), ['10.0.0.3', '10.1.0.3']);
    const only = r.lookup('s3', wireKey('db'), TYPE_A);
    assert.deepEqual(only.kind === 'records' && only.rdata.map(ip4), ['10.1.0.3']);
    assert.equal(r.lookup('nobody', wireKey('db'), TYPE_A).kind, 'unknown');
  });

  it('an alias shared by several sandboxes returns all addresses, shuffled per answer', () => {
    const r = new DnsRecords();
    r.addNetwork('n');
    for (let i = 0; i < 6; i++) r.addEndpoint({ networkId: 'n', sandboxId: `s${i}`, name: `c${i}`, aliases: ['svc'], ipv4: `10.0.0.${i + 10}` });
    const firsts = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const a = r.lookup('s0', wireKey('svc'), TYPE_A);
      assert.ok(a.kind === 'records');
      assert.equal(a.rdata.length, 6);
      firsts.add(ip4(a.rdata[0]!));
    }
    assert.ok(firsts.size >= 3, `first address varied over ${firsts.size} values only`);
  });

  it('PTR answers the sandbox name, only within the sandbox networks', () => {
    const r = setup();
    const p = r.lookup('s2', ptrKeyOf('10.0.0.2'), TYPE_PTR);
    assert.ok(p.kind === 'records');
    assert.equal(p.rdata[0]!.toString('latin1'), '\x03web\x00');
    assert.equal(r.lookup('s1', ptrKeyOf('10.1.0.4'), TYPE_PTR).kind, 'unknown');
    assert.equal(r.lookup('s2', ptrKeyOf('fd00::2'), TYPE_PTR).kind, 'records');
  });

  it('removal is immediate and idempotent; re-adding replaces', () => {
    const r = setup();
    r.removeEndpoint('n1', 's1');
    r.removeEndpoint('n1', 's1');
    assert.equal(r.lookup('s2', wireKey('web'), TYPE_A).kind, 'unknown');
    assert.equal(r.lookup('s2', ptrKeyOf('10.0.0.2'), TYPE_PTR).kind, 'unknown');
    r.addEndpoint({ networkId: 'n1', sandboxId: 's2', name: 'db', ipv4: '10.0.0.9' });
    const a = r.lookup('s1x', wireKey('db'), TYPE_A);
    assert.equal(a.kind, 'unknown');
    const b = r.lookup('s2', wireKey('db'), TYPE_A);
    assert.deepEqual(b.kind === 'records' && b.rdata.map(ip4).sort(), ['10.0.0.9', '10.1.0.3']);
    r.removeNetwork('n2');
    r.removeNetwork('n2');
    assert.equal(r.lookup('s3', wireKey('secret'), TYPE_A).kind, 'unknown');
    assert.equal(r.knows('s3'), false);
  });

  it('forwarding: internal-only sandboxes never forward; sandbox > network > host lists', () => {
    const r = setup();
    assert.equal(r.upstreamsFor('s3'), undefined); // only on internal n2
    assert.deepEqual(r.upstreamsFor('s2'), []); // n1 is external: host's list
    r.addNetwork('n1', { upstreams: ['192.0.2.53'] });
    assert.deepEqual(r.upstreamsFor('s2'), ['192.0.2.53']);
    r.setSandboxUpstreams('s2', ['198.51.100.1:5353']);
    assert.deepEqual(r.upstreamsFor('s2'), ['198.51.100.1:5353']);
    assert.equal(r.upstreamsFor('nobody'), undefined);
  });

  it('bad input names the field and changes nothing', () => {
    const r = setup();
    const before = r.stats();
    assert.throws(() => r.addEndpoint({ networkId: 'n1', sandboxId: 's9', name: 'bad_name!', ipv4: '10.0.0.9' }), (e: unknown) => e instanceof InvalidArgumentError && /^name: /.test(e.message));
    assert.throws(() => r.addEndpoint({ networkId: 'n1', sandboxId: 's9', name: 'ok', aliases: ['x', '-y'] }), /aliases\[1\]: "-y"/);
    assert.throws(() => r.addEndpoint({ networkId: 'n1', sandboxId: 's9', name: 'ok', ipv4: '10.0.0.300' }), /ipv4: "10.0.0.300" is not an IPv4 address/);
    assert.throws(() => r.addEndpoint({ networkId: 'n1', sandboxId: 's9', name: 'ok', shortId: 'XYZ' }), /shortId: /);
    assert.throws(() => r.addEndpoint({ networkId: 'zz', sandboxId: 's9', name: 'ok' }), NotFoundError);
    assert.throws(() => r.addNetwork('n3', { upstreams: ['not-an-ip'] }), /upstreams\[0\]: "not-an-ip" is not an IP address/);
    assert.deepEqual(r.stats(), before);
  });

  it('10,000 endpoints: add, look up and remove stay O(1) per operation', () => {
    const r = new DnsRecords();
    r.addNetwork('big');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10_000; i++) r.addEndpoint({ networkId: 'big', sandboxId: `s${i}`, name: `c${i}`, ipv4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
    const addMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const k = wireKey('c9999');
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) r.lookup('s1', k, TYPE_A);
    const lookupUs = Number(process.hrtime.bigint() - t1) / 1e3 / 100_000;
    for (let i = 0; i < 10_000; i++) r.removeEndpoint('big', `s${i}`);
    assert.deepEqual(r.stats(), { networks: 1, sandboxes: 0, names: 0 });
    assert.ok(addMs < 2000, `10k adds took ${addMs} ms`);
    assert.ok(lookupUs < 20, `lookup took ${lookupUs} µs`);
  });
  it('replicas: snapshot() + every watch() change rebuild the same tables (the UDP worker)', () => {
    const r = setup();
    r.setSandboxUpstreams('s1', ['198.51.100.9']);
    r.setSandboxUpstreams('later', ['198.51.100.8']); // before it joins a network
    const replica = new DnsRecords();
    for (const c of r.snapshot()) replica.apply(c);
    const seen: string[] = [];
    const unwatch = r.watch((c) => { seen.push(c.op); replica.apply(structuredClone(c)); });
    r.addEndpoint({ networkId: 'n1', sandboxId: 'later', name: 'late', aliases: ['www'], ipv4: '10.0.0.9' });
    r.addNetwork('n3', { upstreams: ['192.0.2.53'] });
    r.addEndpoint({ networkId: 'n3', sandboxId: 's3', name: 'secret', ipv6: 'fd03::4' });
    r.removeEndpoint('n1', 's2');
    r.removeSandbox('s1');
    r.removeNetwork('n2');
    assert.throws(() => r.addEndpoint({ networkId: 'n2', sandboxId: 'x', name: 'x', ipv4: '10.9.9.9' }), NotFoundError);
    r.addEndpoint({ networkId: 'n1', sandboxId: 'later', name: 'late', aliases: ['other'], ipv4: '10.0.0.11' }); // re-add replaces
    unwatch();
    r.addEndpoint({ networkId: 'n1', sandboxId: 'after', name: 'after', ipv4: '10.0.0.10' }); // not replicated
    assert.ok(seen.includes('removeNetwork') && seen.includes('removeSandbox'));
    const names = ['web', 'www', 'other', 'api.v1', 'db', 'secret', 'late', 'x', 'after', 'abcdef012345'];
    for (const sb of ['s1', 's2', 's3', 'later', 'x', 'after']) {
      for (const n of names) {
        for (const t of [TYPE_A, TYPE_AAAA]) {
          const a = r.lookup(sb, wireKey(n), t);
          const b = replica.lookup(sb, wireKey(n), t);
          const flat = (x: typeof a) => (x.kind === 'records' ? x.rdata.map(ip4).sort() : x.kind);
          if (!(sb === 'after' || n === 'after')) assert.deepEqual(flat(b), flat(a), `${sb} ${n} ${t}`);
        }
      }
      assert.deepEqual(replica.upstreamsFor(sb), sb === 'after' ? undefined : r.upstreamsFor(sb), sb);
    }
    assert.equal(replica.lookup('after', wireKey('after'), TYPE_A).kind, 'unknown');
  });
});
