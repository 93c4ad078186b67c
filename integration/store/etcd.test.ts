// integration/store/etcd.test.ts — the shared Store suite against a real etcd (Debian's
// etcd-server) started on loopback with its own data dir and random ports, killed by PID after.
// Plus what only a shared store shows: two clients see each other's writes, CAS and watch events.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openStore } from '../../core/store/open.js';
import type { Store, StoreWatchEvent } from '../../core/store/store.js';
import { scopeStore } from '../../core/store/scoped.js';
import { createDefaultIpamDriver } from '../../drivers/ipam/default/index.js';
import { storeSuite } from '../../test/core/store/store-suite.js';
import { freePort, startEtcd, type EtcdServer } from './etcd-server.js';

describe('etcd store (real etcd on loopback)', function () {
  this.timeout(60_000);
  let etcd: EtcdServer | undefined;
  let endpoint = '';
  const open = (prefix: string) => openStore({ kind: 'etcd', endpoints: [endpoint], prefix, dialTimeoutMs: 3000 });

  before(async () => {
    etcd = await startEtcd();
    endpoint = etcd.endpoint;
  });

  after(async () => {
    await etcd?.stop();
  });

  let current = '';
  storeSuite('etcd', {
    fresh: async () => open((current = `/tsdtest-${randomBytes(6).toString('hex')}/`)),
    reopen: async () => open(current),
  });

  it('two clients share one key space: revisions, CAS and watch across clients', async () => {
    const prefix = `/tsdtest-${randomBytes(6).toString('hex')}/`;
    const a = await open(prefix);
    const b = await open(prefix);
    try {
      const seen: StoreWatchEvent[] = [];
      const stop = b.watch('n/', (ev) => seen.push(ev));
      const r1 = await a.put('n/1', { from: 'a' });
      assert.deepEqual(await b.get('n/1'), { key: 'n/1', value: { from: 'a' }, revision: r1 });
      await assert.rejects(b.put('n/1', 'stale', { ifRevision: r1 - 1 }), (e: unknown) => (e as { code?: string }).code === 'Conflict');
      const r2 = await b.put('n/1', { from: 'b' }, { ifRevision: r1 });
      assert.equal((await a.get('n/1'))?.revision, r2);
      const deadline = Date.now() + 5000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen.map((e) => [e.key, e.revision]), [['n/1', r1], ['n/1', r2]]);
      stop();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keys live under the prefix only: another prefix sees nothing', async () => {
    const a = await open(`/tsdtest-${randomBytes(6).toString('hex')}/`);
    const b = await open(`/tsdtest-${randomBytes(6).toString('hex')}/`);
    await a.put('x', 1);
    assert.equal(await b.get('x'), undefined);
    assert.deepEqual(await b.list(''), []);
    await a.close();
    await b.close();
  });

  it('two IPAM instances on two etcd clients never hand out the same address (200 concurrent)', async () => {
    const prefix = `/tsdtest-${randomBytes(6).toString('hex')}/`;
    const stores: Store[] = [await open(prefix), await open(prefix)];
    try {
      const [d1, d2] = stores.map((s) => createDefaultIpamDriver({ store: scopeStore(s, 'drivers/tsd-ipam'), config: {} }));
      const p = await d1!.requestPool({ addressSpace: 'LocalDefault', pool: '10.70.0.0/24', subPool: '', options: {}, v6: false });
      const got = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? d2! : d1!).requestAddress({ poolId: p.poolId, address: '', options: {} })));
      assert.equal(new Set(got.map((g) => g.address)).size, 200);
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it('an unreachable etcd is a clear Unavailable error, not a hang', async () => {
    const port = await freePort();
    const t = Date.now();
    await assert.rejects(
      openStore({ kind: 'etcd', endpoints: [`http://127.0.0.1:${port}`], prefix: '/x/', dialTimeoutMs: 1000 }),
      (e: unknown) => (e as { code?: string }).code === 'Unavailable' && /store etcd connect \(http:\/\/127\.0\.0\.1:\d+\)/.test((e as Error).message),
    );
    assert.ok(Date.now() - t < 15_000);
  });
});
