// integration/store/etcd-server.ts — a real etcd (Debian's etcd-server) on loopback with its own
// data dir and random ports, for the tests that need a shared store; stop() kills it by PID and
// removes the dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../core/store/open.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface EtcdServer {
  endpoint: string;
  log(): string;
  stop(): Promise<void>;
}

/** Start etcd and wait until a client can open a store on it (20 s at most). */
export async function startEtcd(): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tsd-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  let log = '';
  const etcd: ChildProcess = spawn('etcd', [
    '--name', 'tsdtest', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `tsdtest=${peerUrl}`, '--initial-cluster-state', 'new',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  etcd.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  etcd.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const stop = async () => {
    if (etcd.pid && etcd.exitCode === null && etcd.signalCode === null) {
      const exited = new Promise((r) => etcd.once('exit', r));
      process.kill(etcd.pid, 'SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (etcd.exitCode !== null) {
      await stop();
      throw new Error(`etcd exited ${etcd.exitCode}: ${log.slice(-2000)}`);
    }
    try {
      const s = await openStore({ kind: 'etcd', endpoints: [endpoint], prefix: '/tsdtest-probe/', dialTimeoutMs: 3000 });
      await s.close();
      return { endpoint, log: () => log, stop };
    } catch (e) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`etcd not ready: ${(e as Error).message}\n${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
