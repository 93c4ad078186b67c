// bench/tar.ts — layer apply (with the sha256 diff ID in the same pass) vs GNU tar extraction,
// and Diff export vs `tar -c`, on one generated tar of ≥ 500 MB and ≥ 5,000 entries. Everything
// lives in one temp dir under /tmp (free space checked first with df) and is deleted at the end.
// Each side runs 3 times, alternating; the median is reported, with the CPU each side used (all
// threads for ours, the reaped child for tar): on a loaded 2-cpu machine wall time follows CPU.
// The tar file is handed over as an fs.ReadStream, which applyLayer reads through its own fd into
// pooled buffers (what a caller with a file gets).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { filesApi, mountApi } from '../core/kernel/index.js';
import { applyLayer } from '../drivers/graph/archive/apply.js';
import { exportTree } from '../drivers/graph/archive/export.js';

const DIRS = 110;
const FILES_PER_DIR = 50;
const BIG = 24; // 12 MiB each
const RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU ms from /proc/self/stat: this thread-group's main thread, and reaped children (tar). */
function procCpu(): { main: number; children: number } {
  const st = (f: string) => { const s = fs.readFileSync(f, 'latin1'); return s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number); };
  const self = st('/proc/self/stat');
  const main = st(`/proc/self/task/${process.pid}/stat`);
  return { main: (main[11]! + main[12]!) * 10, children: (self[13]! + self[14]!) * 10 };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main(): Promise<void> {
  const df = await execa('df', ['-B1', '--output=avail', os.tmpdir()]);
  const avail = Number(df.stdout.split('\n')[1]);
  if (avail < 4 * 1024 ** 3) throw new Error(`bench tar: only ${(avail / 1024 ** 3).toFixed(1)} GiB free in ${os.tmpdir()}, need 4`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdbench-tar-'));
  const mnt = path.join(tmp, 'mnt');
  fs.mkdirSync(mnt);
  let mounted = false;
  try {
    mountApi.mountTmpfs(mnt, 'size=3g,mode=0700');
    mounted = true;
    const src = path.join(tmp, 'src');
    const pool = crypto.randomBytes(16 << 20);
    let bytes = 0;
    let entries = 0;
    for (let d = 0; d < DIRS; d++) {
      const dir = path.join(src, `dir${d}`, 'sub');
      fs.mkdirSync(dir, { recursive: true });
      entries += 2;
      for (let f = 0; f < FILES_PER_DIR; f++) {
        const size = (f * 7919 + d * 104729) % 120_000 + 100;
        const off = (d * 131 + f * 4099) % (pool.length - size);
        fs.writeFileSync(path.join(dir, `f${f}.bin`), pool.subarray(off, off + size));
        bytes += size;
        entries++;
        if (f % 10 === 0) { fs.symlinkSync(`f${f}.bin`, path.join(dir, `l${f}`)); entries++; }
      }
    }
    for (let b = 0; b < BIG; b++) {
      const size = 12 << 20;
      const off = (b * 65537) % (pool.length - size);
      fs.writeFileSync(path.join(src, `big${b}.bin`), pool.subarray(off, off + size));
      bytes += size;
      entries++;
    }
    const tarFile = path.join(tmp, 'layer.tar');
    await execa('tar', ['-C', src, '-cf', tarFile, '.']);
    const tarSize = fs.statSync(tarFile).size;
    if (tarSize < 500e6 || entries < 5000) throw new Error(`bench tar: the tar has ${tarSize} bytes / ${entries} entries, the target needs >= 500 MB and >= 5,000`);
    console.log(`tar: ${(tarSize / 1e6).toFixed(0)} MB, ${entries} entries, ${(bytes / 1e6).toFixed(0)} MB of file content; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

    const ours: number[] = [];
    const gnu: number[] = [];
    const shaOnly: number[] = [];
    const shaSum: number[] = [];
    const oursCpu: number[] = [];
    const oursMain: number[] = [];
    const gnuCpu: number[] = [];
    let diffId = '';
    for (let i = 0; i < RUNS; i++) {
      const a = path.join(mnt, `gnu${i}`);
      fs.mkdirSync(a);
      const g0 = procCpu().children;
      gnu.push(await timed(() => execa('tar', ['-C', a, '-xf', tarFile])));
      gnuCpu.push(procCpu().children - g0);
      fs.rmSync(a, { recursive: true, force: true });
      const b = path.join(mnt, `ours${i}`);
      fs.mkdirSync(b);
      const c0 = process.cpuUsage();
      const m0 = procCpu().main;
      ours.push(await timed(async () => {
        const r = await applyLayer(fs.createReadStream(tarFile, { highWaterMark: 1 << 20 }), b, { files: filesApi, whiteouts: 'overlay' });
        diffId = r.diffId;
      }));
      const c1 = process.cpuUsage(c0);
      oursCpu.push((c1.user + c1.system) / 1000);
      oursMain.push(procCpu().main - m0);
      if (i < RUNS - 1) fs.rmSync(b, { recursive: true, force: true });
      shaOnly.push(await timed(async () => {
        const h = crypto.createHash('sha256');
        for await (const c of fs.createReadStream(tarFile, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
      }));
      shaSum.push(await timed(() => execa('sha256sum', [tarFile])));
    }
    const want = (await execa('sha256sum', [tarFile])).stdout.split(' ')[0];
    if (diffId !== `sha256:${want}`) throw new Error(`bench tar: digest mismatch ${diffId} vs ${want}`);
    const applied = path.join(mnt, `ours${RUNS - 1}`);
    const check = await execa('diff', ['-r', '--no-dereference', src, applied], { reject: false });
    if (check.exitCode !== 0) throw new Error(`bench tar: applied tree differs from the source: ${check.stdout.slice(0, 300)}`);

    const expOurs: number[] = [];
    const expGnu: number[] = [];
    const expOursCpu: number[] = [];
    const expGnuCpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const out1 = path.join(mnt, 'gnu-out.tar');
      const g0 = procCpu().children;
      expGnu.push(await timed(() => execa('tar', ['-C', applied, '-cf', out1, '.'])));
      expGnuCpu.push(procCpu().children - g0);
      fs.rmSync(out1);
      const out2 = path.join(mnt, 'ours-out.tar');
      const c0 = process.cpuUsage();
      expOurs.push(await timed(() => pipeline(exportTree(applied, { files: filesApi, whiteouts: 'overlay' }), fs.createWriteStream(out2))));
      const c1 = process.cpuUsage(c0);
      expOursCpu.push((c1.user + c1.system) / 1000);
      fs.rmSync(out2);
    }
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    const mbps = (x: number) => `${(tarSize / 1e6 / (x / 1000)).toFixed(0)} MB/s`;
    console.log(`apply+sha256 (ours)   median ${ms(median(ours))} (${mbps(median(ours))})  runs ${ours.map(ms).join(', ')}`);
    console.log(`tar -x (GNU tar)      median ${ms(median(gnu))} (${mbps(median(gnu))})  runs ${gnu.map(ms).join(', ')}`);
    console.log(`apply CPU (all threads) median ${ms(median(oursCpu))}  runs ${oursCpu.map(ms).join(', ')}; main thread ${ms(median(oursMain))}`);
    console.log(`tar -x CPU            median ${ms(median(gnuCpu))}  runs ${gnuCpu.map(ms).join(', ')}  (CPU ratio ${(median(oursCpu) / median(gnuCpu)).toFixed(2)}x)`);
    console.log(`sha256 of the stream  median ${ms(median(shaOnly))}  runs ${shaOnly.map(ms).join(', ')}  (node/OpenSSL, one core)`);
    console.log(`sha256sum of the tar  median ${ms(median(shaSum))}  runs ${shaSum.map(ms).join(', ')}  (coreutils)`);
    console.log(`ratio apply/tar -x    ${(median(ours) / median(gnu)).toFixed(2)}x  (target <= 1.20x)`);
    console.log(`serial bound (tar -x + sha256)/tar -x  ${((median(gnu) + median(shaOnly)) / median(gnu)).toFixed(2)}x  (what inline hashing would cost)`);
    console.log(`export Diff (ours)    median ${ms(median(expOurs))}  runs ${expOurs.map(ms).join(', ')}`);
    console.log(`tar -c (GNU tar)      median ${ms(median(expGnu))}  runs ${expGnu.map(ms).join(', ')}`);
    console.log(`ratio export/tar -c   ${(median(expOurs) / median(expGnu)).toFixed(2)}x`);
    console.log(`export CPU ours ${ms(median(expOursCpu))}, tar -c ${ms(median(expGnuCpu))}  (CPU ratio ${(median(expOursCpu) / median(expGnuCpu)).toFixed(2)}x)`);
    console.log(`load average at end   ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    if (mounted) mountApi.unmountIfMounted(mnt);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
