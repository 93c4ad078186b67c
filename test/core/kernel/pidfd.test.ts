// test/core/kernel/pidfd.test.ts — PidfdWatch on the real kernel (pidfds of the test's own
// children need no privilege): an exit is reported once and promptly, a cancelled watch never
// fires, a process already gone is reported, and any number of watches share one thread that
// close() ends.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPidfdWatch, pidfdOpen, pidfdSupported, type PidfdWatch } from '../../../core/kernel/pidfd.js';

const threads = () => fs.readdirSync('/proc/self/task').length;
const sleeper = (): ChildProcess => spawn('sleep', ['60'], { stdio: 'ignore' });
const kill = async (p: ChildProcess) => {
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
};

describe('pidfd watch', function () {
  this.timeout(20_000);
  let w: PidfdWatch;
  const procs: ChildProcess[] = [];
  beforeEach(function () {
    if (!pidfdSupported()) this.skip();
    w = createPidfdWatch();
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) p.kill('SIGKILL');
    await w?.close();
  });

  it('reports an exit once, within a few ms; a cancelled watch never fires', async () => {
    const a = sleeper();
    const b = sleeper();
    procs.push(a, b);
    const fired: string[] = [];
    let t1 = 0;
    const got = new Promise<void>((r) => w.watch(a.pid!, () => { t1 = Date.now(); fired.push('a'); r(); }));
    const cancel = w.watch(b.pid!, () => fired.push('b'));
    assert.equal(w.size, 2);
    cancel();
    cancel();
    assert.equal(w.size, 1);
    const t0 = Date.now();
    await kill(a);
    await kill(b);
    await got;
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(fired, ['a']);
    assert.ok(t1 - t0 < 2000, `reported ${t1 - t0} ms after the kill`);
    assert.equal(w.size, 0);
  });

  it('a process already gone is reported on the next turn; pidfd_open of it says ESRCH', async () => {
    const a = sleeper();
    const pid = a.pid!;
    await kill(a); // reaped by Node: the pid is free
    assert.throws(() => pidfdOpen(pid), /ESRCH|No such process/);
    await new Promise<void>((r) => w.watch(pid, r));
  });

  it('any number of watches share one thread; close() ends it and fires nothing', async () => {
    const before = threads();
    const one = sleeper();
    procs.push(one);
    w.watch(one.pid!, () => assert.fail('closed watch fired'));
    const withOne = threads();
    assert.ok(withOne - before >= 1 && withOne - before <= 2, `threads ${before} → ${withOne}`);
    for (let i = 0; i < 30; i++) {
      const p = sleeper();
      procs.push(p);
      w.watch(p.pid!, () => assert.fail('closed watch fired'));
    }
    assert.equal(threads(), withOne, 'no thread per watched process');
    await w.close();
    assert.equal(w.size, 0);
    for (const p of procs.splice(0)) await kill(p);
    await new Promise((r) => setTimeout(r, 100));
    assert.throws(() => w.watch(process.pid, () => undefined), /pidfd watch/);
  });

  it('a process that forgets close() still exits by itself (the thread is unref\'d, its wait bounded)', () => {
    const mod = fileURLToPath(new URL('../../../core/kernel/pidfd.js', import.meta.url));
    const code = `import(${JSON.stringify(mod)}).then((m) => { m.createPidfdWatch().watch(process.ppid, () => {}); })`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['-e', code], { timeout: 10_000, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Date.now() - t0 < 5000, `exited after ${Date.now() - t0} ms`);
  });
});
