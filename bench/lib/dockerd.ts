// bench/lib/dockerd.ts — helpers for benches that run a real dockerd inside scripts/bench.sh's
// private net+mount namespace (not a bench itself: scripts/bench.sh runs dist/bench/*.js only).
// Used by bench/bridge-dockerd.ts and bench/startup.ts. Starting and stopping dockerd itself is
// integration/docker/harness.ts's startDockerd / killPid / pidsMentioning / unmountAllUnder;
// spawnDockerdTimed below adds a start timed to the millisecond, with the same flags.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execa } from 'execa';
import { killPid, pidsMentioning, unmountAllUnder } from '../../integration/docker/harness.js';

/** One Engine API request on dockerd's unix socket; throws on a status ≥ 400 with its message. */
export function dockerApi<T = any>(socket: string, method: string, p: string, body?: unknown, timeoutMs = 300_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({
      socketPath: socket, method, path: `/v1.41${p}`,
      headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`${method} ${p}: ${res.statusCode} ${text.trim()}`));
        else if (!text) resolve(undefined as T);
        else { try { resolve(JSON.parse(text) as T); } catch { resolve(text as T); } }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${p}: timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** A namespace `unshare --net` made holds only lo; the host's holds eth0 and more. */
export async function assertPrivateNetns(): Promise<void> {
  const links = (JSON.parse((await execa('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
  if (links.some((l) => l !== 'lo')) {
    throw new Error(`refusing to run: this network namespace has links ${links.join(', ')} (the host's?); dockerd with iptables would change its firewall. Run it through scripts/bench.sh, which starts it in a fresh private namespace.`);
  }
}

/** PIDs whose mount namespace has a mount naming `dir` (container processes of our dockerd). */
export function pidsWithMountsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/mountinfo`, 'utf8').split('\n').some((l) => l.includes(' / / ') && l.includes(dir))) out.push(Number(e));
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface TimedDockerd {
  readonly socket: string;
  readonly pid: number;
  /** ms from spawn to the first `GET /_ping` answered 200. */
  readonly pingMs: number;
  /** ms from spawn to `ready` returning true (polled after _ping answered). */
  readonly readyMs: number;
  log(): string;
  /** TERM dockerd by PID (KILL after 20 s), then containerd/shims that name `dir`; unmount under `dir`. */
  stop(): Promise<void>;
}

/**
 * Spawn dockerd on `dir` with integration/docker/harness.ts startDockerd's flags (data/exec roots,
 * socket and pidfile under `dir`, --ip6tables=false --bridge=none, then `extra`) and time it: the
 * socket is polled every 5 ms until `GET /_ping` answers (a request on a socket that is listening
 * but not yet served simply waits), then `ready(socket)` every 5 ms until true. At most `limitMs`.
 */
export async function spawnDockerdTimed(dir: string, extra: string[], ready: (socket: string) => Promise<boolean>, limitMs = 300_000): Promise<TimedDockerd> {
  const socket = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  fs.mkdirSync(dir, { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  const t0 = performance.now();
  const proc: ChildProcess = spawn('dockerd', [
    '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '-H', `unix://${socket}`, '--pidfile', path.join(dir, 'docker.pid'),
    '--iptables=false', '--ip6tables=false', '--bridge=none', ...extra,
  ], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const pid = proc.pid!;
  const log = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= (async () => {
    await killPid(pid, proc, 20_000);
    for (const p of pidsMentioning(dir)) await killPid(p, undefined, 5_000);
    await unmountAllUnder(dir);
  })());
  const fail = async (why: string): Promise<never> => { await stop(); throw new Error(`dockerd ${why}:\n${log().slice(-3000)}`); };
  let pingMs = NaN;
  while (Number.isNaN(pingMs)) {
    if (proc.exitCode !== null) return fail(`exited ${proc.exitCode}`);
    if (performance.now() - t0 > limitMs) return fail(`did not answer /_ping in ${limitMs} ms`);
    if (fs.existsSync(socket)) {
      const ok = await dockerApi(socket, 'GET', '/_ping', undefined, limitMs).then(() => true, () => false);
      if (ok) { pingMs = performance.now() - t0; break; }
    }
    await sleep(5);
  }
  let readyMs = NaN;
  while (Number.isNaN(readyMs)) {
    if (proc.exitCode !== null) return fail(`exited ${proc.exitCode}`);
    if (performance.now() - t0 > limitMs) return fail(`not ready in ${limitMs} ms`);
    if (await ready(socket)) { readyMs = performance.now() - t0; break; }
    await sleep(5);
  }
  return { socket, pid, pingMs, readyMs, log, stop };
}

/**
 * After dockerd was stopped: end what it left running under `benchRoot` by PID (containerd,
 * shims; containers whose shim died first live on reparented, their root an overlay under ours),
 * unmount everything under it and the private /run/docker tmpfs, remove the dir.
 */
export async function removeDockerdLeftovers(benchRoot: string, opts: { processes: boolean }): Promise<void> {
  if (opts.processes) {
    for (const p of pidsMentioning(benchRoot)) await killPid(p, undefined, 5_000);
    for (const p of pidsWithMountsUnder(benchRoot)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  }
  await unmountAllUnder(benchRoot);
  await execa('umount', ['-l', '/run/docker'], { reject: false });
  fs.rmSync(benchRoot, { recursive: true, force: true });
}

/** Interrupted (Ctrl-C, timeout): dockerd would otherwise live on in the private namespace. */
export function cleanupOnSignals(name: string, cleanup: () => Promise<void>): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`${name}: ${sig}, cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}
