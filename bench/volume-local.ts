// bench/volume-local.ts — tsd-local's volume life cycle on the real kernel (create → mount →
// unmount → remove of a tmpfs volume, and a refcount-only second mount) against the same steps
// done with mount(8)/umount(8), the way a shell-out driver does them. Bounded: N cycles each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { createKernel } from '../core/kernel/index.js';
import { silentLogger } from '../core/log.js';
import { MemoryStore } from '../core/store/memory.js';
import { createLocalVolumeDriver } from '../drivers/volume/local/local-driver.js';

const N = 200;
const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsdvol-bench-')));
const kernel = createKernel();

function report(label: string, ms: number[]): number {
  ms.sort((a, b) => a - b);
  const p50 = ms[Math.floor(ms.length / 2)]!;
  const p99 = ms[Math.floor(ms.length * 0.99)]!;
  console.log(`${label.padEnd(44)} p50 ${p50.toFixed(3)} ms  p99 ${p99.toFixed(3)} ms  (n=${ms.length})`);
  return p50;
}

try {
  const d = createLocalVolumeDriver({ log: silentLogger, store: new MemoryStore(), kernel, dataDir: path.join(base, 'tsd'), config: {} });
  const cycle: number[] = [];
  const second: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await d.create(`v${i}`, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
    await d.mount(`v${i}`, 'a');
    const t1 = performance.now();
    await d.mount(`v${i}`, 'b');
    second.push(performance.now() - t1);
    await d.unmount(`v${i}`, 'b');
    const t2 = performance.now();
    await d.unmount(`v${i}`, 'a');
    await d.remove(`v${i}`);
    cycle.push(t1 - t0 + (performance.now() - t2));
  }
  const ours = report('tsd-local create+mount+unmount+remove', cycle);
  report('tsd-local refcount-only mount (2nd caller)', second);

  const peer: number[] = [];
  for (let i = 0; i < N; i++) {
    const dir = path.join(base, 'peer', `v${i}`, '_data');
    const t0 = performance.now();
    fs.mkdirSync(dir, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    await execa('umount', [dir]);
    fs.rmSync(path.dirname(dir), { recursive: true });
    peer.push(performance.now() - t0);
  }
  const theirs = report('mount(8)+umount(8) same steps', peer);
  console.log(`ratio: tsd-local is ${(theirs / ours).toFixed(1)}x faster per cycle`);
} finally {
  for (const m of kernel.mounts.mountsUnder(base)) kernel.mounts.unmountIfMounted(m.mountPoint);
  fs.rmSync(base, { recursive: true, force: true });
}
