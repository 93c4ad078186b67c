// integration/firewall/watch.test.ts — the backends' watch() and check() against the kernel,
// without a daemon: tsd's own transactions (in-process libnftables and netlink elements, the
// spawned `nft -f` fallback, iptables-nft-restore children) are never reported, while the same
// change made by another process is; check() names what a partial flush removed. The daemon's
// repair on top of it is integration/daemon/firewall-watch.test.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Firewall } from '../../core/kernel/firewall/firewall.js';
import { IptablesFirewall } from '../../core/kernel/firewall/iptables/backend.js';
import { NftablesFirewall } from '../../core/kernel/firewall/nftables/backend.js';
import { ExecNftTransport } from '../../core/kernel/firewall/nftables/transport-exec.js';
import { LibnftablesTransport } from '../../core/kernel/firewall/nftables/transport-libnftables.js';
import type { FirewallDamage, FirewallNetwork, PortMapping } from '../../core/kernel/firewall/types.js';
import { createMemoryLogger, silentLogger, type Logger } from '../../core/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const net: FirewallNetwork = { id: 'w', bridge: 'tsdwatch0', subnets: ['10.231.30.0/24'], masquerade: true, internal: false, icc: true, isolate: true };
const ports = (n: number): PortMapping[] => Array.from({ length: n }, (_, i) => ({ networkId: 'w', proto: 'tcp' as const, hostPort: 30000 + i, containerIp: '10.231.30.2', containerPort: 80 }));

function run(cmd: string, ...args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** Drive the backend through its own operations with a watch open: no report may come. */
async function ownOperations(fw: Firewall, reports: FirewallDamage[]): Promise<void> {
  await fw.reload({ networks: [net], ports: [] });
  await fw.publishPorts(ports(50));
  await fw.unpublishPorts(ports(50).slice(0, 25));
  await fw.addNetwork({ ...net, icc: false });
  await fw.reload({ networks: [net], ports: ports(10) });
  await sleep(300);
  assert.equal(reports.length, 0, `tsd's own transactions are not damage: ${JSON.stringify(reports)}`);
}

for (const [name, make] of [
  ['libnftables (in-process)', (log: Logger) => new NftablesFirewall(new LibnftablesTransport(), log)],
  ['spawned nft -f (fallback)', (log: Logger) => new NftablesFirewall(new ExecNftTransport(), log)],
] as const) {
  describe(`firewall watch: nftables backend via ${name}`, function () {
    this.timeout(60_000);
    let fw: NftablesFirewall;
    const reports: FirewallDamage[] = [];
    const log = createMemoryLogger();
    let close = () => undefined as void;

    before(function () {
      if (process.getuid?.() !== 0) this.skip();
      fw = make(log);
      close = fw.watch((d) => reports.push(d)).close;
    });
    after(async () => {
      close();
      await fw?.purge().catch(() => undefined);
      fw?.close();
      spawnSync('nft', ['delete', 'table', 'inet', 'tsd']);
    });

    it('reports nothing for tsd\'s own operations', () => ownOperations(fw, reports));

    it('check() is [] when intact and names a flushed chain; the flush is reported with its origin', async () => {
      assert.deepEqual(await fw.check(), []);
      run('nft', 'flush', 'chain', 'inet', 'tsd', 'forward');
      assert.deepEqual(await fw.check(), ['rules of chain inet tsd forward']);
      await sleep(200);
      assert.equal(reports.length, 1);
      assert.deepEqual(reports[0]!.what, ['rules of chain inet tsd forward']);
      assert.equal(reports[0]!.certain, true);
      assert.match(reports[0]!.by ?? '', /^nft pid \d+$/);
    });

    it('a user rule added to the user chain is not damage; the table deleted is', async () => {
      reports.length = 0;
      run('nft', 'add', 'rule', 'inet', 'tsd', 'user', 'ip', 'daddr', '10.231.30.9', 'drop');
      run('nft', 'flush', 'chain', 'inet', 'tsd', 'user');
      await sleep(200);
      assert.equal(reports.length, 0);
      run('nft', 'delete', 'table', 'inet', 'tsd');
      await sleep(200);
      assert.deepEqual(reports.map((r) => r.what), [['table inet tsd']]);
      assert.deepEqual(await fw.check(), ['table inet tsd']);
    });

    it('the user chain\'s rules taken by the damaging flush are put back by the next rebuild; ones that no longer load are dropped with a warning', async () => {
      const desired = { networks: [net], ports: ports(3) };
      await fw.reload(desired);
      const userRules = () => spawnSync('nft', ['list', 'chain', 'inet', 'tsd', 'user'], { encoding: 'utf8' }).stdout
        .split('\n').map((l) => l.trim()).filter((l) => l && !/^(table|chain) .*\{$|^\}$/.test(l));
      run('nft', 'add', 'rule', 'inet', 'tsd', 'user', 'ip', 'daddr', '10.231.30.9', 'drop');
      await sleep(200); // the watch re-reads the edited chain
      run('nft', 'flush', 'table', 'inet', 'tsd'); // empties every chain, the user's too
      await sleep(200);
      await fw.reload(desired); // what the daemon's repair does
      assert.deepEqual(userRules(), ['ip daddr 10.231.30.9 drop']);
      assert.deepEqual(await fw.check(), []);
      // A rule that jumps to a chain of the user's inside tsd's table cannot be re-added after a
      // flush ruleset took that chain: tsd's rules come back without it, with a warning.
      run('nft', 'add', 'chain', 'inet', 'tsd', 'mine');
      run('nft', 'add', 'rule', 'inet', 'tsd', 'user', 'jump', 'mine');
      await sleep(200);
      run('nft', 'flush', 'ruleset');
      await sleep(200);
      await fw.reload(desired);
      assert.deepEqual(await fw.check(), []);
      assert.deepEqual(userRules(), []);
      const warn = log.lines.find((l) => l.msg === 'user chain rules from before the flush could not be re-added: dropped');
      assert.match(String(warn?.rules), /jump mine/);
    });
  });
}

describe('firewall watch: iptables backend, nft mode', function () {
  this.timeout(60_000);
  let fw: IptablesFirewall;
  const reports: FirewallDamage[] = [];
  let close = () => undefined as void;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    fw = new IptablesFirewall('nft', silentLogger);
    close = fw.watch((d) => reports.push(d), { checkIntervalMs: 0 }).close;
  });
  after(async () => {
    close();
    await fw?.purge().catch(() => undefined);
  });

  it('reports nothing for tsd\'s own iptables-nft-restore batches', () => ownOperations(fw, reports));

  it('a deleted jump is uncertain and check() confirms it; TSD-USER rules are the user\'s', async () => {
    assert.deepEqual(await fw.check(), []);
    run('iptables-nft', '-A', 'TSD-USER', '-d', '10.231.30.9/32', '-j', 'DROP');
    run('iptables-nft', '-F', 'TSD-USER');
    await sleep(200);
    assert.equal(reports.length, 0);
    run('iptables-nft', '-D', 'FORWARD', '-j', 'TSD-FORWARD');
    await sleep(200);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.certain, false);
    assert.deepEqual(await fw.check(), ['iptables jump filter FORWARD -j TSD-FORWARD']);
    run('iptables-nft', '-t', 'nat', '-F', 'TSD-DNAT');
    await sleep(200);
    assert.deepEqual(reports[1], { what: ['rules of chain ip nat TSD-DNAT'], certain: true, by: reports[1]!.by });
    assert.deepEqual(await fw.check(), ['iptables jump filter FORWARD -j TSD-FORWARD', 'iptables rules of chain TSD-DNAT (0 of 10)']);
  });
});
