// test/core/service/sandbox-sweep.test.ts — the background sweep of vanished sandboxes
// (peers.md #30, libnetwork#786): what it removes, what it leaves, its locks and its timer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startSandboxSweep } from '../../../core/service/sandbox-sweep.js';
import { createPidfdWatch, pidfdSupported } from '../../../core/kernel/pidfd.js';
import { fileNetns } from '../../fakes/drivers.js';
import { harness } from './harness.js';

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) if (await cond()) return;
  assert.fail(`condition not met within ${ms} ms`);
};

describe('sandbox sweep', () => {
  let h: ReturnType<typeof harness>;
  beforeEach(() => { h = harness(); });
  afterEach(() => h.cleanup());

  it('removes a sandbox whose netns vanished: endpoint, address, DNS record; live ones stay; logged', async () => {
    const net = await h.networks.create({ name: 'a' });
    const base = h.ipam.reserved();
    const gone = await h.sandboxes.create({ name: 'gone' });
    await h.sandboxes.create({ name: 'live' });
    const ep = await h.networks.connect({ network: 'a', sandbox: 'gone', aliases: ['db'] });
    await h.networks.connect({ network: 'a', sandbox: 'live' });
    assert.deepEqual(h.dns.lookup(net.record.id, 'db'), [ep.ipv4.split('/')[0]]);
    assert.deepEqual(await h.sandboxes.sweepVanished(), { removed: [], failed: [] }, 'nothing vanished yet');
    fs.rmSync(gone.netnsPath); // the pin removed by someone else
    assert.deepEqual(await h.sandboxes.sweepVanished(), { removed: ['gone'], failed: [] });
    assert.deepEqual((await h.sandboxes.list()).map((s) => s.Name), ['live']);
    assert.equal(h.net.endpoints.size, 1);
    assert.equal(h.ipam.reserved(), base + 1, 'the vanished endpoint gave its address back');
    assert.deepEqual(h.dns.lookup(net.record.id, 'db'), []);
    assert.equal((await h.records.networkEndpoints(net.record.id)).length, 1);
    const line = h.log.lines.find((l) => l.msg === 'sweep: sandbox vanished; removing it and its endpoints');
    assert.ok(line, 'the removal is logged');
    assert.equal(line.sandbox, 'gone');
    assert.match(String(line.reason), /is gone$/);
    assert.deepEqual((line.endpoints as Array<{ aliases: string[] }>)[0]!.aliases, ['db']);
    // The same static address can be taken again.
    await h.sandboxes.create({ name: 'again' });
    assert.equal((await h.networks.connect({ network: 'a', sandbox: 'again', ipv4: ep.ipv4.split('/')[0]! })).ipv4, ep.ipv4);
  });

  it('a PID-adopted sandbox goes when its process exits (tsd\'s pin alone does not keep it)', async () => {
    await h.networks.create({ name: 'a' });
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const sb = await h.sandboxes.create({ name: 'bypid', pid: sleeper.pid! });
      await h.networks.connect({ network: 'a', sandbox: 'bypid' });
      assert.deepEqual((await h.sandboxes.sweepVanished()).removed, []);
      const exited = new Promise((r) => sleeper.once('exit', r));
      sleeper.kill('SIGKILL');
      await exited;
      assert.ok(fs.existsSync(sb.netnsPath), 'the pin is still there');
      assert.match((await h.sandboxes.vanished(sb))!, new RegExp(`^process ${sleeper.pid} exited$`));
      assert.deepEqual(await h.sandboxes.sweepVanished(), { removed: ['bypid'], failed: [] });
      assert.equal(fs.existsSync(sb.netnsPath), false, 'the pin is removed');
      assert.equal(h.net.endpoints.size, 0);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('a path that now holds another namespace is a vanished sandbox', async () => {
    const p = path.join(h.root, 'foreign-ns');
    fs.writeFileSync(p, '');
    const sb = await h.sandboxes.create({ name: 'ext', netnsPath: p });
    assert.ok(sb.netnsId, 'the identity is recorded at create');
    fs.writeFileSync(p + '.new', '');
    fs.renameSync(p + '.new', p); // `ip netns del x; ip netns add x`: same path, another namespace
    assert.match((await h.sandboxes.vanished(sb))!, /now holds another namespace/);
    assert.deepEqual((await h.sandboxes.sweepVanished()).removed, ['ext']);
    assert.ok(fs.existsSync(p), 'an adopted path is not tsd\'s to remove');
  });

  it('one failing sandbox does not stop the others; it is retried next pass', async () => {
    const a = await h.sandboxes.create({ name: 'a' });
    const b = await h.sandboxes.create({ name: 'b' });
    const c = await h.sandboxes.create({ name: 'c' });
    for (const s of [a, b, c]) fs.rmSync(s.netnsPath);
    const identity = fileNetns.identity!;
    fileNetns.identity = async (p) => { if (p === b.netnsPath) throw new Error('stat: EIO (injected)'); return identity(p); };
    try {
      const r = await h.sandboxes.sweepVanished();
      assert.deepEqual({ removed: r.removed.sort(), failed: r.failed }, { removed: ['a', 'c'], failed: ['b'] });
      assert.ok(h.log.lines.some((l) => l.msg === 'sweep: vanished sandbox not removed; retried next pass' && l.sandbox === 'b'));
    } finally {
      fileNetns.identity = identity;
    }
    assert.deepEqual(await h.sandboxes.sweepVanished(), { removed: ['b'], failed: [] });
  });

  it('waits for a connect in flight on the sandbox and removes its endpoint too; later connects are refused', async () => {
    await h.networks.create({ name: 'a' });
    await h.networks.create({ name: 'b' });
    const base = h.ipam.reserved();
    const sb = await h.sandboxes.create({ name: 'box' });
    let release!: () => void;
    h.net.holdOn.set('join', new Promise<void>((r) => (release = r)));
    const connecting = h.networks.connect({ network: 'a', sandbox: 'box' });
    await until(() => h.net.calls.includes('join'));
    fs.rmSync(sb.netnsPath);
    const sweeping = h.sandboxes.sweepVanished();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await h.sandboxes.list()).length, 1, 'the sweep waits for the connect');
    h.net.holdOn.clear();
    // A connect queued behind the sweep's fence is refused.
    const late = h.networks.connect({ network: 'b', sandbox: 'box' });
    release();
    await connecting;
    assert.deepEqual(await sweeping, { removed: ['box'], failed: [] });
    await assert.rejects(late, /sandbox box is being removed|sandbox box not found/);
    assert.equal(h.net.endpoints.size, 0, 'the endpoint the connect made went with the sandbox');
    assert.equal(h.ipam.reserved(), base);
    assert.deepEqual(await h.sandboxes.list(), []);
  });

  it('a connect that waited for its network\'s lock while the sandbox was removed is refused, leaving nothing', async () => {
    await h.networks.create({ name: 'a' });
    const base = h.ipam.reserved();
    await h.sandboxes.create({ name: 'other' });
    await h.networks.connect({ network: 'a', sandbox: 'other' });
    const box = await h.sandboxes.create({ name: 'box' });
    let release!: () => void;
    h.net.holdOn.set('leave', new Promise<void>((r) => (release = r)));
    const disconnecting = h.networks.disconnect('a', 'other'); // holds network a's lock
    await until(() => h.net.calls.includes('leave'));
    const late = h.networks.connect({ network: 'a', sandbox: 'box' }); // queued behind it
    await new Promise((r) => setTimeout(r, 20));
    fs.rmSync(box.netnsPath);
    assert.deepEqual(await h.sandboxes.sweepVanished(), { removed: ['box'], failed: [] });
    h.net.holdOn.clear();
    release();
    await disconnecting;
    await assert.rejects(late, /sandbox .* not found/);
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), base, 'no address leaked');
    assert.deepEqual(await h.records.allEndpoints(), []);
  });

  it('a sandbox rm racing the sweep: removed once, no error from the sweep', async () => {
    await h.networks.create({ name: 'a' });
    const sb = await h.sandboxes.create({ name: 'box' });
    await h.networks.connect({ network: 'a', sandbox: 'box' });
    fs.rmSync(sb.netnsPath);
    const [rm, sw] = await Promise.allSettled([h.sandboxes.remove('box'), h.sandboxes.sweepVanished()]);
    assert.equal(sw.status, 'fulfilled');
    assert.deepEqual(sw.value.failed, []);
    // Whichever came second: rm says NotFound/Conflict, or the sweep found nothing.
    if (rm.status === 'rejected') assert.match(String(rm.reason), /not found|removal already in progress/);
    assert.deepEqual(await h.sandboxes.list(), []);
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.log.lines.filter((l) => l.msg === 'sandbox removed').length, 1);
  });

  it('the timer: passes every interval, one at a time; stop() disarms it and waits for the pass', async () => {
    const sb = await h.sandboxes.create({ name: 'box' });
    const sweep = startSandboxSweep({ sandboxes: h.sandboxes, intervalMs: 20, log: h.log });
    try {
      fs.rmSync(sb.netnsPath);
      await until(async () => (await h.sandboxes.list()).length === 0, 3000);
      const sb2 = await h.sandboxes.create({ name: 'box2' });
      await sweep.stop();
      fs.rmSync(sb2.netnsPath);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual((await h.sandboxes.list()).map((s) => s.Name), ['box2'], 'no pass after stop()');
      assert.deepEqual(await sweep.runNow(), { removed: [], failed: [] });
    } finally {
      await sweep.stop();
    }
  });

  it('the timer never keeps the process alive (unref); interval 0 arms none', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const long = startSandboxSweep({ sandboxes: h.sandboxes, intervalMs: 60_000, log: h.log });
    const off = startSandboxSweep({ sandboxes: h.sandboxes, intervalMs: 0, log: h.log });
    assert.equal(timers(), before);
    await long.stop();
    await off.stop();
    assert.ok(!h.log.lines.some((l) => l.msg === 'sweep: vanished sandboxes are checked periodically' && l.intervalMs === 0));
  });

  describe('exit watch (pidfd)', () => {
    let w: ReturnType<typeof harness>;
    beforeEach(function () {
      if (!pidfdSupported()) this.skip();
      w = harness({ exitWatch: createPidfdWatch() });
    });
    afterEach(async () => {
      await w?.sandboxes.stopExitWatch();
      w?.cleanup();
    });

    it('a PID-adopted sandbox goes at its process exit, with no sweep pass: endpoint, address, pin', async () => {
      await w.networks.create({ name: 'a' });
      const base = w.ipam.reserved();
      const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
      const other = spawn('sleep', ['60'], { stdio: 'ignore' });
      try {
        const sb = await w.sandboxes.create({ name: 'bypid', pid: sleeper.pid! });
        await w.sandboxes.create({ name: 'alive', pid: other.pid! });
        await w.networks.connect({ network: 'a', sandbox: 'bypid' });
        sleeper.kill('SIGKILL');
        // No sweep runs in this harness: only the watch can remove it.
        await until(async () => (await w.sandboxes.list()).length === 1, 3000);
        assert.deepEqual((await w.sandboxes.list()).map((s) => s.Name), ['alive']);
        assert.equal(fs.existsSync(sb.netnsPath), false, 'the pin is removed');
        assert.equal(w.net.endpoints.size, 0);
        assert.equal(w.ipam.reserved(), base, 'the address is back');
        assert.ok(w.log.lines.find((l) => l.msg === 'sandbox process exited; removing it and its endpoints' && l.sandbox === 'bypid'));
      } finally {
        sleeper.kill('SIGKILL');
        other.kill('SIGKILL');
      }
    });

    it('restored at start for existing sandboxes; cancelled by sandbox rm; none after stopExitWatch', async () => {
      const procs = [0, 1, 2].map(() => spawn('sleep', ['60'], { stdio: 'ignore' }));
      const names = async (s: typeof w.sandboxes) => (await s.list()).map((x) => x.Name);
      try {
        for (const [i, p] of procs.entries()) await w.sandboxes.create({ name: `s${i}`, pid: p.pid! });
        await w.sandboxes.stopExitWatch(); // the daemon stops: its watches end with it
        procs[0]!.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(await names(w.sandboxes), ['s0', 's1', 's2'], 'no removal once stopped');
        const d2 = w.restart({ exitWatch: createPidfdWatch() });
        try {
          await d2.reconcile(); // s0 vanished: removed; s1 and s2 watched again
          assert.deepEqual(await names(d2.sandboxes), ['s1', 's2']);
          assert.equal(w.log.lines.find((l) => l.msg === 'reconciled')?.processesWatched, 2);
          await d2.sandboxes.remove('s1'); // cancels its watch
          procs[1]!.kill('SIGKILL');
          procs[2]!.kill('SIGKILL');
          await until(async () => (await names(d2.sandboxes)).length === 0, 3000);
          await new Promise((r) => setTimeout(r, 200));
          assert.equal(w.log.lines.filter((l) => l.msg === 'sandbox process exited; removing it and its endpoints').length, 1, 's2 only');
          assert.ok(!w.log.lines.some((l) => l.level === 'error'), 'no error logged');
        } finally {
          await d2.sandboxes.stopExitWatch();
        }
      } finally {
        for (const p of procs) p.kill('SIGKILL');
      }
    });
  });
});
