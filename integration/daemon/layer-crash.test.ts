// integration/daemon/layer-crash.test.ts — peers.md #36 (podman#14003, #8148), end to end: a real
// tsd child on overlay2 streams a tar of a few thousand files (tens of MB) into a new layer
// through its API — alternately a base layer and a child of one — while other workers mount and
// unmount a layer and import + rm small layers, and is killed with SIGKILL at a random instant,
// ROUNDS times (every third restart is itself killed, aimed at its reconcile). After every
// restart, checked from outside tsd: every layer record has complete files (its diff/ holds as
// many entries as the source tree, no diff-apply/ anywhere), the driver's layer dirs and l/ links
// == the records (no orphan of a killed import), overlay mounts (findmnt) == the records that
// count a mount, no intent left in the store, `tsctl layer check` finds nothing. At the end the
// same tar imports again to the same diff ID and exports the same file list. A second case breaks
// the tree by hand and checks what `tsctl layer check [--repair]` reports, fixes and leaves alone.
// A third kills tsd while a dockerd-style GraphDriver.ApplyDiff streams over the plugin socket: the
// next start removes the diff-apply/ leftover but keeps the layer, which has no tsd record.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { LmdbStore } from '../../core/store/lmdb.js';
import { call, killDuringStart, mountsUnder, must, tsdChild, type TsdChild } from './tsd-child.js';

const ROUNDS = Number(process.env.LAYER_CRASH_ROUNDS ?? 12);
const FILES = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ApiLayer { Id: string; Parent: string; DiffId: string; Mounts: number }

/** POST a tar file to /layers/import as a stream; rejects when tsd dies midway. */
function importFile(sock: string, file: string, parent = ''): Promise<ApiLayer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method: 'POST', path: `/layers/import${parent ? `?parent=${parent}` : ''}`, headers: { 'content-type': 'application/x-tar' } }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (c: string) => (b += c)).on('error', reject).on('end', () => {
        if (res.statusCode === 201) resolve(JSON.parse(b) as ApiLayer);
        else reject(new Error(`import: ${res.statusCode} ${b}`));
      });
    });
    req.on('error', reject);
    const src = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    src.on('error', reject);
    src.pipe(req);
  });
}

/** Entries (files, dirs, links) below `dir`, recursively. */
function countEntries(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    n++;
    if (e.isDirectory()) n += countEntries(path.join(dir, e.name));
  }
  return n;
}

describe('kill -9 during layer import / mount / rm: no record without complete files, nothing left behind (peers.md #36)', function () {
  this.timeout(900_000);
  let t: TsdChild;
  let bigTar = '';
  let bigDiffId = '';
  let srcEntries = 0;
  let smallTar = '';
  let smallDiffId = '';
  let base = '';
  let mounted = '';
  const driverDir = () => path.join(t.dataRoot, 'drivers', 'tsd-overlay2');

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    t = tsdChild('tsdit-lcrash-', ['--firewall-backend', 'none', '--no-dns']);
    // The source tree: FILES files in 30 dirs, 1 KB to 14 KB of random bytes each (~22 MB), a
    // symlink and a hard link per dir.
    const src = path.join(t.dir, 'src');
    for (let d = 0; d < 30; d++) {
      const dir = path.join(src, `d${d}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let f = 0; f < FILES / 30; f++) fs.writeFileSync(path.join(dir, `f${f}`), crypto.randomBytes(1024 + ((d * 131 + f * 977) % 14_000)));
      fs.symlinkSync('f0', path.join(dir, 'link'));
      fs.linkSync(path.join(dir, 'f1'), path.join(dir, 'hard'));
    }
    srcEntries = countEntries(src);
    bigTar = path.join(t.dir, 'big.tar');
    assert.equal(spawnSync('tar', ['-C', src, '-cf', bigTar, '.']).status, 0);
    bigDiffId = 'sha256:' + crypto.createHash('sha256').update(fs.readFileSync(bigTar)).digest('hex');
    const small = path.join(t.dir, 'small');
    fs.mkdirSync(path.join(small, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(small, 'etc/hostname'), 'tsdtest-lcrash\n');
    smallTar = path.join(t.dir, 'small.tar');
    assert.equal(spawnSync('tar', ['-C', small, '-cf', smallTar, '.']).status, 0);
    smallDiffId = 'sha256:' + crypto.createHash('sha256').update(fs.readFileSync(smallTar)).digest('hex');
    await t.start();
    base = (await importFile(t.sock, smallTar)).Id;
    mounted = (await importFile(t.sock, smallTar, base)).Id;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`--- tsd log (tail) ---\n${t.log().slice(-6000)}`);
  });

  after(async () => {
    if (t) await t.destroy();
  });

  /** Independent of tsd: its records (API, LMDB) against the files, the l/ links and mountinfo. */
  async function checkConsistent(label: string): Promise<number> {
    const layers = await must<ApiLayer[]>(t.sock, 'GET', '/layers');
    const ids = layers.map((l) => l.Id).sort();
    const dirs = fs.readdirSync(driverDir()).filter((e) => e !== 'l').sort();
    assert.deepEqual(dirs, ids, `${label}: layer dirs == records (no orphan of a killed import, no record without a dir)`);
    const links = fs.readdirSync(path.join(driverDir(), 'l')).map((l) => fs.readlinkSync(path.join(driverDir(), 'l', l)).split('/')[1]!).sort();
    assert.deepEqual(links, ids, `${label}: l/ links == records`);
    for (const l of layers) {
      const d = path.join(driverDir(), l.Id);
      assert.equal(fs.existsSync(path.join(d, 'diff-apply')), false, `${label}: ${l.Id} has a diff-apply/ left`);
      const want = l.DiffId === bigDiffId ? srcEntries : l.DiffId === smallDiffId ? 2 : -1;
      assert.equal(countEntries(path.join(d, 'diff')), want, `${label}: layer ${l.Id} (${l.DiffId}) has complete files`);
    }
    // Overlay mounts == the records that count one (base layers are never kernel-mounted).
    const fm = spawnSync('findmnt', ['-J', '-t', 'overlay', '-o', 'TARGET'], { encoding: 'utf8' });
    const merged = (fm.stdout ? (JSON.parse(fm.stdout) as { filesystems: Array<{ target: string }> }).filesystems.map((f) => f.target) : [])
      .filter((m) => m.startsWith(t.dir + '/')).sort();
    const want = layers.filter((l) => l.Parent && l.Mounts > 0).map((l) => path.join(driverDir(), l.Id, 'merged')).sort();
    assert.deepEqual(merged, want, `${label}: overlay mounts (findmnt) == records counting a mount`);
    assert.deepEqual(mountsUnder(t.dir).filter((m) => !merged.includes(m)), [], `${label}: no other mount (mountinfo)`);
    const store = LmdbStore.open(path.join(t.dataRoot, 'store'));
    try {
      assert.deepEqual((await store.list('tsd/intents/')).map((e) => e.key), [], `${label}: intents left`);
    } finally {
      await store.close();
    }
    const chk = t.tsctl('layer', 'check');
    assert.equal(chk.code, 0, `${label}: tsctl layer check: ${chk.out}${chk.err}`);
    assert.match(chk.out, /layer\(s\) checked: no problems\n$/);
    return layers.length;
  }

  function workload(stop: { now: boolean }, round: number): Promise<unknown> {
    const ignore = (p: Promise<unknown>) => p.catch(() => undefined);
    const importer = async () => {
      // One big import per round (the kill lands in it or after it), then keep the layer count bounded.
      const r = await importFile(t.sock, bigTar, round % 2 ? base : '').catch(() => undefined);
      if (r) await ignore(call(t.sock, 'DELETE', `/layers/${r.Id}`));
    };
    const mounter = async () => {
      while (!stop.now) {
        await ignore(call(t.sock, 'POST', `/layers/${mounted}/mount`));
        await ignore(call(t.sock, 'POST', `/layers/${mounted}/unmount`));
      }
    };
    const remover = async () => {
      while (!stop.now) {
        const r = await importFile(t.sock, smallTar).catch(() => undefined);
        if (r) await ignore(call(t.sock, 'DELETE', `/layers/${r.Id}`));
      }
    };
    return Promise.all([importer(), mounter(), remover()]);
  }

  it(`nothing half-made survives ${ROUNDS} SIGKILLs; the same tar imports again to the same diff ID`, async () => {
    assert.equal(await checkConsistent('start'), 2);
    // How long one big import takes here, to aim the kills inside it.
    const t0 = Date.now();
    const warm = await importFile(t.sock, bigTar);
    const importMs = Date.now() - t0;
    assert.equal(warm.DiffId, bigDiffId);
    await must(t.sock, 'DELETE', `/layers/${warm.Id}`);

    const report: string[] = [];
    const startKills: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const stop = { now: false };
      const work = workload(stop, round);
      const ms = Math.floor(Math.random() * importMs * 1.1);
      await sleep(ms);
      await t.stop('SIGKILL');
      stop.now = true;
      await work;
      if (round % 3 === 2) {
        startKills.push(await killDuringStart(t, 3000, 200));
      }
      await t.start();
      const n = await checkConsistent(`round ${round} (killed after ${ms} ms of ${importMs})`);
      const rec = t.log().split('\n').filter((l) => l.includes('"msg":"reconciled"')).at(-1) ?? '';
      report.push(`${ms}ms:${n}L/${/"intentsRecovered":(\d+)/.exec(rec)?.[1] ?? '?'}i/${/"layersRepaired":(\d+)/.exec(rec)?.[1] ?? '?'}r`);
    }
    console.log(`      import takes ${importMs} ms; rounds (kill instant: layers after restart / intents recovered / leftovers repaired): ${report.join(' ')}`);
    console.log(`      starts killed (before / inside / after their reconcile): ${startKills.join(' ')}`);
    const recovered = report.reduce((a, r) => a + Number(/\/(\d+)i/.exec(r)?.[1] ?? 0), 0);
    assert.ok(recovered > 0, 'at least one kill landed inside an import or rm (else the test proved nothing)');

    // The same tar imports again to the same diff ID, and exports the same file list.
    const again = await importFile(t.sock, bigTar);
    assert.equal(again.DiffId, bigDiffId);
    const out = path.join(t.dir, 'again.tar');
    const e = t.tsctl('layer', 'export', again.Id, '-o', out);
    assert.equal(e.code, 0, e.err);
    const list = (f: string) => spawnSync('tar', ['-tf', f], { encoding: 'utf8' }).stdout.split('\n').filter((x) => x && x !== './').map((x) => x.replace(/^\.\//, '').replace(/\/$/, '')).sort();
    assert.deepEqual(list(out), list(bigTar));
    await checkConsistent('final');
  });

  it('tsctl layer check [--repair]: finds broken records, apply leftovers, lost mounts; repairs what is safe; never touches a layer it has no record of', async () => {
    const imp = async (parent = '') => (await importFile(t.sock, smallTar, parent)).Id;
    const dd = driverDir();
    // A record whose diff/ is gone; a chain whose base dir is gone entirely.
    const x = await imp();
    fs.rmSync(path.join(dd, x, 'diff'), { recursive: true });
    const p = await imp();
    const c = await imp(p);
    fs.rmSync(path.join(dd, p), { recursive: true });
    // A layer tsd has no record of (dockerd's) with an apply's leftover.
    fs.mkdirSync(path.join(dd, 'dockerlayer1', 'diff'), { recursive: true });
    fs.writeFileSync(path.join(dd, 'dockerlayer1', 'diff', 'keep'), 'dockerd owns this\n');
    fs.mkdirSync(path.join(dd, 'dockerlayer1', 'diff-apply', 'half'), { recursive: true });
    // A mount the record counts but the kernel lost (unmounted behind tsd's back; findmnt agrees).
    const mnt = t.tsctl('layer', 'mount', mounted).out.trim();
    assert.equal(spawnSync('umount', [mnt]).status, 0);
    assert.notEqual(spawnSync('findmnt', [mnt]).status, 0);
    // A record whose parent record is gone (deleted in the store itself), files intact.
    const q = await imp();
    const qc = await imp(q);
    const store = LmdbStore.open(path.join(t.dataRoot, 'store'));
    try { await store.delete(`tsd/layers/${q}`); } finally { await store.close(); }

    const found = t.tsctl('layer', 'check', '--format', 'json');
    assert.equal(found.code, 1, found.err);
    const r = JSON.parse(found.out) as { Remaining: number; Problems: Array<{ Kind: string; Layer: string; Action: string; Status: string }> };
    const got = r.Problems.map((x2) => `${x2.Kind} ${x2.Layer} ${x2.Action} ${x2.Status}`).sort();
    assert.deepEqual(got, [
      `files-incomplete ${c} remove-layer open`, `files-incomplete ${x} remove-layer open`, `files-missing ${p} remove-layer open`,
      `interrupted-apply dockerlayer1 remove-leftover open`, `mount-count ${mounted} reset-mount-count open`,
      `parent-missing ${qc} none open`,
    ].sort());
    assert.equal(r.Remaining, 6);
    const text = t.tsctl('layer', 'check');
    assert.equal(text.code, 1);
    assert.match(text.out, new RegExp(`^${x.slice(0, 12)}  files-incomplete: the driver layer lacks diff/, l/[A-Z2-7]{26}\n    --repair would: remove-layer$`, 'm'));
    assert.match(text.out, /6 problem\(s\), 0 repaired, 6 remaining\n$/);

    const fixed = t.tsctl('layer', 'check', '--repair');
    assert.equal(fixed.code, 1, 'the parent-missing record stays: exit 1');
    assert.match(fixed.out, new RegExp(`^${qc.slice(0, 12)}  parent-missing: its parent layer ${q} has no record\n    not repaired: kept: its files are complete and usable`, 'm'));
    assert.match(fixed.out, /6 problem\(s\), 5 repaired, 1 remaining\n$/);
    const ids = (await must<ApiLayer[]>(t.sock, 'GET', '/layers')).map((l) => l.Id);
    for (const gone of [x, p, c]) {
      assert.ok(!ids.includes(gone), `${gone} record removed`);
      assert.equal(fs.existsSync(path.join(dd, gone)), false, `${gone} files removed`);
    }
    assert.ok(ids.includes(qc));
    assert.equal((await must<ApiLayer>(t.sock, 'GET', `/layers/${mounted}`)).Mounts, 0);
    assert.equal(fs.readFileSync(path.join(dd, 'dockerlayer1', 'diff', 'keep'), 'utf8'), 'dockerd owns this\n', 'a layer with no record keeps its files');
    assert.equal(fs.existsSync(path.join(dd, 'dockerlayer1', 'diff-apply')), false, 'its leftover is gone');
    assert.ok(fs.existsSync(path.join(dd, q, 'diff')), 'the parent with no record keeps its files');

    // Bad input names the parameter.
    const bad = await call(t.sock, 'POST', '/layers/check?repair=maybe');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /query repair: must be 1, 0, true or false/);
    const unknown = await call(t.sock, 'POST', '/layers/check?fix=1');
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /query fix: unknown parameter/);

    // Once the user removed what only they can decide on, check is clean again.
    assert.equal(t.tsctl('layer', 'rm', qc).code, 0);
    fs.rmSync(path.join(dd, 'dockerlayer1'), { recursive: true });
    const link = fs.readFileSync(path.join(dd, q, 'link'), 'utf8').trim();
    fs.rmSync(path.join(dd, 'l', link));
    fs.rmSync(path.join(dd, q), { recursive: true });
    const clean = t.tsctl('layer', 'check');
    assert.equal(clean.code, 0, clean.out);
    await checkConsistent('after repair');
  });
});

describe('kill -9 during a dockerd-style ApplyDiff over the plugin socket: the leftover goes, the layer (no tsd record) stays', function () {
  this.timeout(300_000);
  let t: TsdChild;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    t = tsdChild('tsdit-lcrashp-', ['--firewall-backend', 'none', '--no-dns'], { servePlugins: true });
    await t.start();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`--- tsd log (tail) ---\n${t.log().slice(-6000)}`);
  });

  after(async () => {
    if (t) await t.destroy();
  });

  /** One plugin call on tsd-overlay2's socket (JSON, or a raw body stream for ApplyDiff). */
  function plugin(method: string, body: unknown, query = '', raw?: fs.ReadStream): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: path.join(t.dir, 'plugins', 'tsd-overlay2.sock'), method: 'POST', path: `/${method}${query}` }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (c: string) => (b += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: b })).on('error', reject);
      });
      req.on('error', reject);
      if (raw) raw.pipe(req);
      else req.end(JSON.stringify(body));
    });
  }

  it('a layer dockerd was filling when tsd died keeps its (empty) diff/, loses diff-apply/; another dockerd layer is untouched', async () => {
    const src = path.join(t.dir, 'src');
    for (let d = 0; d < 20; d++) {
      fs.mkdirSync(path.join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(src, `d${d}`, `f${f}`), crypto.randomBytes(8192));
    }
    const tar = path.join(t.dir, 'big.tar');
    assert.equal(spawnSync('tar', ['-C', src, '-cf', tar, '.']).status, 0);
    const dd = path.join(t.dataRoot, 'drivers', 'tsd-overlay2');
    const ok = (r: { status: number; body: string }) => assert.ok(r.status === 200 && !/"Err":"[^"]/.test(r.body), r.body);
    ok(await plugin('GraphDriver.Init', { Home: path.join(t.dir, 'dockerd-home'), Opts: [], UIDMaps: [], GIDMaps: [] }));
    ok(await plugin('GraphDriver.Create', { ID: 'dockerdone', Parent: '' }));
    ok(await plugin('GraphDriver.ApplyDiff', {}, '?id=dockerdone&parent=', fs.createReadStream(tar)));
    const full = countEntries(path.join(dd, 'dockerdone', 'diff'));
    ok(await plugin('GraphDriver.Create', { ID: 'dockerhalf', Parent: '' }));
    const applying = plugin('GraphDriver.ApplyDiff', {}, '?id=dockerhalf&parent=', fs.createReadStream(tar)).catch(() => undefined);
    // Kill once the unpack has started (diff-apply/ holds something).
    const staging = path.join(dd, 'dockerhalf', 'diff-apply');
    for (let i = 0; i < 2000 && !(fs.existsSync(staging) && fs.readdirSync(staging).length > 0); i++) await sleep(2);
    assert.ok(fs.existsSync(staging), 'the apply was caught under way');
    await t.stop('SIGKILL');
    await applying;
    assert.ok(fs.existsSync(staging), 'killed with diff-apply/ left');

    await t.start();
    assert.match(t.log(), /"msg":"layer repaired".*"kind":"interrupted-apply".*"layer":"dockerhalf"/);
    assert.equal(fs.existsSync(staging), false, 'the leftover is gone');
    assert.deepEqual(fs.readdirSync(path.join(dd, 'dockerhalf', 'diff')), [], 'the layer is as before the apply: empty');
    assert.equal(countEntries(path.join(dd, 'dockerdone', 'diff')), full, 'the complete dockerd layer is untouched');
    const chk = t.tsctl('layer', 'check');
    assert.equal(chk.code, 0, chk.out + chk.err);
    // dockerd retries the pull: the same layer id applies again.
    ok(await plugin('GraphDriver.ApplyDiff', {}, '?id=dockerhalf&parent=', fs.createReadStream(tar)));
    assert.equal(countEntries(path.join(dd, 'dockerhalf', 'diff')), full);
    ok(await plugin('GraphDriver.Remove', { ID: 'dockerhalf' }));
    ok(await plugin('GraphDriver.Remove', { ID: 'dockerdone' }));
  });
});
