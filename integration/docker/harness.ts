// integration/docker/harness.ts — what the real-Docker tests share: an isolated dockerd (own data
// root, exec root, socket, pidfile; killed by PID; its mounts and shims removed), the busybox
// image imported from Debian's busybox-static, tsd as a child process serving its drivers in
// /run/docker/plugins (the only place dockerd looks), a docker CLI helper (argv, never a shell),
// and a leak checker that snapshots the host (links, addresses, nft tables, mounts, plugin
// sockets) before a suite and compares after.
// These tests run serially in the HOST network namespace: every name starts with `tsdtest-`, and
// everything is removed in after() even when a test failed.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const TSD_BIN = path.join(repoRoot, 'bin/tsd');
/** Debian's docker.io CLI, the same version as its dockerd (20.10). */
export const DOCKER_BIN = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
/** dockerd discovers legacy plugins only here (and in /etc/docker/plugins as spec files). */
export const PLUGIN_DIR = '/run/docker/plugins';
export const BUSYBOX_IMAGE = 'tsdtest-busybox';

export interface RunResult { code: number; out: string; err: string }

export async function run(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  const r = await execa(cmd, args, {
    reject: false, timeout: opts.timeoutMs ?? 120_000, ...(opts.env ? { env: opts.env } : {}),
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
  });
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}

/** Run and throw with stderr when the exit code is not 0. */
export async function must(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.err.trim() || r.out.trim()}`);
  return r.out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A short temp dir (unix socket paths must stay under 108 bytes). */
export function makeTempRoot(tag: string): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `tsdtest-${tag}-`)));
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => fs.existsSync(path.join(d, bin)));
}

/** Skip (not fail) when the machine cannot run these tests. */
export async function dockerPreconditions(ctx: Mocha.Context): Promise<void> {
  if (process.getuid?.() !== 0) ctx.skip();
  for (const bin of ['dockerd', 'nft', 'ip']) {
    if (!onPath(bin)) {
      console.log(`    (skipped: ${bin} is not installed)`);
      ctx.skip();
    }
  }
  if (!fs.existsSync('/bin/busybox')) { console.log('    (skipped: busybox-static is not installed)'); ctx.skip(); }
}

// ---------------------------------------------------------------------------------------------
// Processes and mounts

async function waitExit(proc: ChildProcess | undefined, pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc ? proc.exitCode !== null || proc.signalCode !== null : !pidAlive(pid)) return true;
    await sleep(50);
  }
  return false;
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** TERM, wait, then KILL: one process, by its PID. */
export async function killPid(pid: number, proc?: ChildProcess, graceMs = 15_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  if (await waitExit(proc, pid, graceMs)) return;
  try { process.kill(pid, 'SIGKILL'); } catch { return; }
  await waitExit(proc, pid, 5_000);
}

/** PIDs of processes whose command line mentions `dir` (containerd, shims started for our dockerd). */
export function pidsMentioning(dir: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes(dir)) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

/** Mount points at or below `dir` (deepest first), from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const pts = text.split('\n').filter(Boolean).map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '));
  return pts.filter((p) => p === dir || p.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
}

export async function unmountAllUnder(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const ms = mountsUnder(dir);
    if (!ms.length) return;
    for (const m of ms) await run('umount', ['-l', m]);
  }
}

// ---------------------------------------------------------------------------------------------
// dockerd

export interface Dockerd {
  readonly dir: string;
  readonly socket: string;
  readonly pid: number;
  /** dockerd's own log (stdout+stderr). */
  log(): string;
  /** `docker -H unix://SOCKET ARGS…` with Debian's CLI. */
  docker(args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** Like docker() but throws on a non-zero exit. */
  dockerOk(args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** Remove every container (rm -f), then stop dockerd and remove its dirs and mounts. Idempotent. */
  stop(): Promise<void>;
}

export async function startDockerd(dir: string, extra: string[] = []): Promise<Dockerd> {
  const data = path.join(dir, 'data');
  const exec = path.join(dir, 'exec');
  const socket = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  fs.mkdirSync(dir, { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  const proc = spawn('dockerd', [
    '--data-root', data, '--exec-root', exec, '-H', `unix://${socket}`, '--pidfile', path.join(dir, 'docker.pid'),
    '--iptables=false', '--ip6tables=false', '--bridge=none', ...extra,
  ], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const pid = proc.pid!;
  const log = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  const docker = (args: string[], opts: { timeoutMs?: number; input?: string } = {}) => run(DOCKER_BIN, ['-H', `unix://${socket}`, ...args], opts);
  let stopped: Promise<void> | undefined;
  const d: Dockerd = {
    dir, socket, pid, log, docker,
    async dockerOk(args, opts = {}) {
      const r = await docker(args, opts);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.err.trim()}`);
      return r.out;
    },
    stop() {
      stopped ??= (async () => {
        if (proc.exitCode === null && fs.existsSync(socket)) {
          const ps = await docker(['ps', '-aq'], { timeoutMs: 20_000 });
          const ids = ps.out.split('\n').filter(Boolean);
          if (ids.length) await docker(['rm', '-f', '-v', ...ids], { timeoutMs: 60_000 });
        }
        await killPid(pid, proc, 20_000);
        // containerd and shims dockerd started (they name our exec root in their argv).
        for (const p of pidsMentioning(dir)) await killPid(p, undefined, 5_000);
        await unmountAllUnder(dir);
      })();
      return stopped;
    },
  };
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`dockerd exited ${proc.exitCode}:\n${log().slice(-3000)}`);
    if (fs.existsSync(socket) && (await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5000 })).code === 0) return d;
    await sleep(100);
  }
  await d.stop();
  throw new Error(`dockerd did not answer on ${socket} within 30 s:\n${log().slice(-3000)}`);
}

let rootfsTar: string | undefined;

/** A tar of a rootfs holding /bin/busybox (Debian's busybox-static) and its applet symlinks. */
async function busyboxTar(): Promise<string> {
  if (rootfsTar && fs.existsSync(rootfsTar)) return rootfsTar;
  const dir = makeTempRoot('rootfs');
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'data', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = (await must('/bin/busybox', ['--list'])).split('\n').filter((a) => a && a !== 'busybox' && !a.includes('/'));
  for (const a of applets) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  const tar = path.join(dir, 'rootfs.tar');
  await must('tar', ['-C', rootfs, '-cf', tar, '.']);
  rootfsTar = tar;
  return tar;
}

/** `docker import` the busybox rootfs as tsdtest-busybox (once per dockerd). */
export async function importBusybox(d: Dockerd): Promise<void> {
  await d.dockerOk(['import', await busyboxTar(), BUSYBOX_IMAGE]);
}

/** Remove the cached rootfs tar (call once at the very end of a suite). */
export function removeBusyboxTar(): void {
  if (rootfsTar) fs.rmSync(path.dirname(rootfsTar), { recursive: true, force: true });
  rootfsTar = undefined;
}

// ---------------------------------------------------------------------------------------------
// tsd

export interface TsdProc {
  readonly dir: string;
  readonly apiSocket: string;
  readonly dataRoot: string;
  readonly pid: number;
  log(): string;
  /** Signal the process (by PID) and wait for it to exit; mounts stay (a crash or a restart). */
  kill(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** SIGTERM (graceful: sockets removed), then whatever is left under its dir is unmounted. */
  stop(): Promise<void>;
}

export interface TsdOptions {
  firewall: 'nftables' | 'none';
  /** Default: PLUGIN_DIR (served for dockerd). */
  pluginDir?: string;
  servePlugins?: boolean;
  /** More tsd arguments (e.g. `--config FILE`). */
  args?: string[];
}

export async function startTsd(dir: string, opts: TsdOptions): Promise<TsdProc> {
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'run');
  const apiSocket = path.join(execRoot, 'tsd.sock');
  const logFile = path.join(dir, 'tsd.log');
  fs.mkdirSync(dir, { recursive: true });
  // A restart appends to the same file: this run's log starts here.
  const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const fd = fs.openSync(logFile, 'a');
  const proc = spawn(TSD_BIN, [
    '--data-root', dataRoot, '--exec-root', execRoot, '--store', 'embedded', '--firewall-backend', opts.firewall,
    '--plugin-dir', opts.pluginDir ?? PLUGIN_DIR, '--log-level', 'debug',
    ...(opts.servePlugins === false ? ['--no-serve-plugins'] : []), ...(opts.args ?? []),
  ], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const pid = proc.pid!;
  const log = () => { try { return fs.readFileSync(logFile).subarray(logStart).toString('utf8'); } catch { return ''; } };
  let stopped: Promise<void> | undefined;
  const t: TsdProc = {
    dir, apiSocket, dataRoot, pid, log,
    async kill(signal) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      process.kill(pid, signal);
      await waitExit(proc, pid, 15_000);
    },
    stop() {
      stopped ??= (async () => {
        await killPid(pid, proc, 15_000);
        await unmountAllUnder(dir);
      })();
      return stopped;
    },
  };
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Error(`tsd exited ${proc.exitCode}:\n${log().slice(-3000)}`);
    if (log().includes('"msg":"tsd started"')) return t;
    await sleep(50);
  }
  await t.stop();
  throw new Error(`tsd did not start within 30 s:\n${log().slice(-3000)}`);
}

/** True when something accepts connections on the unix socket at `p`. */
export function socketAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    const done = (v: boolean) => { s.destroy(); resolve(v); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 2000).unref();
  });
}

/**
 * Guard /run/docker/plugins: a live tsd-* socket belongs to someone else's tsd — skip rather
 * than stomp on it. Returns a cleanup that removes the plugin sockets this run left (only those
 * that are dead and were not alive before) and the directory if this run created it.
 */
export async function claimPluginDir(ctx: Mocha.Context): Promise<() => Promise<void>> {
  const created = !fs.existsSync(PLUGIN_DIR);
  const createdParent = !fs.existsSync(path.dirname(PLUGIN_DIR));
  const live: string[] = [];
  for (const e of created ? [] : fs.readdirSync(PLUGIN_DIR)) {
    if (e.startsWith('tsd-') && (await socketAlive(path.join(PLUGIN_DIR, e)))) live.push(e);
  }
  if (live.length) {
    console.log(`    (skipped: ${live.map((e) => path.join(PLUGIN_DIR, e)).join(', ')} is served by another live process; not replacing it)`);
    ctx.skip();
  }
  fs.mkdirSync(PLUGIN_DIR, { recursive: true, mode: 0o700 });
  return async () => {
    if (!fs.existsSync(PLUGIN_DIR)) return;
    for (const e of fs.readdirSync(PLUGIN_DIR)) {
      const p = path.join(PLUGIN_DIR, e);
      if (e.startsWith('tsd-') && e.endsWith('.sock') && !(await socketAlive(p))) fs.rmSync(p, { force: true });
    }
    if (created && fs.readdirSync(PLUGIN_DIR).length === 0) fs.rmdirSync(PLUGIN_DIR);
    const parent = path.dirname(PLUGIN_DIR);
    if (createdParent && fs.existsSync(parent) && fs.readdirSync(parent).length === 0) fs.rmdirSync(parent);
  };
}

/** Skip when the host netns already has tsd's nft table (another tsd owns it). */
export async function claimNftTable(ctx: Mocha.Context): Promise<() => Promise<void>> {
  if ((await run('nft', ['list', 'table', 'inet', 'tsd'])).code === 0) {
    console.log('    (skipped: table inet tsd already exists in the host netns: another tsd owns it)');
    ctx.skip();
  }
  return async () => { await run('nft', ['delete', 'table', 'inet', 'tsd']); };
}

/** Elements of tsd's nft sets and maps as "set name: element" strings (empty when no table). */
export async function nftTsdElements(): Promise<string[]> {
  const r = await run('nft', ['-j', 'list', 'table', 'inet', 'tsd']);
  if (r.code !== 0) return [];
  const items = (JSON.parse(r.out) as { nftables: Array<Record<string, any>> }).nftables;
  const out: string[] = [];
  for (const it of items) {
    const s = it.set ?? it.map;
    if (s?.elem) for (const e of s.elem as unknown[]) out.push(`${s.name}: ${JSON.stringify(e)}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Leak checker

export interface HostSnapshot {
  links: Map<string, { master?: string; kind?: string }>;
  addrs: Set<string>;
  nftTables: Set<string>;
  mounts: Set<string>;
  plugins: Set<string>;
}

/** dockerd's built-in bridge objects of OTHER dockerds on this machine (not ours to judge). */
function foreignLink(name: string, master: string | undefined): boolean {
  return /^(docker0|br-[0-9a-f]{12})$/.test(name) || (master !== undefined && /^(docker0|br-[0-9a-f]{12})$/.test(master));
}

export async function snapshotHost(): Promise<HostSnapshot> {
  const links = new Map<string, { master?: string; kind?: string }>();
  for (const l of JSON.parse(await must('ip', ['-j', '-d', 'link'])) as Array<{ ifname: string; master?: string; linkinfo?: { info_kind?: string } }>) {
    links.set(l.ifname, { ...(l.master ? { master: l.master } : {}), ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}) });
  }
  const addrs = new Set<string>();
  for (const a of JSON.parse(await must('ip', ['-j', 'addr'])) as Array<{ ifname: string; addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>) {
    for (const i of a.addr_info ?? []) if (i.scope !== 'link') addrs.add(`${a.ifname} ${i.local}/${i.prefixlen}`);
  }
  const nftTables = new Set<string>();
  for (const it of (JSON.parse(await must('nft', ['-j', 'list', 'tables'])) as { nftables: Array<{ table?: { family: string; name: string } }> }).nftables) {
    if (it.table) nftTables.add(`${it.table.family} ${it.table.name}`);
  }
  const mounts = new Set(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4]!));
  const plugins = new Set(fs.existsSync(PLUGIN_DIR) ? fs.readdirSync(PLUGIN_DIR) : []);
  return { links, addrs, nftTables, mounts, plugins };
}

/**
 * What `after` has that `before` did not, as readable lines ("link tsdtest-x", "mount /tmp/…").
 * Mounts are judged under `ourDirs` and Docker's/tsd's default roots only: other engineers'
 * dockerds on this machine mount things under their own temp dirs.
 */
export function hostLeaks(before: HostSnapshot, after: HostSnapshot, ourDirs: string[]): string[] {
  const leaks: string[] = [];
  for (const [name, l] of after.links) if (!before.links.has(name) && !foreignLink(name, l.master)) leaks.push(`link ${name}${l.kind ? ` (${l.kind})` : ''}`);
  for (const a of after.addrs) {
    const ifname = a.split(' ')[0]!;
    if (!before.addrs.has(a) && !foreignLink(ifname, after.links.get(ifname)?.master)) leaks.push(`address ${a}`);
  }
  for (const t of after.nftTables) if (!before.nftTables.has(t)) leaks.push(`nft table ${t}`);
  const judged = [...ourDirs, '/run/docker', '/var/lib/docker', '/run/tsd', '/var/lib/tsd'];
  for (const m of after.mounts) {
    if (!before.mounts.has(m) && judged.some((d) => m === d || m.startsWith(d + '/'))) leaks.push(`mount ${m}`);
  }
  for (const p of after.plugins) if (!before.plugins.has(p)) leaks.push(`plugin socket ${path.join(PLUGIN_DIR, p)}`);
  return leaks;
}

/** Remove leftover links named tsdtest-* (test-made parents) — the last line of defence. */
export async function deleteLinks(names: string[]): Promise<void> {
  for (const n of names) await run('ip', ['link', 'del', n]);
}

/** POST /<method> to a plugin socket the way dockerd does (no Content-Type); the parsed reply. */
export function pluginCall<T = any>(socketPath: string, method: string, body: unknown = {}): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body) + '\n';
    const req = http.request({
      socketPath, path: `/${method}`, method: 'POST',
      headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T }); } catch (e) { reject(new Error(`${method}: reply is not JSON: ${text}`)); }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** A 127.0.0.1 TCP port nothing listens on right now. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Host routes (any table) inside or covering `cidr`, the default route aside: a test subnet must not collide. */
export async function routesOverlapping(cidr: string): Promise<string[]> {
  const out: string[] = [];
  for (const sel of ['root', 'match']) {
    const routes = JSON.parse(await must('ip', ['-j', 'route', 'show', 'table', 'all', 'to', sel, cidr])) as Array<{ dst: string; dev?: string; type?: string }>;
    for (const r of routes) if (r.dst !== 'default' && r.type !== 'broadcast' && r.type !== 'local') out.push(`${r.dst} dev ${r.dev ?? '?'}`);
  }
  return out;
}

/** afterEach of a Docker suite: a failed test prints the tails of dockerd's and tsd's logs. */
export function logsOnFailure(ctx: Mocha.Context, dockerd: Dockerd | undefined, tsd: TsdProc | undefined): void {
  if (ctx.currentTest?.state !== 'failed') return;
  console.log(`--- dockerd log (tail) ---\n${dockerd?.log().slice(-4000)}\n--- tsd log (tail) ---\n${tsd?.log().slice(-4000)}`);
}

/**
 * after() of a Docker suite: dockerd first (it removes containers and calls the plugins' cleanup),
 * then tsd; then the suite's own links (`links`), the claims it holds, the busybox tar; and last,
 * nothing may be left on the host beyond `root` (which is removed).
 */
export async function finishSuite(s: {
  what: string; dockerd: Dockerd | undefined; tsd: TsdProc | undefined; links?: () => Promise<void>;
  releases: Array<(() => Promise<void>) | undefined>; before0: HostSnapshot | undefined; root: string;
}): Promise<void> {
  await s.dockerd?.stop();
  await s.tsd?.stop();
  await s.links?.();
  for (const release of s.releases) await release?.();
  removeBusyboxTar();
  if (s.before0) {
    const leaks = hostLeaks(s.before0, await snapshotHost(), [s.root]);
    if (s.root) fs.rmSync(s.root, { recursive: true, force: true });
    assert.deepEqual(leaks, [], `the docker ${s.what} tests left state on the host`);
  }
}
