// integration/daemon/tsd-child.ts — a tsd child process on a temp dir (embedded store, so a
// restart finds its state), the real tsctl binary against it, and the teardown that leaves
// nothing: stop by PID, unmount everything under the dir, remove it.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const TSD = path.join(root, 'bin/tsd');
export const TSCTL = path.join(root, 'bin/tsctl');

export interface TsdChild {
  dir: string;
  sock: string;
  dataRoot: string;
  log(): string;
  tsctl(...args: string[]): { code: number | null; out: string; err: string };
  /** (Re)start the daemon; resolves once it logged "tsd started". */
  start(): Promise<void>;
  /** SIGTERM (or SIGKILL) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stop, unmount everything under dir, remove dir. */
  destroy(): Promise<void>;
}

export function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4]!)
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

/**
 * `servePlugins`: also serve the built-in drivers on <dir>/plugins/<name>.sock (as for a dockerd).
 * `wrap`: argv run in front of tsd, e.g. `unshare --mount --propagation private` (it must exec tsd, not fork).
 */
export function tsdChild(prefix: string, extra: string[] = [], opts: { servePlugins?: boolean; wrap?: string[] } = {}): TsdChild {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const sock = path.join(dir, 'run', 'tsd.sock');
  const dataRoot = path.join(dir, 'data');
  let proc: ChildProcess | undefined;
  let log = '';
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (p.exitCode === null && p.signalCode === null) { p.kill('SIGKILL'); await exited; }
  };
  return {
    dir, sock, dataRoot,
    log: () => log,
    tsctl(...args) {
      const r = spawnSync(TSCTL, args, { env: { ...process.env, TSD_HOST: `unix://${sock}` }, encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, out: r.stdout, err: r.stderr };
    },
    async start() {
      const mark = log.length;
      const wrap = opts.wrap ?? [];
      const p = spawn(wrap[0] ?? TSD, [...wrap.slice(1), ...(wrap.length ? [TSD] : []), '--data-root', dataRoot, '--exec-root', path.join(dir, 'run'), '--store', 'embedded',
        '--plugin-dir', path.join(dir, 'plugins'), ...(opts.servePlugins ? [] : ['--no-serve-plugins']), '--log-level', 'info', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc = p;
      p.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
      for (let i = 0; i < 600 && !log.slice(mark).includes('"msg":"tsd started"'); i++) {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`tsd exited ${p.exitCode ?? p.signalCode}: ${log.slice(mark)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(log.slice(mark).includes('"msg":"tsd started"'), `tsd did not start: ${log.slice(mark)}`);
    },
    stop,
    async destroy() {
      await stop();
      for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One request to tsd's API on its unix socket (20 s deadline). */
/**
 * Start `t` and SIGKILL it at a random instant shortly after its drivers reconciled — aimed at
 * the services' reconcile (crash tests: the next start must finish what this one began). Waits
 * up to `waitMs` for "driver reconciled", then up to `jitterMs` more. Returns where the kill
 * landed, read from the log: before, inside or after the reconcile.
 */
export async function killDuringStart(t: TsdChild, waitMs: number, jitterMs: number): Promise<'before' | 'inside' | 'after'> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const mark = t.log().length;
  const starting = t.start().catch(() => undefined);
  for (let i = 0; i < waitMs / 10 && !t.log().slice(mark).includes('"msg":"driver reconciled"'); i++) await sleep(10);
  await sleep(Math.floor(Math.random() * jitterMs));
  await t.stop('SIGKILL');
  await starting;
  const l = t.log().slice(mark);
  return l.includes('"msg":"reconciled"') ? 'after' : l.includes('"msg":"reconcile: ') ? 'inside' : 'before';
}

/** The veths enslaved to `bridge` in this namespace, per `ip -j -d link` (sorted). */
export function vethsOnBridge(bridge: string): string[] {
  const r = spawnSync('ip', ['-j', '-d', 'link', 'show', 'master', bridge], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const links = JSON.parse(r.stdout || '[]') as Array<{ ifname: string; linkinfo?: { info_kind?: string } }>;
  return links.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => l.ifname).sort();
}

export function call(sock: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath: sock, method, path: p, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (c: string) => (b += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: b })).on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${p}: timeout`)));
    req.end(data);
  });
}

/** call(), asserting a 2xx; the JSON body parsed. */
export async function must<T>(sock: string, method: string, p: string, body?: unknown): Promise<T> {
  const r = await call(sock, method, p, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: ${r.status} ${r.body}`);
  return (r.body ? JSON.parse(r.body) : undefined) as T;
}

/** `unshare --net sleep 120`, once it is inside its own netns (unshare enters it before exec). */
export async function netnsHolder(): Promise<ChildProcess> {
  const p = spawn('unshare', ['--net', 'sleep', '120'], { stdio: 'ignore' });
  const own = fs.statSync('/proc/self/ns/net').ino;
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const st = fs.statSync(`/proc/${p.pid}/ns/net`, { throwIfNoEntry: false });
    if (st && st.ino !== own && fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === 'sleep') return p;
  }
  p.kill('SIGKILL');
  throw new Error('unshare did not enter its netns');
}
