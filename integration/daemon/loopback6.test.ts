// integration/daemon/loopback6.test.ts — the [::1] listeners of published ports in a real tsd
// child: served by the tsd process itself (ss -p), closed when tsd stops (SIGTERM), restored from
// the embedded store when it starts again, closed on disconnect. By default only an explicit
// `[::1]:` binding is served; the driver key `userland-proxy-v6-loopback: true` serves [::1] for
// any-address bindings too (and a bad value stops tsd naming the key).
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsdChild, type TsdChild } from './tsd-child.js';

const PORT = 18951;
const PORT_OFF = 18952;

/** Owners (pid) of [::1]:port listeners, per ss. */
function loopback6Owners(proto: 'tcp' | 'udp', port: number): number[] {
  const r = spawnSync('ss', [proto === 'tcp' ? '-Hltnp' : '-Hlunp', `sport = :${port}`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(`[::1]:${port}`)).map((l) => Number(/pid=(\d+)/.exec(l)?.[1]));
}
const cmdline = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');

describe('tsd child: [::1]:port served in-process', function () {
  this.timeout(120_000);
  const children: TsdChild[] = [];
  let cfgDir = '';

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdit-l6cfg-'));
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const c of children) console.log(`--- tsd log ---\n${c.log().slice(-4000)}`);
  });

  after(async () => {
    for (const t of children) {
      t.tsctl('sandbox', 'rm', 'l6box');
      t.tsctl('network', 'rm', '-f', 'l6net');
      await t.destroy();
    }
    if (cfgDir) fs.rmSync(cfgDir, { recursive: true, force: true });
    spawnSync('ip', ['link', 'del', 'tsdl6d0']);
    spawnSync('ip', ['link', 'del', 'tsdl6d1']);
  });

  it('tsd serves [::1]:port itself, closes it at SIGTERM, restores it at start, closes it on disconnect', async () => {
    const on = path.join(cfgDir, 'on.yaml');
    fs.writeFileSync(on, 'drivers:\n  tsd-bridge:\n    userland-proxy-v6-loopback: true\n');
    const t = tsdChild('tsdit-l6-', ['--firewall-backend', 'nftables', '--config', on]);
    children.push(t);
    await t.start();
    assert.equal(t.tsctl('network', 'create', '--subnet', '10.231.96.0/24', '-o', 'com.docker.network.bridge.name=tsdl6d0', 'l6net').code, 0);
    assert.equal(t.tsctl('sandbox', 'create', 'l6box').code, 0);
    const c = t.tsctl('network', 'connect', 'l6net', 'l6box', '-p', `${PORT}:80`, '-p', `${PORT}:53/udp`);
    assert.equal(c.code, 0, c.err);
    const [owner] = loopback6Owners('tcp', PORT);
    assert.ok(owner, `a [::1]:${PORT} tcp listener`);
    assert.match(cmdline(owner), /bin\/tsd/, 'owned by the tsd process, not a proxy process');
    assert.equal(loopback6Owners('udp', PORT).length, 1, 'and the udp one');

    await t.stop();
    assert.deepEqual(loopback6Owners('tcp', PORT), [], 'closed when tsd stops');
    assert.deepEqual(loopback6Owners('udp', PORT), []);
    await t.start();
    assert.equal(loopback6Owners('tcp', PORT).length, 1, 'restored from the store at start');
    assert.equal(loopback6Owners('udp', PORT).length, 1);

    assert.equal(t.tsctl('network', 'disconnect', 'l6net', 'l6box').code, 0);
    assert.deepEqual(loopback6Owners('tcp', PORT), [], 'closed on disconnect');
    assert.deepEqual(loopback6Owners('udp', PORT), []);
    assert.equal(t.tsctl('sandbox', 'rm', 'l6box').code, 0);
    assert.equal(t.tsctl('network', 'rm', 'l6net').code, 0);
    await t.stop();
  });

  it('by default: no [::1] listener for an any-address port, one for an explicit [::1] port; a non-boolean key stops tsd naming it', async () => {
    const t = tsdChild('tsdit-l6off-', ['--firewall-backend', 'nftables']);
    children.push(t);
    await t.start();
    assert.equal(t.tsctl('network', 'create', '--subnet', '10.231.97.0/24', '-o', 'com.docker.network.bridge.name=tsdl6d1', 'l6net').code, 0);
    assert.equal(t.tsctl('sandbox', 'create', 'l6box').code, 0);
    const any = t.tsctl('network', 'connect', 'l6net', 'l6box', '-p', `${PORT_OFF}:80`);
    assert.equal(any.code, 0, any.err);
    assert.deepEqual(loopback6Owners('tcp', PORT_OFF), [], 'no [::1] listener for an any-address binding by default');
    assert.equal(t.tsctl('network', 'disconnect', 'l6net', 'l6box').code, 0);
    const explicit = t.tsctl('network', 'connect', 'l6net', 'l6box', '-p', `[::1]:${PORT_OFF}:80`);
    assert.equal(explicit.code, 0, explicit.err);
    const [owner] = loopback6Owners('tcp', PORT_OFF);
    assert.ok(owner, 'an explicit [::1] binding is served');
    assert.match(cmdline(owner), /bin\/tsd/);
    assert.equal(t.tsctl('network', 'disconnect', 'l6net', 'l6box').code, 0);
    assert.deepEqual(loopback6Owners('tcp', PORT_OFF), []);
    assert.equal(t.tsctl('sandbox', 'rm', 'l6box').code, 0);
    assert.equal(t.tsctl('network', 'rm', 'l6net').code, 0);
    await t.stop();

    const bad = path.join(cfgDir, 'bad.yaml');
    fs.writeFileSync(bad, 'drivers:\n  tsd-bridge:\n    userland-proxy-v6-loopback: "no"\n');
    const b = tsdChild('tsdit-l6bad-', ['--firewall-backend', 'nftables', '--config', bad]);
    children.push(b);
    await assert.rejects(b.start(), /drivers\.tsd-bridge\.userland-proxy-v6-loopback: "no" is not a boolean/);
  });
});
