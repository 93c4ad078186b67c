// integration/daemon/firewall-reload.test.ts — `tsctl firewall reload` (moby/moby#12294,
// containers/netavark#1258): after tsd's nft table is wiped behind its back, the command writes
// every network's policy back without a restart. tsd runs as a child process with the nftables
// backend; the table is checked with `nft -j`. Runs as root inside the private net+mount
// namespace of scripts/test-integration.sh (the nft table deleted is tsd's own, in that netns).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSD = path.join(root, 'bin/tsd');
const TSCTL = path.join(root, 'bin/tsctl');

/** Elements of one set of tsd's table, as nft -j prints them ([] when the table is gone). */
function nftSet(name: string): unknown[] {
  const r = spawnSync('nft', ['-j', 'list', 'table', 'inet', 'tsd'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  for (const o of (JSON.parse(r.stdout) as { nftables: Array<{ set?: { name: string; elem?: unknown[] } }> }).nftables) {
    if (o.set?.name === name) return o.set.elem ?? [];
  }
  return [];
}

describe('tsctl firewall reload (tsd child, nftables)', function () {
  this.timeout(60_000);
  let dir: string;
  let sock: string;
  let proc: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  let log = '';
  const tsctl = (...args: string[]) => {
    const r = spawnSync(TSCTL, args, { env: { ...process.env, TSD_HOST: `unix://${sock}` }, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdit-fwreload-'));
    sock = path.join(dir, 'run', 'tsd.sock');
    proc = spawn(TSD, [
      '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'run'), '--store', 'memory',
      '--firewall-backend', 'nftables', '--plugin-dir', path.join(dir, 'plugins'), '--no-serve-plugins', '--no-dns',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
    exited = new Promise((r) => proc!.on('exit', r));
    for (let i = 0; i < 200 && !fs.existsSync(sock); i++) {
      if (proc.exitCode !== null) throw new Error(`tsd exited ${proc.exitCode}: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(fs.existsSync(sock), `tsd socket did not appear: ${log}`);
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      // Remove the network (its bridge and elements) through tsd, then kill tsd.
      if (sock && fs.existsSync(sock)) tsctl('network', 'rm', 'fwnet');
      proc.kill('SIGKILL');
      await exited;
    }
    spawnSync('nft', ['delete', 'table', 'inet', 'tsd']);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('puts every network policy back after the table is deleted behind tsd', () => {
    const c = tsctl('network', 'create', '-d', 'bridge', '--subnet', '10.86.0.0/24', 'fwnet');
    assert.equal(c.code, 0, c.err);
    const bridge = `tsd-${c.out.trim().slice(0, 11)}`;
    assert.deepEqual(nftSet('bridges'), [bridge]);
    assert.deepEqual(nftSet('masq4'), [{ prefix: { addr: '10.86.0.0', len: 24 } }]);

    // What an `nft flush ruleset`, a firewalld reload or an nftables.service restart does to tsd.
    assert.equal(spawnSync('nft', ['delete', 'table', 'inet', 'tsd']).status, 0);
    assert.deepEqual(nftSet('bridges'), []);

    const r = tsctl('firewall', 'reload');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'firewall reloaded (nftables): 1 network(s), 0 published port(s)\n');
    assert.deepEqual(nftSet('bridges'), [bridge]);
    assert.deepEqual(nftSet('masq4'), [{ prefix: { addr: '10.86.0.0', len: 24 } }]);
    assert.deepEqual(nftSet('isolated'), [bridge]);

    // Idempotent: a second reload changes nothing.
    assert.equal(tsctl('firewall', 'reload').code, 0);
    assert.deepEqual(nftSet('bridges'), [bridge]);
    assert.equal(tsctl('firewall', '--help').code, 0);
  });
});
