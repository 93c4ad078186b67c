// bench/startup.ts — how long tsd takes to start with N bridge networks and N attached sandboxes
// already in its store and kernel (moby#26435: "the daemon starts slowly with many networks";
// peers-checklist item 6), and dockerd with the same N networks in the same run. Inside a private
// netns (`bash scripts/bench.sh startup`); refuses to run in a netns that has links other than lo.
//
// tsd, for each N: a real tsd (bin/tsd, embedded LMDB store, nftables) on a temp dir; N networks
// created through the API (explicit /24s), N sandboxes each connected to one of them; SIGTERM;
// then RESTARTS restarts, each timed from spawn to the "tsd started" log line (the API socket
// listens only after every driver reconcile, the firewall rebuild and the services' reconcile
// ran). A baseline with N = 0 shows the fixed cost (Node, module loading, LMDB open, nft table).
// After the last restart the state is checked (N bridges and N veths still there) and removed.
// Then the same with N networks and no sandboxes (like for like with dockerd).
//
// dockerd (Debian docker.io 20.10, its built-in bridge driver, iptables on, --bridge=none so no
// docker0), for each N up to STARTUP_DOCKERD_MAX: data/exec roots on a tmpfs, /run/docker a
// tmpfs of this private mount namespace; N user-defined bridge networks created through the
// Engine API (explicit /24s). No containers: a container's restore would add runc/containerd time
// that is not the network's. Then RESTARTS restarts, each timed from spawn until `GET /_ping`
// answers, and until `GET /networks` lists all N (both reported); a start includes dockerd
// spawning its own containerd. After the last restart: N bridges in `ip -j link`, all networks
// removed through the API, 0 bridges left; dockerd and containerd stopped by PID.
// Bounds: STARTUP_SIZES (default 0,100,500), STARTUP_RESTARTS (default 3), STARTUP_DOCKERD_MAX
// (default 500: larger N are not run on dockerd), STARTUP_DOCKERD=0 skips dockerd.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { must } from '../integration/daemon/tsd-child.js';
import { startDockerd } from '../integration/docker/harness.js';
import { assertPrivateNetns, cleanupOnSignals, dockerApi, removeDockerdLeftovers, spawnDockerdTimed, type TimedDockerd } from './lib/dockerd.js';

const SIZES = (process.env.STARTUP_SIZES ?? '0,100,500').split(',').map(Number);
const RESTARTS = Number(process.env.STARTUP_RESTARTS ?? 3);
const DOCKERD_MAX = Number(process.env.STARTUP_DOCKERD_MAX ?? 500);
const DOCKERD = process.env.STARTUP_DOCKERD !== '0';
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

async function benchSize(n: number, sandboxes: boolean): Promise<{ n: number; runs: number[]; setupMs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdbench-startup-'));
  const tsd = new Tsd(dir);
  try {
    await tsd.start();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await must(tsd.sock, 'POST', '/networks/create', { Name: `st${i}`, Driver: 'tsd-bridge', IPAM: { Config: [{ Subnet: `10.${100 + (i >> 8)}.${i & 255}.0/24` }] } });
      if (!sandboxes) continue;
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
    const eps = sandboxes ? n : 0;
    if (bridges !== n || veths !== eps) throw new Error(`after restarts: ${bridges} bridges and ${veths} veths in the host netns, expected ${n} and ${eps}`);
    for (let i = 0; i < eps; i++) await must(tsd.sock, 'DELETE', `/sandboxes/sb${i}`);
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
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const runsOf = (xs: number[]) => `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})`;

// ---------------------------------------------------------------------------------------------
// dockerd

let benchRoot: string | undefined;
let live: { stop(): Promise<void> } | undefined;

/** Bridge networks named tsdtest-st* that dockerd lists. */
async function listed(sock: string): Promise<number> {
  const nets = await dockerApi<Array<{ Name: string }>>(sock, 'GET', '/networks');
  return nets.filter((x) => x.Name.startsWith('tsdtest-st')).length;
}

interface DockerdSize { n: number; ping: number[]; ready: number[]; setupMs: number; version: string }

async function benchDockerd(root: string, n: number): Promise<DockerdSize> {
  const dir = path.join(root, `dockerd-${n}`);
  fs.mkdirSync(dir, { recursive: true });
  const cfg = path.join(dir, 'daemon.json');
  fs.writeFileSync(cfg, '{}\n');
  const extra = ['--iptables=true', '--config-file', cfg];
  const d = await startDockerd(dir, extra);
  live = d;
  const version = (await dockerApi<{ Version: string }>(d.socket, 'GET', '/version')).Version;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await dockerApi(d.socket, 'POST', '/networks/create', { Name: `tsdtest-st${i}`, Driver: 'bridge', CheckDuplicate: true, IPAM: { Config: [{ Subnet: `10.${160 + (i >> 8)}.${i & 255}.0/24` }] } });
  }
  const setupMs = performance.now() - t0;
  if (n >= 100) console.log(`  (dockerd ${n} networks created in ${(setupMs / 1000).toFixed(1)} s; load ${load()})`);
  await d.stop();
  const ping: number[] = [];
  const ready: number[] = [];
  const all = async (sock: string) => (await listed(sock)) === n;
  for (let r = 0; r < RESTARTS; r++) {
    const t: TimedDockerd = await spawnDockerdTimed(dir, extra, all);
    live = t;
    ping.push(t.pingMs);
    ready.push(t.readyMs);
    await t.stop();
    if (n >= 100) console.log(`  (dockerd ${n} networks, restart ${r + 1}/${RESTARTS}: _ping after ${(t.pingMs / 1000).toFixed(1)} s; load ${load()})`);
  }
  const t = await spawnDockerdTimed(dir, extra, all);
  live = t;
  const bridges = await linkCount('bridge');
  if (bridges !== n) throw new Error(`dockerd after restarts: ${bridges} bridges in the netns, expected ${n}`);
  for (let i = 0; i < n; i++) await dockerApi(t.socket, 'DELETE', `/networks/tsdtest-st${i}`);
  const left = [await linkCount('bridge'), await listed(t.socket)];
  if (left[0] !== 0 || left[1] !== 0) throw new Error(`dockerd after removing ${n} networks: ${left[0]} bridges, ${left[1]} networks left`);
  await t.stop();
  live = undefined;
  return { n, ping, ready, setupMs, version };
}

let cleaning: Promise<void> | undefined;
/** Stop dockerd (and containerd) by PID, unmount and remove the bench's dirs. Idempotent. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await live?.stop().catch((e) => console.error(`dockerd stop: ${String(e)}`));
    if (benchRoot) await removeDockerdLeftovers(benchRoot, { processes: true });
  })();
  return cleaning;
}

cleanupOnSignals('startup', cleanup);

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  await assertPrivateNetns();
  console.log(`# startup bench: ${os.cpus().length} cpus, kernel ${os.release()}, node ${process.version}, ${RESTARTS} restarts per N, load ${load()}`);
  console.log('tsd start-up with N bridge networks, N sandboxes attached (one each); embedded store, nftables');
  console.log('| networks + endpoints | start-up median (runs) | minus the N = 0 start | per network | setup of N (create + connect) |');
  console.log('| --- | --- | --- | --- | --- |');
  const tsdFull = new Map<number, number[]>();
  let base = NaN;
  for (const n of SIZES) {
    const { runs, setupMs } = await benchSize(n, true);
    tsdFull.set(n, runs);
    const m = median(runs);
    if (n === 0) base = m;
    const extra = m - base;
    console.log(`| ${n} | ${runsOf(runs)} | ${Number.isNaN(base) ? '—' : `${extra.toFixed(0)} ms`} | ${n && !Number.isNaN(base) ? `${(extra / n).toFixed(2)} ms` : '—'} | ${n ? `${setupMs.toFixed(0)} ms` : '—'} |`);
  }
  if (!DOCKERD) return;
  // Networks only, like dockerd's side (N = 0 is the same run as above).
  const tsdNets = new Map<number, number[]>();
  for (const n of SIZES) tsdNets.set(n, n === 0 ? tsdFull.get(0)! : (await benchSize(n, false)).runs);
  console.log(`  (tsd done, load ${load()})`);

  await assertPrivateNetns();
  const root = benchRoot = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsdtest-startup-')));
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', root]);
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', '/run/docker']);
  const dk = new Map<number, DockerdSize>();
  for (const n of SIZES.filter((x) => x <= DOCKERD_MAX)) {
    const r = await benchDockerd(root, n);
    dk.set(n, r);
    console.log(`  (dockerd ${r.version}, ${n} networks done (created in ${(r.setupMs / 1000).toFixed(1)} s); load ${load()})`);
  }
  console.log('');
  console.log('dockerd (bridge driver, iptables on, no containers) vs tsd with the same N networks (no sandboxes); start-up median (runs)');
  console.log('| networks | tsd: spawn → API up | dockerd: spawn → /_ping | dockerd: spawn → /networks lists N | dockerd/tsd (_ping) | dockerd/tsd (listed) | dockerd: create N |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const n of SIZES) {
    const t = tsdNets.get(n)!;
    const k = dk.get(n);
    const r = (x: number[]) => `${(median(x) / median(t)).toFixed(1)}×`;
    if (!k) { console.log(`| ${n} | ${runsOf(t)} | not run (STARTUP_DOCKERD_MAX=${DOCKERD_MAX}) | — | — | — | — |`); continue; }
    console.log(`| ${n} | ${runsOf(t)} | ${runsOf(k.ping)} | ${runsOf(k.ready)} | ${r(k.ping)} | ${r(k.ready)} | ${n ? `${(k.setupMs / 1000).toFixed(1)} s` : '—'} |`);
  }
  console.log(`(load at the end ${load()})`);
}

try {
  await main();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await cleanup();
}
