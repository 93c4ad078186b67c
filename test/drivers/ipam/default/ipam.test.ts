// test/drivers/ipam/default/ipam.test.ts — the default IPAM driver on the memory and embedded
// stores: default pools, custom subnets and overlap, ip-range, gateway, aux/static addresses,
// IPv6, exhaustion, next-fit reuse order, validation errors, 500 concurrent requests from two
// instances, and O(1) store cost per request.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE, type IpamDriver } from '../../../../core/driver/ipam-driver.js';
import { MemoryStore } from '../../../../core/store/memory.js';
import { openStore } from '../../../../core/store/open.js';
import { scopeStore } from '../../../../core/store/scoped.js';
import type { Store } from '../../../../core/store/store.js';
import { DEFAULT_IPAM_ALIASES, DEFAULT_IPAM_NAME, createDefaultIpamDriver, type DefaultIpamOptions } from '../../../../drivers/ipam/default/index.js';

const GW = { [REQUEST_ADDRESS_TYPE]: GATEWAY_ADDRESS_TYPE };
const ipam = (store: Store, opts?: DefaultIpamOptions) => createDefaultIpamDriver({ store: scopeStore(store, 'drivers/tsd-ipam'), config: {} }, opts);
const pool = (d: IpamDriver, p: string, sub = '', v6 = false) => d.requestPool({ addressSpace: 'LocalDefault', pool: p, subPool: sub, options: {}, v6 });
const addr = async (d: IpamDriver, poolId: string, address = '', options: Record<string, string> = {}) => (await d.requestAddress({ poolId, address, options })).address;
const code = (c: string, re: RegExp) => (e: unknown) => (e as { code?: string }).code === c && re.test((e as Error).message);

/** Counts store calls, to show the cost of one request does not grow with the allocations. */
function countingStore(inner: Store): Store & { calls: number } {
  const s = {
    calls: 0,
    kind: inner.kind,
    get: (k: string) => { s.calls++; return inner.get(k); },
    list: (p: string) => { s.calls++; return inner.list(p); },
    put: (k: string, v: unknown, o?: { ifRevision?: number }) => { s.calls++; return inner.put(k, v, o); },
    delete: (k: string, o?: { ifRevision?: number }) => { s.calls++; return inner.delete(k, o); },
    commit: (c: Parameters<Store['commit']>[0], o: Parameters<Store['commit']>[1]) => { s.calls++; return inner.commit(c, o); },
    watch: inner.watch.bind(inner),
    close: () => inner.close(),
  };
  return s as Store & { calls: number };
}

function ipamSuite(label: string, newStore: () => Promise<Store>) {
  describe(`default IPAM on the ${label} store`, function () {
    this.timeout(60_000);
    let store: Store;
    let d: IpamDriver;
    beforeEach(async () => {
      store = await newStore();
      d = ipam(store);
    });
    afterEach(async () => store.close());

    it('is named tsd-ipam (alias default) and reports Docker\'s address spaces', async () => {
      assert.equal(d.name, DEFAULT_IPAM_NAME);
      assert.deepEqual(DEFAULT_IPAM_ALIASES, ['default']);
      assert.deepEqual(await d.getDefaultAddressSpaces(), { local: 'LocalDefault', global: 'GlobalDefault' });
      assert.deepEqual(await d.getCapabilities(), { requiresMacAddress: false, requiresRequestReplay: false });
    });

    it('hands out Docker\'s default pools in order: 172.17–172.31/16, then 192.168.0.0/16 in /20s; first-fit after release', async () => {
      const got: string[] = [];
      for (let i = 0; i < 17; i++) got.push((await pool(d, '')).pool);
      assert.deepEqual(got.slice(0, 15), Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`));
      assert.deepEqual(got.slice(15), ['192.168.0.0/20', '192.168.16.0/20']);
      await d.releasePool('LocalDefault/172.18.0.0/16');
      assert.equal((await pool(d, '')).pool, '172.18.0.0/16');
      const g = await d.requestPool({ addressSpace: 'GlobalDefault', pool: '', subPool: '', options: {}, v6: false });
      assert.deepEqual([g.poolId, g.pool], ['GlobalDefault/10.0.0.0/24', '10.0.0.0/24']);
    });

    it('skips defaults that overlap a custom pool; default pools are configurable', async () => {
      await pool(d, '172.16.0.0/12');
      assert.equal((await pool(d, '')).pool, '192.168.0.0/20');
      const d2 = ipam(await newStore(), { defaultPools: [{ base: '10.99.0.0/16', size: 24 }] });
      assert.equal((await pool(d2, '')).pool, '10.99.0.0/24');
      assert.equal((await pool(d2, '')).pool, '10.99.1.0/24');
      assert.throws(() => ipam(store, { defaultPools: [{ base: '10.0.0.0/16', size: 8 }] }), code('InvalidArgument', /defaultPools\[0\]\.size: 8 must be between 16 and 32/));
      assert.throws(() => ipam(store, { defaultPools: [{ base: 'fd00::/48', size: 64 }] }), code('InvalidArgument', /defaultPools\[0\]\.base: fd00::\/48 is IPv6, expected IPv4/));
      assert.throws(() => createDefaultIpamDriver({ store, config: { defaultPool: [] } }), code('InvalidArgument', /ipam config/));
    });

    it('custom subnets: masked, refcounted when identical, Conflict naming both on overlap', async () => {
      const a = await pool(d, '10.10.3.4/16');
      assert.deepEqual(a, { poolId: 'LocalDefault/10.10.0.0/16', pool: '10.10.0.0/16', data: {} });
      await assert.rejects(pool(d, '10.10.5.0/24'), code('Conflict', /pool 10\.10\.5\.0\/24: overlaps with pool 10\.10\.0\.0\/16/));
      await assert.rejects(pool(d, '10.0.0.0/8'), code('Conflict', /10\.0\.0\.0\/8.*10\.10\.0\.0\/16/));
      assert.equal((await pool(d, '10.10.0.0/16')).poolId, a.poolId);
      await d.releasePool(a.poolId);
      await assert.rejects(pool(d, '10.10.5.0/24'), code('Conflict', /overlaps/), 'still held by the second reference');
      await d.releasePool(a.poolId);
      assert.equal((await pool(d, '10.10.5.0/24')).pool, '10.10.5.0/24');
      await assert.rejects(d.releasePool(a.poolId), code('NotFound', /pool LocalDefault\/10\.10\.0\.0\/16: not found/));
    });

    it('gateway: first usable address unless given; a given one must be in the subnet', async () => {
      const p = await pool(d, '10.30.0.0/16');
      assert.equal(await addr(d, p.poolId, '', GW), '10.30.0.1/16');
      assert.equal(await addr(d, p.poolId), '10.30.0.2/16');
      const q = await pool(d, '10.31.0.0/16');
      assert.equal(await addr(d, q.poolId, '10.31.200.254', GW), '10.31.200.254/16');
      await assert.rejects(addr(d, q.poolId, '10.32.0.1', GW), code('InvalidArgument', /^gateway: 10\.32\.0\.1 is outside subnet 10\.31\.0\.0\/16$/));
      await assert.rejects(addr(d, q.poolId, '10.31.200.254', GW), code('Conflict', /gateway: 10\.31\.200\.254 is already allocated/));
      assert.equal(await addr(d, q.poolId), '10.31.0.1/16', 'dynamic addresses start at the first free one');
    });

    it('ip-range: dynamic addresses come from the range, static/aux anywhere in the subnet; exhaustion is a clear error', async () => {
      const p = await pool(d, '10.20.0.0/16', '10.20.5.0/30');
      assert.equal(p.poolId, 'LocalDefault/10.20.0.0/16/10.20.5.0/30');
      assert.equal(await addr(d, p.poolId, '', GW), '10.20.0.1/16');
      assert.equal(await addr(d, p.poolId, '10.20.9.9'), '10.20.9.9/16', 'aux/static address outside the range');
      const dyn = [];
      for (let i = 0; i < 4; i++) dyn.push(await addr(d, p.poolId));
      assert.deepEqual(dyn, ['10.20.5.0/16', '10.20.5.1/16', '10.20.5.2/16', '10.20.5.3/16']);
      await assert.rejects(addr(d, p.poolId), code('Unavailable', /pool LocalDefault\/10\.20\.0\.0\/16\/10\.20\.5\.0\/30: no available addresses in ip-range 10\.20\.5\.0\/30/));
      await d.releaseAddress(p.poolId, '10.20.5.2');
      assert.equal(await addr(d, p.poolId), '10.20.5.2/16');
    });

    it('static addresses: conflict is a clear error; network and broadcast refused; dynamic ones skip reserved', async () => {
      const p = await pool(d, '192.0.2.0/29');
      assert.equal(await addr(d, p.poolId, '192.0.2.1'), '192.0.2.1/29');
      await assert.rejects(addr(d, p.poolId, '192.0.2.1'), code('Conflict', /^address: 192\.0\.2\.1 is already allocated in pool LocalDefault\/192\.0\.2\.0\/29$/));
      await assert.rejects(addr(d, p.poolId, '192.0.2.0'), code('InvalidArgument', /address: 192\.0\.2\.0 is the network address/));
      await assert.rejects(addr(d, p.poolId, '192.0.2.7'), code('InvalidArgument', /address: 192\.0\.2\.7 is the broadcast address/));
      await assert.rejects(addr(d, p.poolId, '2001:db8::1'), code('InvalidArgument', /address: 2001:db8::1 is IPv6 but pool .* is IPv4/));
      await assert.rejects(addr(d, p.poolId, '192.0.2.300'), code('InvalidArgument', /address: "192\.0\.2\.300" is not a valid IP address/));
      assert.equal(await addr(d, p.poolId), '192.0.2.2/29');
    });

    it('exhaustion, then next-fit reuse order: a released address comes back only after the cursor wraps', async () => {
      const p = await pool(d, '198.51.100.0/29'); // .1–.6 usable
      const first = [];
      for (let i = 0; i < 3; i++) first.push(await addr(d, p.poolId));
      assert.deepEqual(first, ['198.51.100.1/29', '198.51.100.2/29', '198.51.100.3/29']);
      await d.releaseAddress(p.poolId, '198.51.100.2');
      await d.releaseAddress(p.poolId, '198.51.100.2'); // idempotent
      assert.equal(await addr(d, p.poolId), '198.51.100.4/29', 'not the just-released .2');
      assert.equal(await addr(d, p.poolId), '198.51.100.5/29');
      assert.equal(await addr(d, p.poolId), '198.51.100.6/29');
      assert.equal(await addr(d, p.poolId), '198.51.100.2/29', 'after wrapping');
      await assert.rejects(addr(d, p.poolId), code('Unavailable', /no available addresses in subnet 198\.51\.100\.0\/29/));
    });

    it('validation errors name the field', async () => {
      await assert.rejects(pool(d, '10.0.0.0/33'), code('InvalidArgument', /^pool: "10\.0\.0\.0\/33" is not a valid CIDR$/));
      await assert.rejects(pool(d, '10.0.0.0'), code('InvalidArgument', /^pool: "10\.0\.0\.0" is not a valid CIDR$/));
      await assert.rejects(pool(d, 'banana/8'), code('InvalidArgument', /^pool: /));
      await assert.rejects(pool(d, '10.0.0.0/16', '10.1.0.0/24'), code('InvalidArgument', /^subPool: 10\.1\.0\.0\/24 is outside pool 10\.0\.0\.0\/16$/));
      await assert.rejects(pool(d, '10.0.0.0/16', 'fd00::/64'), code('InvalidArgument', /^subPool: fd00::\/64 is IPv6 but pool 10\.0\.0\.0\/16 is IPv4$/));
      await assert.rejects(pool(d, '10.0.0.0/16', '10.0.0.0/x'), code('InvalidArgument', /^subPool: .* is not a valid CIDR$/));
      await assert.rejects(pool(d, '', '10.0.0.0/24'), code('InvalidArgument', /^subPool: 10\.0\.0\.0\/24 given without pool/));
      await assert.rejects(pool(d, '10.0.0.0/16', '', true), code('InvalidArgument', /^pool: 10\.0\.0\.0\/16 is IPv4 but an IPv6 pool/));
      await assert.rejects(d.requestPool({ addressSpace: 'Nope', pool: '', subPool: '', options: {}, v6: false }), code('InvalidArgument', /^addressSpace: unknown/));
      await assert.rejects(addr(d, 'LocalDefault/10.77.0.0/16'), code('NotFound', /pool LocalDefault\/10\.77\.0\.0\/16: not found/));
      await assert.rejects(addr(d, 'garbage'), code('NotFound', /pool "garbage": not found/));
      const p = await pool(d, '10.0.0.0/16');
      await assert.rejects(d.releaseAddress(p.poolId, ''), code('InvalidArgument', /^address: must not be empty$/));
      await assert.rejects(d.releaseAddress(p.poolId, '10.1.0.1'), code('InvalidArgument', /^address: 10\.1\.0\.1 is outside subnet/));
    });

    it('IPv6: default ULA /64s taken with a cursor (no reuse right after release), custom v6 subnets and ranges', async () => {
      const a = await pool(d, '', '', true);
      const b = await pool(d, '', '', true);
      assert.deepEqual([a.pool, b.pool], ['fd74:7364:6400::/64', 'fd74:7364:6400:1::/64']);
      await d.releasePool(a.poolId);
      assert.equal((await pool(d, '', '', true)).pool, 'fd74:7364:6400:2::/64');
      assert.equal(await addr(d, b.poolId, '', GW), 'fd74:7364:6400:1::1/64');
      assert.equal(await addr(d, b.poolId), 'fd74:7364:6400:1::2/64');
      const c = await pool(d, '2001:db8:0:0:0:0:0:0/64', '2001:db8::ffff:0/112', true);
      assert.equal(c.poolId, 'LocalDefault/2001:db8::/64/2001:db8::ffff:0/112');
      assert.equal(await addr(d, c.poolId), '2001:db8::ffff:0/64');
      assert.equal(await addr(d, c.poolId, '2001:db8::abcd:1'), '2001:db8::abcd:1/64');
      assert.equal(await addr(d, c.poolId, '2001:db8::ffff:ffff'), '2001:db8::ffff:ffff/64', 'no broadcast in IPv6');
      await assert.rejects(addr(d, c.poolId, '2001:db9::1'), code('InvalidArgument', /address: 2001:db9::1 is outside subnet 2001:db8::\/64/));
      await assert.rejects(pool(d, '2001:db8::/48'), code('Conflict', /overlaps with pool 2001:db8::\/64/));
      await d.releaseAddress(c.poolId, '2001:db8::abcd:1');
      assert.equal(await addr(d, c.poolId, '2001:db8::abcd:1'), '2001:db8::abcd:1/64');
    });

    it('500 concurrent RequestAddress calls from two IPAM instances on one store never share an address', async () => {
      const other = ipam(store);
      const p = await pool(d, '10.40.0.0/22');
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) => addr(i % 2 ? other : d, p.poolId)));
      assert.equal(new Set(results).size, 500, 'all distinct');
      for (const r of results) assert.match(r, /^10\.40\.[0-3]\.\d+\/22$/);
      // A third instance (fresh cache) sees all 500 as taken.
      const third = ipam(store);
      for (const r of results.slice(0, 20)) await assert.rejects(addr(third, p.poolId, r.split('/')[0]!), code('Conflict', /already allocated/));
      const more = await Promise.all(Array.from({ length: 20 }, () => addr(third, p.poolId)));
      for (const m of more) assert.ok(!results.includes(m), `${m} handed out twice`);
      // An address released through one instance can be taken statically through another whose
      // cache still has it as allocated.
      await other.releaseAddress(p.poolId, results[0]!.split('/')[0]!);
      assert.equal(await addr(d, p.poolId, results[0]!.split('/')[0]!), results[0]);
      // Concurrent default pool requests from both instances get distinct subnets.
      const pools = await Promise.all(Array.from({ length: 10 }, (_, i) => pool(i % 2 ? other : d, '')));
      assert.equal(new Set(pools.map((x) => x.pool)).size, 10);
    });
  });
}

describe('default IPAM', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsd-ipam-test-'));
  let n = 0;
  after(() => rmSync(root, { recursive: true, force: true }));

  ipamSuite('memory', async () => new MemoryStore());
  ipamSuite('embedded', async () => openStore({ kind: 'embedded', path: join(root, `db${n++}`) }));

  it('keeps pools and allocations across a restart on the embedded store', async () => {
    const path = join(root, 'restart');
    let store = await openStore({ kind: 'embedded', path });
    let d = ipam(store);
    const p = await pool(d, '10.50.0.0/24');
    const taken = [await addr(d, p.poolId, '', GW), await addr(d, p.poolId), await addr(d, p.poolId)];
    await store.close();
    store = await openStore({ kind: 'embedded', path });
    d = ipam(store);
    await assert.rejects(pool(d, '10.50.0.128/25'), code('Conflict', /overlaps/));
    assert.deepEqual(taken, ['10.50.0.1/24', '10.50.0.2/24', '10.50.0.3/24']);
    assert.equal(await addr(d, p.poolId), '10.50.0.4/24', 'cursor persisted');
    await assert.rejects(addr(d, p.poolId, '10.50.0.2'), code('Conflict', /already allocated/));
    await store.close();
  });

  it('costs O(1) store calls per request: the 1000th request costs what the 10th did', async () => {
    // Counted, not timed (a timed unit test fails on a loaded machine; bench/ measures time).
    const store = countingStore(new MemoryStore());
    const d = ipam(store);
    const p = await pool(d, '10.60.0.0/16');
    const calls: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const before = store.calls;
      await addr(d, p.poolId);
      calls.push(store.calls - before);
    }
    assert.ok(calls.slice(1).every((c) => c <= 2), `store calls per request: max ${Math.max(...calls.slice(1))}`);
    assert.equal(calls[999], calls[9]);
  });
});
