// test/core/store/store-suite.ts — the one behavioural suite every Store implementation must pass
// (memory and embedded as unit tests, etcd as an integration test against a real etcd).

import assert from 'node:assert/strict';
import { ConflictError } from '../../../core/errors.js';
import { scopeStore } from '../../../core/store/scoped.js';
import type { Store, StoreWatchEvent } from '../../../core/store/store.js';

export interface StoreFactory {
  /** A new, empty store (its own directory / key prefix). */
  fresh(): Promise<Store>;
  /**
   * Open the store last returned by fresh() again after it was closed. Only for stores that
   * persist; the persistence tests are skipped without it.
   */
  reopen?(): Promise<Store>;
}

/** Poll until `cond` holds (watch delivery may be asynchronous, e.g. etcd). */
async function eventually(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const isConflict = (e: unknown) => e instanceof ConflictError && e.code === 'Conflict';

export function storeSuite(label: string, factory: StoreFactory): void {
  describe(`Store contract: ${label}`, function () {
    let store: Store;
    beforeEach(async () => {
      store = await factory.fresh();
    });
    afterEach(async () => {
      await store.close();
    });

    it('get of a missing key is undefined; put then get returns the value and its revision', async () => {
      assert.equal(await store.get('a/missing'), undefined);
      const rev = await store.put('a/1', { x: 1, s: 'é', list: [1, 2, { n: null }] });
      assert.ok(Number.isInteger(rev) && rev > 0);
      assert.deepEqual(await store.get('a/1'), { key: 'a/1', value: { x: 1, s: 'é', list: [1, 2, { n: null }] }, revision: rev });
    });

    it('revisions are store-wide and strictly increasing; a key keeps the revision of its last write', async () => {
      const r1 = await store.put('k/1', 1);
      const r2 = await store.put('k/2', 2);
      const r3 = await store.put('k/1', 3);
      assert.ok(r1 < r2 && r2 < r3, `${r1} < ${r2} < ${r3}`);
      assert.equal((await store.get('k/1'))?.revision, r3);
      assert.equal((await store.get('k/2'))?.revision, r2);
      await store.delete('k/2');
      const r4 = await store.put('k/3', 4);
      assert.ok(r4 > r3 + 1, 'a delete advances the store revision too');
    });

    it('values come back as copies (no shared mutable objects)', async () => {
      const v = { list: [1] };
      await store.put('c/1', v);
      v.list.push(2);
      const got = await store.get<{ list: number[] }>('c/1');
      assert.deepEqual(got?.value, { list: [1] });
      got!.value.list.push(3);
      assert.deepEqual((await store.get('c/1'))?.value, { list: [1] });
    });

    it('list returns exactly the keys under the prefix, ordered by key', async () => {
      await store.put('net/b', 2);
      await store.put('net/a', 1);
      await store.put('net/c/x', 3);
      await store.put('ne', 0);
      await store.put('neu/a', 9);
      await store.put('other', 4);
      const l = await store.list<number>('net/');
      assert.deepEqual(l.map((e) => [e.key, e.value]), [['net/a', 1], ['net/b', 2], ['net/c/x', 3]]);
      assert.deepEqual(await store.list('nothing/'), []);
      for (const e of l) assert.equal(e.revision, (await store.get(e.key))?.revision);
    });

    it('put with ifRevision is a compare-and-swap (0 = must not exist)', async () => {
      const r1 = await store.put('cas/1', 'a', { ifRevision: 0 });
      await assert.rejects(store.put('cas/1', 'b', { ifRevision: 0 }), isConflict);
      await assert.rejects(store.put('cas/1', 'b', { ifRevision: r1 + 1000 }), isConflict);
      const r2 = await store.put('cas/1', 'b', { ifRevision: r1 });
      await assert.rejects(store.put('cas/1', 'c', { ifRevision: r1 }), (e: unknown) => isConflict(e) && /cas\/1/.test((e as Error).message));
      assert.deepEqual(await store.get('cas/1'), { key: 'cas/1', value: 'b', revision: r2 });
    });

    it('delete returns whether the key existed and honours ifRevision', async () => {
      assert.equal(await store.delete('d/none'), false);
      const r = await store.put('d/1', 1);
      await assert.rejects(store.delete('d/1', { ifRevision: r + 5 }), isConflict);
      assert.ok(await store.get('d/1'));
      assert.equal(await store.delete('d/1', { ifRevision: r }), true);
      assert.equal(await store.get('d/1'), undefined);
      assert.equal(await store.delete('d/1'), false);
    });

    it('commit applies every op atomically under one new revision', async () => {
      const base = await store.put('t/old', 'x');
      const rev = await store.commit(
        [{ key: 't/old', revision: base }, { key: 't/new', revision: 0 }],
        [{ op: 'put', key: 't/new', value: 1 }, { op: 'put', key: 't/other', value: 2 }, { op: 'delete', key: 't/old' }],
      );
      assert.ok(rev > base);
      assert.equal((await store.get('t/new'))?.revision, rev);
      assert.equal((await store.get('t/other'))?.revision, rev);
      assert.equal(await store.get('t/old'), undefined);
    });

    it('a failed compare applies nothing', async () => {
      const r = await store.put('f/a', 'a');
      await store.put('f/b', 'b');
      await assert.rejects(
        store.commit(
          [{ key: 'f/a', revision: r }, { key: 'f/b', revision: 0 }],
          [{ op: 'put', key: 'f/a', value: 'changed' }, { op: 'put', key: 'f/c', value: 'new' }, { op: 'delete', key: 'f/b' }],
        ),
        isConflict,
      );
      assert.equal((await store.get('f/a'))?.value, 'a');
      assert.equal((await store.get('f/b'))?.value, 'b');
      assert.equal(await store.get('f/c'), undefined);
    });

    it('concurrent read-modify-write with CAS loses no increment', async () => {
      await store.put('ctr', 0);
      const workers = 20;
      const perWorker = 5;
      let conflicts = 0;
      const incr = async () => {
        for (;;) {
          const cur = await store.get<number>('ctr');
          try {
            await store.put('ctr', cur!.value + 1, { ifRevision: cur!.revision });
            return;
          } catch (e) {
            if (!isConflict(e)) throw e;
            conflicts++;
          }
        }
      };
      await Promise.all(Array.from({ length: workers }, async () => { for (let i = 0; i < perWorker; i++) await incr(); }));
      assert.equal((await store.get('ctr'))?.value, workers * perWorker);
      assert.ok(conflicts > 0, 'the test must actually race');
    });

    it('two commits racing to create the same key: exactly one wins', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.commit([{ key: 'race/x', revision: 0 }], [{ op: 'put', key: 'race/x', value: i }])),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(isConflict(r.reason), String(r.reason));
    });

    it('watch reports later puts and deletes under the prefix, in order, until unsubscribed', async () => {
      const seen: StoreWatchEvent[] = [];
      const stop = store.watch('w/', (ev) => seen.push(ev));
      const r1 = await store.put('w/a', { n: 1 });
      await store.put('x/ignored', 1);
      const r2 = await store.commit([], [{ op: 'put', key: 'w/b', value: 2 }, { op: 'delete', key: 'w/a' }]);
      await eventually(() => seen.length >= 3, '3 watch events');
      assert.deepEqual(seen.slice(0, 3).map((e) => [e.type, e.key, e.value, e.revision]), [
        ['put', 'w/a', { n: 1 }, r1],
        ['put', 'w/b', 2, r2],
        ['delete', 'w/a', undefined, r2],
      ]);
      stop();
      await store.put('w/c', 3);
      const after = await store.put('w/d', 4);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(seen.length, 3, `no events after unsubscribe (store at ${after})`);
    });

    it('a scoped view sees and watches only its own key space', async () => {
      const a = scopeStore(store, 'drivers/a');
      const b = scopeStore(store, 'drivers/b/');
      const seen: string[] = [];
      const stop = a.watch('', (ev) => seen.push(ev.key));
      await a.put('pool/1', 'A');
      await b.put('pool/1', 'B');
      assert.deepEqual((await a.list('')).map((e) => [e.key, e.value]), [['pool/1', 'A']]);
      assert.equal((await b.get('pool/1'))?.value, 'B');
      const r = (await a.get('pool/1'))!.revision;
      await a.commit([{ key: 'pool/1', revision: r }], [{ op: 'put', key: 'pool/2', value: 'A2' }]);
      assert.equal((await store.get('drivers/a/pool/2'))?.value, 'A2');
      await eventually(() => seen.length >= 2, 'scoped watch events');
      assert.deepEqual(seen, ['pool/1', 'pool/2']);
      stop();
    });

    if (factory.reopen) {
      const reopen = factory.reopen.bind(factory);
      it('keeps every value, key revision and the store revision across close and reopen', async () => {
        await store.put('p/1', { v: 1 });
        const last = await store.commit([], [{ op: 'put', key: 'p/2', value: [2] }, { op: 'put', key: 'p/3', value: 'three' }]);
        await store.delete('p/3');
        const before = await store.list('p/');
        await store.close();
        store = await reopen();
        assert.deepEqual(await store.list('p/'), before);
        assert.equal((await store.get('p/2'))?.revision, last);
        const next = await store.put('p/4', 4);
        assert.ok(next > last + 1, `revision continues after reopen (${next} > ${last + 1})`);
      });
    }
  });
}
