// integration/daemon/firewall-reload.test.ts — `tsctl firewall reload` against a real tsd child
// on nftables: a bridge network and a sandbox with a published port; tsd's table is deleted
// behind tsd's back (`nft delete table inet tsd`), traffic stops; `tsctl firewall reload` puts the
// table back (checked with nft -j) and traffic flows again (nc). The same damage before a tsd
// restart is repaired at startup without any command.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { serve, stopServers } from '../network/stack.js';
import { tsdChild, type TsdChild } from './tsd-child.js';

const PORT = 18281;

function nftPortElements(): unknown[] {
  const r = spawnSync('nft', ['-j', 'list', 'table', 'inet', 'tsd'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  for (const o of (JSON.parse(r.stdout) as { nftables: Array<Record<string, { name: string; elem?: unknown[] }>> }).nftables) {
    const s = o.map ?? o.set;
    if (s?.name === 'pub4any') return s.elem ?? [];
  }
  return [];
}

const tableExists = () => spawnSync('nft', ['list', 'table', 'inet', 'tsd'], { encoding: 'utf8' }).status === 0;

/** nc from this namespace to the published port; the server answers with the peer's address. */
function nc(): string {
  const r = spawnSync('nc', ['-w', '3', '127.0.0.1', String(PORT)], { input: '', encoding: 'utf8', timeout: 8000 });
  return r.stdout.trim();
}

describe('tsctl firewall reload (tsd child, nftables)', function () {
  this.timeout(120_000);
  let t: TsdChild;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    // The watch would repair the damage by itself (firewall-watch.test.ts): off, to test the command.
    t = tsdChild('tsdit-fw-', ['--firewall-backend', 'nftables', '--no-firewall-watch']);
    await t.start();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`--- tsd log ---\n${t.log().slice(-4000)}`);
  });

  after(async () => {
    await stopServers();
    if (!t) return;
    t.tsctl('sandbox', 'rm', 'fw1');
    t.tsctl('sandbox', 'rm', 'fw2');
    t.tsctl('network', 'rm', '-f', 'fwnet2');
    t.tsctl('network', 'rm', '-f', 'fwnet');
    await t.destroy();
    spawnSync('ip', ['link', 'del', 'tsdfw0']);
    spawnSync('ip', ['link', 'del', 'tsdfw1']);
    spawnSync('nft', ['delete', 'table', 'inet', 'tsd']);
  });

  it('rebuilds the deleted table from the store: nft -j shows the port again and nc gets through', async () => {
    assert.equal(t.tsctl('network', 'create', '--subnet', '10.231.7.0/24', '-o', 'com.docker.network.bridge.name=tsdfw0', 'fwnet').code, 0);
    assert.equal(t.tsctl('sandbox', 'create', 'fw1').code, 0);
    const c = t.tsctl('network', 'connect', '-p', `${PORT}:80`, 'fwnet', 'fw1');
    assert.equal(c.code, 0, c.err);
    const ns = t.tsctl('sandbox', 'inspect', '-f', '{{.NetnsPath}}', 'fw1').out.trim();
    await serve(ns, 'tcp', 80);
    assert.equal(nftPortElements().length, 1);
    assert.match(nc(), /^127\.0\.0\.1|10\.231\.7\.1$/, 'the published port answers before the damage');

    assert.equal(spawnSync('nft', ['delete', 'table', 'inet', 'tsd']).status, 0);
    assert.equal(tableExists(), false);
    assert.equal(nc(), '', 'no answer without the table');

    const r = t.tsctl('firewall', 'reload');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'Reloaded tsd-bridge (nftables): 1 network(s), 1 published port(s)\n');
    assert.equal(nftPortElements().length, 1, 'the port element is back');
    assert.notEqual(nc(), '', 'the published port answers again');

    // A body is refused with a message naming the field.
    const bad = spawnSync('curl', ['-s', '--unix-socket', t.sock, '-X', 'POST', '-d', '{"x":1}', 'http://tsd/firewall/reload'], { encoding: 'utf8' });
    assert.match(bad.stdout, /x: unknown field/);
  });

  it('a tsd restart repairs the deleted table by itself', async () => {
    await t.stop();
    assert.equal(spawnSync('nft', ['delete', 'table', 'inet', 'tsd']).status, 0);
    assert.equal(nc(), '');
    await t.start();
    assert.ok(tableExists());
    assert.equal(nftPortElements().length, 1);
    assert.notEqual(nc(), '', 'the published port answers after the restart');
  });

  it('never flushes the user hook chain: its rule survives reload, network create/rm, publish and a restart', async () => {
    const userRules = () => {
      const r = spawnSync('nft', ['list', 'chain', 'inet', 'tsd', 'user'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l && !/^(table|chain) .*\{$|^\}$/.test(l));
    };
    assert.deepEqual(userRules(), []);
    const add = spawnSync('nft', ['add', 'rule', 'inet', 'tsd', 'user', 'ip', 'daddr', '10.231.7.2', 'tcp', 'dport', '80', 'drop', 'comment', '"keep me"']);
    assert.equal(add.status, 0, String(add.stderr));
    const rules = userRules();
    assert.deepEqual(rules, ['ip daddr 10.231.7.2 tcp dport 80 drop comment "keep me"']);
    assert.equal(t.tsctl('firewall', 'reload').code, 0);
    assert.deepEqual(userRules(), rules, 'after tsctl firewall reload');
    assert.equal(t.tsctl('network', 'create', '--subnet', '10.231.8.0/24', '-o', 'com.docker.network.bridge.name=tsdfw1', 'fwnet2').code, 0);
    assert.equal(t.tsctl('sandbox', 'create', 'fw2').code, 0);
    const c = t.tsctl('network', 'connect', '-p', `${PORT + 1}:80`, 'fwnet2', 'fw2');
    assert.equal(c.code, 0, c.err);
    assert.equal(nftPortElements().length, 2);
    assert.equal(t.tsctl('sandbox', 'rm', 'fw2').code, 0);
    assert.equal(t.tsctl('network', 'rm', 'fwnet2').code, 0);
    assert.deepEqual(userRules(), rules, 'after network create/rm and a publish');
    await t.stop();
    await t.start();
    assert.deepEqual(userRules(), rules, 'after a tsd restart');
    assert.notEqual(nc(), '', 'tsd\'s own rules are back as well');
  });
});
