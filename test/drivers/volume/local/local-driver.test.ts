// test/drivers/volume/local/local-driver.test.ts — tsd-local's bookkeeping with a MemoryStore and
// an in-memory mount table: create/remove, per-caller refcounts, CAS state, undo on a failed
// mount, reconcile after a restart. The real kernel is tested in integration/volume.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMemoryLogger, silentLogger } from '../../../../core/log.js';
import { MemoryStore } from '../../../../core/store/memory.js';
import { scopeStore } from '../../../../core/store/scoped.js';
import type { Store } from '../../../../core/store/store.js';
import { createLocalVolumeDriver, type LocalVolumeRecord } from '../../../../drivers/volume/local/local-driver.js';
import { createFakeMounts, type FakeMounts } from './fake-mounts.js';
import { BAD_NAMES, BAD_OPTION_CASES } from './bad-options.js';

const TMPFS = { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' };

describe('tsd-local driver (bookkeeping)', () => {
  let dataDir: string;
  let backing: MemoryStore;
  let store: Store;
  let fake: FakeMounts;
  const make = (opts: Parameters<typeof createLocalVolumeDriver>[1] = {}, log = silentLogger) =>
    createLocalVolumeDriver({ log, store, kernel: fake.kernel, dataDir, config: {} }, opts);

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdvol-unit-'));
    backing = new MemoryStore();
    store = scopeStore(backing, 'drivers/tsd-local');
    fake = createFakeMounts();
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const record = async (name: string) => (await store.get<LocalVolumeRecord>(`volumes/${name}`))?.value;

  it('creates a plain volume in Docker layout with labels and createdAt', async () => {
    const d = make();
    assert.equal(d.name, 'tsd-local');
    await d.create('web', {}, { team: 'a' });
    assert.ok(fs.statSync(path.join(dataDir, 'web', '_data')).isDirectory());
    const info = await d.get('web');
    assert.equal(info.mountpoint, path.join(fs.realpathSync(dataDir), 'web', '_data'));
    assert.deepEqual(info.labels, { team: 'a' });
    assert.ok(!Number.isNaN(Date.parse(info.createdAt!)));
    assert.deepEqual(info.status, { refCount: 0, mounted: false });
    assert.ok(await backing.get('drivers/tsd-local/volumes/web'), 'state is under the scoped key');
    assert.deepEqual(await d.capabilities(), { scope: 'local' });
    assert.deepEqual((await d.list()).map((v) => v.name), ['web']);
    assert.equal(await d.path('web'), info.mountpoint);
  });

  it('treats an identical create as a no-op and a different one as a Conflict', async () => {
    const d = make();
    await d.create('web', TMPFS, { a: 'b' });
    await d.create('web', { ...TMPFS }, { a: 'b' });
    await assert.rejects(d.create('web', { ...TMPFS, o: 'size=2m' }), (e: Error & { code?: string }) =>
      e.code === 'Conflict' && /volume web: already exists/.test(e.message));
  });

  for (const c of BAD_NAMES) {
    it(`rejects name ${JSON.stringify(c.name.slice(0, 12))} everywhere, leaving nothing`, async () => {
      const d = make();
      for (const op of [() => d.create(c.name, {}), () => d.mount(c.name, 'c1'), () => d.remove(c.name), () => d.get(c.name)]) {
        await assert.rejects(op(), c.names);
      }
      assert.deepEqual(fs.readdirSync(dataDir), []);
      assert.deepEqual(await backing.list(''), []);
    });
  }

  it('rejects every bad option leaving nothing in the store or on disk', async () => {
    const d = make();
    for (const c of BAD_OPTION_CASES) {
      await assert.rejects(d.create('vol1', c.options), c.names, JSON.stringify(c.options));
    }
    assert.deepEqual(fs.readdirSync(dataDir), []);
    assert.deepEqual(await backing.list(''), []);
    assert.deepEqual(fake.calls, []);
  });

  it('mounts on the first caller and unmounts after the last', async () => {
    const d = make();
    await d.create('cache', TMPFS);
    const p = await d.mount('cache', 'c1');
    assert.equal(p, await d.path('cache'));
    assert.deepEqual(fake.calls, [`mount tmpfs tmpfs ${p} size=1m`]);
    assert.equal(await d.mount('cache', 'c2'), p);
    assert.equal(await d.mount('cache', 'c1'), p, 'the same caller again holds no second reference');
    assert.equal(fake.calls.length, 1);
    assert.deepEqual((await record('cache'))!.callers, ['c1', 'c2']);
    assert.deepEqual((await d.get('cache')).status, { refCount: 2, mounted: true });

    await d.unmount('cache', 'c1');
    assert.equal(fake.table.length, 1, 'still mounted for c2');
    await d.unmount('cache', 'nobody');
    await d.unmount('cache', 'c1');
    assert.equal(fake.table.length, 1, 'unknown / repeated callers change nothing');
    await d.unmount('cache', 'c2');
    assert.equal(fake.table.length, 0);
    assert.deepEqual((await record('cache'))!.callers, []);
  });

  it('counts callers of a plain volume without mounting anything', async () => {
    const d = make();
    await d.create('plain', {});
    await d.mount('plain', 'a');
    await d.mount('plain', 'b');
    assert.deepEqual(fake.calls, []);
    assert.equal((await d.get('plain')).status!.refCount, 2);
  });

  it('leaves nothing when the mount fails', async () => {
    const d = make();
    await d.create('bad', TMPFS);
    const before = await store.get('volumes/bad');
    fake.failNextMount = 'ENODEV';
    await assert.rejects(d.mount('bad', 'c1'), /volume bad: mount tmpfs tmpfs \(o=size=1m\): mount tmpfs .*No such device/);
    assert.deepEqual(await store.get('volumes/bad'), before);
    assert.equal(fake.table.length, 0);
  });

  it('undoes the mount when the store write loses a race', async () => {
    const d = make();
    await d.create('race', TMPFS);
    // Another writer bumps the revision between our read and our write.
    const realPut = store.put.bind(store);
    let once = true;
    store.put = async (k, v, o) => {
      if (once && k === 'volumes/race') {
        once = false;
        const e = (await store.get<LocalVolumeRecord>(k))!;
        await realPut(k, e.value);
      }
      return realPut(k, v, o);
    };
    await assert.rejects(d.mount('race', 'c1'), (e: Error & { code?: string }) => e.code === 'Conflict');
    assert.equal(fake.table.length, 0, 'mount undone');
    assert.deepEqual(fake.calls.slice(-1), [`unmount ${await d.path('race')}`]);
  });

  it('refuses to remove a mounted volume unless forced', async () => {
    const d = make();
    await d.create('busy', TMPFS);
    await d.mount('busy', 'c1');
    await assert.rejects(d.remove('busy'), (e: Error & { code?: string }) =>
      e.code === 'Conflict' && /volume busy: in use by 1 caller\(s\) \(c1\); unmount first or remove with force/.test(e.message));
    assert.ok(fs.existsSync(path.join(dataDir, 'busy')));
    await d.remove('busy', { force: true });
    assert.equal(fake.table.length, 0);
    assert.equal(fs.existsSync(path.join(dataDir, 'busy')), false);
    assert.equal(await record('busy'), undefined);
    await assert.rejects(d.get('busy'), (e: Error & { code?: string }) => e.code === 'NotFound' && /volume busy: not found/.test(e.message));
  });

  it('serialises concurrent mounts of one volume (one kernel mount, every caller counted)', async () => {
    const d = make();
    await d.create('many', TMPFS);
    await Promise.all(Array.from({ length: 20 }, (_, i) => d.mount('many', `c${i}`)));
    assert.equal(fake.calls.length, 1);
    assert.equal((await record('many'))!.callers.length, 20);
    await Promise.all(Array.from({ length: 20 }, (_, i) => d.unmount('many', `c${i}`)));
    assert.equal(fake.table.length, 0);
  });

  it('reconciles after a restart: keeps, restores, drops, and removes strays', async () => {
    const d1 = make();
    for (const n of ['kept', 'gone', 'broken', 'idle']) await d1.create(n, TMPFS);
    for (const n of ['kept', 'gone', 'broken']) await d1.mount(n, 'c1');
    await d1.mount('kept', 'c2');
    const root = fs.realpathSync(dataDir);
    // Behind the driver's back: one mount vanishes, one volume's options become unmountable, one stray appears.
    fake.table = fake.table.filter((m) => !m.mountPoint.includes('/gone/'));
    fake.table = fake.table.filter((m) => !m.mountPoint.includes('/broken/'));
    const e = (await store.get<LocalVolumeRecord>('volumes/broken'))!;
    await store.put('volumes/broken', { ...e.value, options: { type: 'nosuchfs', device: 'x' } });
    fake.kernel.mounts.mountWithOptions('tmpfs', 'tmpfs', path.join(root, 'idle', '_data'));
    fake.kernel.mounts.mountWithOptions('tmpfs', 'tmpfs', path.join(root, 'junk'));

    const log = createMemoryLogger();
    const d2 = make({}, log);
    const report = await d2.reconcile();
    assert.deepEqual(report.kept, ['kept']);
    assert.deepEqual(report.restored, ['gone']);
    assert.deepEqual(report.dropped.map((x) => x.name), ['broken']);
    assert.match(report.dropped[0]!.reason, /unknown filesystem "nosuchfs"/);
    assert.deepEqual(report.strayUnmounted.sort(), [path.join(root, 'idle', '_data'), path.join(root, 'junk')]);
    assert.ok(log.lines.some((l) => l.msg === 'volume mount cannot be restored; dropping its callers' && l.volume === 'broken'));
    assert.deepEqual((await record('broken'))!.callers, []);
    assert.deepEqual((await record('kept'))!.callers, ['c1', 'c2'], 'refcounts survive');
    assert.deepEqual(fake.table.map((m) => m.mountPoint).sort(), [path.join(root, 'gone', '_data'), path.join(root, 'kept', '_data')]);
    // The refcount carried over: the last of the two callers unmounts.
    await d2.unmount('kept', 'c1');
    assert.ok(fake.table.some((m) => m.mountPoint.includes('/kept/')));
    await d2.unmount('kept', 'c2');
    assert.ok(!fake.table.some((m) => m.mountPoint.includes('/kept/')));
  });

  it('resolves addr= host names through the injected resolver', async () => {
    const d = make({ resolveHost: async (h) => (h === 'nas.test' ? '192.0.2.7' : Promise.reject(new Error('NXDOMAIN'))) });
    await d.create('share', { type: 'nfs', device: ':/export', o: 'addr=nas.test,vers=4' });
    await d.mount('share', 'c1');
    assert.deepEqual(fake.calls, [`mount nfs :/export ${await d.path('share')} addr=192.0.2.7,vers=4`]);
    await d.create('nowhere', { type: 'nfs', device: ':/export', o: 'addr=bad.test' });
    await assert.rejects(d.mount('nowhere', 'c1'), /option "o": cannot resolve address bad.test: NXDOMAIN/);
    await d.create('smb', { type: 'cifs', device: '//nas.test/share', o: 'username=u,password=secret' });
    await d.mount('smb', 'c1');
    assert.match(fake.calls.at(-1)!, /^mount cifs \/\/192\.0\.2\.7\/share /);
  });

  it('redacts passwords in mount errors', async () => {
    const d = make();
    await d.create('smb', { type: 'cifs', device: '//192.0.2.1/share', o: 'username=u,password=hunter2' });
    fake.failNextMount = 'EINVAL';
    await assert.rejects(d.mount('smb', 'c1'), (e: Error) => !e.message.includes('hunter2') && e.message.includes('password=********'));
  });
});
