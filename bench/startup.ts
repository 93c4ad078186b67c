// bench/startup.ts — how long tsd takes to start with N bridge networks and N attached sandboxes
// already in its store and kernel (moby#26435: "the daemon starts slowly with many networks";
// peers-checklist item 6). Inside a private netns (`bash scripts/bench.sh startup`).
//
// For each N: a real tsd (bin/tsd, embedded LMDB store, nftables) on a temp dir; N networks created
// through the API (explicit /24s), N sandboxes each connected to one of them; SIGTERM; then
// RESTARTS restarts, each timed from spawn to the "tsd started" log line (the API socket listens
// only after every driver reconcile, the firewall rebuild and the services' reconcile ran). A
// baseline with N = 0 shows the fixed cost (Node, module loading, LMDB open, nft table).
// After the last restart the state is checked (N bridges and N veths still there) and removed.
// Bounds: STARTUP_SIZES (default 0,100,500), STARTUP_RESTARTS (default 3).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { must } from '../integration/daemon/tsd-child.js';

const SIZES = (process.env.STARTUP_SIZES ?? '0,100,500').split(',').map(Number);
const RESTARTS = Number(process.env.STARTUP_RESTARTS ?? 3);
const TSD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/tsd');

class Tsd {
  private proc: ChildProcess | undefined;
  private log = '';
  readonly sock: string;
  constructor(readonly dir: string) { this.sock = path.join(dir, 'run', 'tsd.sock'); }

  /** Spawn and wait for "tsd started"; returns ms from spawn to that line. */
  async start(): Promise<number> {
    const mark = this.log.length;
    const t0 = performance.now();
    const p = spawn(process.execPath, ['--enable-source-maps', TSD, '--data-root', path.join(this.dir, 'data'), '--exec-root', path.join(this.dir, 'run'),
      '--store', 'embedded', '--firewall-backend', 'nftables', '--plugin-dir', path.join(this.dir, 'plugins'), '--no-serve-plugins', '--log-level', 'info'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tsd did not start in 120 s: ${this.log.slice(mark, mark + 2000)}`)), 120_000);
      p.stderr!.on('data', (c: Buffer) => {
        this.log += c.toString();
        if (this.log.slice(mark).includes('"msg":"tsd started"')) { clearTimeout(timer); resolve(performance.now() - t0); }
      });
      p.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tsd exited ${code}: ${this.log.slice(mark, mark + 2000)}`)); });
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.removeAllListeners('exit');
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    if (p.exitCode === null && p.signalCode === null) { p.kill('SIGKILL'); await exited; }
  }
}

async function linkCount(kind: string): Promise<number> {
  const { stdout } = await execa('ip', ['-j', 'link', 'show', 'type', kind]);
  return (JSON.parse(stdout || '[]') as unknown[]).length;
}

async function benchSize(n: number): Promise<{ n: number; runs: number[]; setupMs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdbench-startup-'));
  const tsd = new Tsd(dir);
  try {
    await tsd.start();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await must(tsd.sock, 'POST', '/networks/create', { Name: `st${i}`, Driver: 'tsd-bridge', IPAM: { Config: [{ Subnet: `10.${100 + (i >> 8)}.${i & 255}.0/24` }] } });
      await must(tsd.sock, 'POST', '/sandboxes/create', { Name: `sb${i}` });
      await must(tsd.sock, 'POST', `/networks/st${i}/connect`, { Container: `sb${i}` });
    }
    const setupMs = performance.now() - t0;
    await tsd.stop();
    const runs: number[] = [];
    for (let r = 0; r < RESTARTS; r++) {
      runs.push(await tsd.start());
      await tsd.stop();
    }
    await tsd.start();
    const [bridges, veths] = [await linkCount('bridge'), await linkCount('veth')];
    if (bridges !== n || veths !== n) throw new Error(`after restarts: ${bridges} bridges and ${veths} veths in the host netns, expected ${n} each`);
    for (let i = 0; i < n; i++) await must(tsd.sock, 'DELETE', `/sandboxes/sb${i}`);
    for (let i = 0; i < n; i++) await must(tsd.sock, 'DELETE', `/networks/st${i}`);
    return { n, runs, setupMs };
  } finally {
    await tsd.stop();
    const { stdout } = await execa('findmnt', ['-rn', '-o', 'TARGET'], { reject: false });
    for (const m of stdout.split('\n').filter((m) => m.startsWith(dir + '/')).sort((a, b) => b.length - a.length)) await execa('umount', ['-l', m], { reject: false });
    fs.rmSync(dir, { recursive: true, force: true });
    await execa('nft', ['delete', 'table', 'inet', 'tsd'], { reject: false });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`tsd start-up with N bridge networks, N sandboxes attached (one each); embedded store, nftables; ${RESTARTS} restarts per N; nproc ${os.cpus().length}; load ${os.loadavg()[0]!.toFixed(2)}`);
console.log('| networks + endpoints | start-up median (runs) | minus the N = 0 start | per network | setup of N (create + connect) |');
console.log('| --- | --- | --- | --- | --- |');
let base = NaN;
for (const n of SIZES) {
  const { runs, setupMs } = await benchSize(n);
  const m = median(runs);
  if (n === 0) base = m;
  const extra = m - base;
  console.log(`| ${n} | ${m.toFixed(0)} ms (${runs.map((x) => x.toFixed(0)).join(', ')}) | ${Number.isNaN(base) ? '—' : `${extra.toFixed(0)} ms`} | ${n && !Number.isNaN(base) ? `${(extra / n).toFixed(2)} ms` : '—'} | ${n ? `${setupMs.toFixed(0)} ms` : '—'} |`);
}
