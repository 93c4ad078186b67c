// integration/firewall/traffic-suite.ts — the behaviour every firewall backend must show with real
// traffic: DNAT from outside, from the host's 127.0.0.1 and hairpin; masquerade; isolation and
// its removal; internal networks; drift repair and reload; host firewall rules still apply; purge. Backend files add checks of
// their own kernel state (nft -j / iptables-save).

import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { Firewall } from '../../core/kernel/firewall/firewall.js';
import type { FirewallNetwork, PortMapping } from '../../core/kernel/firewall/types.js';
import { HOST_IP, IP, NS, OUT_IP, peerSeen, setup, teardown } from './topology.js';

export const net1: FirewallNetwork = { id: 'net1', bridge: 'tsdfw-b1', subnets: ['10.71.1.0/24'], masquerade: true, internal: false, icc: true, isolate: true };
export const net2: FirewallNetwork = { id: 'net2', bridge: 'tsdfw-b2', subnets: ['10.71.2.0/24'], masquerade: true, internal: false, icc: true, isolate: true };
export const web: PortMapping = { networkId: 'net1', proto: 'tcp', hostPort: 8080, containerIp: IP.s1, containerPort: 80 };

export interface BackendHooks {
  create(): Promise<Firewall>;
  /** Break tsd's state behind its back (delete the DNAT of `web`). */
  sabotage(): Promise<void>;
  /** True when no trace of tsd is left in this backend's kernel state. */
  isClean(): Promise<boolean>;
  /** What a user does in the hook chain (nft `inet tsd user` / iptables `TSD-USER`), with the backend's own tool. */
  user: {
    /** Append a rule matching src (optional) → dst tcp dport, with that verdict, in every family's hook. */
    add(r: UserRule): Promise<void>;
    /** Remove the rule again (the user's own delete, not tsd's). */
    remove(r: UserRule): Promise<void>;
    /** Rules in the hook chain as the kernel lists them (one string each). */
    list(): Promise<string[]>;
  };
}

export interface UserRule {
  src?: string;
  dst: string;
  /** Absent: any port. */
  dport?: number;
  verdict: 'drop' | 'accept';
}

export function trafficSuite(hooks: BackendHooks): void {
  let fw: Firewall;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await setup();
    fw = await hooks.create();
    await fw.purge();
    await fw.addNetwork(net1);
    await fw.addNetwork(net2);
    await fw.publishPorts([web]);
  });

  after(async () => {
    try {
      await fw?.purge();
    } finally {
      await teardown();
    }
  });

  it('DNATs a published port from outside, keeping the client address', async () => {
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  it('reaches a published port from the host through 127.0.0.1 (masqueraded to the bridge)', async () => {
    assert.equal(await peerSeen(undefined, '127.0.0.1', 8080), IP.gw1);
  });

  it('hairpin: a sandbox reaches its own and its neighbour\'s published port via the host address', async () => {
    assert.equal(await peerSeen(NS.s1, HOST_IP, 8080), IP.gw1);
    assert.equal(await peerSeen(NS.s3, HOST_IP, 8080), IP.gw1);
  });

  it('masquerades egress (outside has no route back to the sandboxes)', async () => {
    assert.equal(await peerSeen(NS.s1, OUT_IP, 9000), HOST_IP);
  });

  it('isolates networks from each other, and lifting isolation is a policy change', async () => {
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined);
    await fw.addNetwork({ ...net1, isolate: false });
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined, 'net2 still isolates');
    await fw.addNetwork({ ...net2, isolate: false });
    // nftables routes between tsd bridges unmasqueraded; iptables (Docker's rule shape,
    // `-s subnet ! -o bridge`) masquerades to the other bridge's address.
    assert.ok([IP.s1, IP.gw2].includes(String(await peerSeen(NS.s1, IP.s2, 80))));
    await fw.addNetwork(net1);
    await fw.addNetwork(net2);
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined);
  });

  it('an internal network has no egress and no ingress', async () => {
    await fw.addNetwork({ ...net2, internal: true });
    assert.equal(await peerSeen(NS.s2, OUT_IP, 9000), undefined);
    await fw.addNetwork(net2);
    assert.equal(await peerSeen(NS.s2, OUT_IP, 9000), HOST_IP);
  });

  it('unpublish stops the DNAT; publish again restores it', async () => {
    await fw.unpublishPorts([web]);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.unpublishPorts([web]);
    await fw.publishPorts([web]);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  it('repairs drift: a batch that fails on a missing rule rebuilds from the model', async () => {
    await hooks.sabotage();
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    const extra: PortMapping = { ...web, hostPort: 8081 };
    await fw.publishPorts([extra]);
    await fw.unpublishPorts([web]); // its rule is gone: the delete fails, the rebuild succeeds
    assert.equal(await peerSeen(NS.out, HOST_IP, 8081), OUT_IP);
    assert.deepEqual(fw.state().ports.map((p) => p.hostPort), [8081]);
    await fw.unpublishPorts([extra]);
  });

  it('reload rebuilds everything from the desired state', async () => {
    await fw.publishPorts([web]);
    await hooks.sabotage();
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.reload({ networks: [net1, net2], ports: [web] });
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined);
  });

  it('the host firewall still applies: a drop in another table stops a published port (moby#22054, ufw)', async () => {
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
    // What ufw or firewalld do: their own forward chain, in their own table. tsd's accept does not
    // override it (an nft accept ends only its own base chain).
    const table = ['inet', 'tsdfwtest_hostfw'];
    await execa('nft', ['-f', '-'], { input: `table ${table.join(' ')} {\n chain hostfw {\n  type filter hook forward priority 10; policy accept;\n  ip daddr ${IP.s1} tcp dport 80 drop\n }\n}\n` });
    try {
      assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined, 'dropped by the host firewall');
    } finally {
      await execa('nft', ['delete', 'table', ...table], { reject: false });
    }
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  const dropWeb: UserRule = { dst: IP.s1, dport: 80, verdict: 'drop' };

  it('user hook chain (DOCKER-USER, moby#22054): a drop there stops a published port; removing it restores the port', async () => {
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
    assert.deepEqual(await hooks.user.list(), [], 'tsd put no rule of its own into the hook');
    await hooks.user.add(dropWeb);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined, 'dropped by the user rule');
    assert.equal(await peerSeen(NS.s1, OUT_IP, 9000), HOST_IP, 'other traffic still flows');
    await hooks.user.remove(dropWeb);
    assert.deepEqual(await hooks.user.list(), []);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  it('user hook chain: decides before tsd: a drop stops traffic between two networks tsd accepts, an accept overrides isolation', async () => {
    await fw.addNetwork({ ...net1, isolate: false });
    await fw.addNetwork({ ...net2, isolate: false });
    try {
      assert.ok(await peerSeen(NS.s1, IP.s2, 80), 'tsd lets net1 reach net2');
      const dropS2: UserRule = { src: IP.s1, dst: IP.s2, dport: 80, verdict: 'drop' };
      await hooks.user.add(dropS2);
      assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined, 'dropped by the user rule');
      await hooks.user.remove(dropS2);
      assert.ok(await peerSeen(NS.s1, IP.s2, 80));
    } finally {
      await fw.addNetwork(net1);
      await fw.addNetwork(net2);
    }
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined, 'isolated again');
    const there: UserRule = { src: IP.s1, dst: IP.s2, dport: 80, verdict: 'accept' };
    const back: UserRule = { src: IP.s2, dst: IP.s1, verdict: 'accept' };
    await hooks.user.add(there);
    await hooks.user.add(back);
    try {
      assert.ok(await peerSeen(NS.s1, IP.s2, 80), 'the user accept ends the forward path before tsd isolates');
    } finally {
      await hooks.user.remove(back);
      await hooks.user.remove(there);
    }
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined);
  });

  it('user hook chain: tsd never flushes it: network add/rm, publish/unpublish, drift repair, reload and a restart keep the rule', async () => {
    await hooks.user.add(dropWeb);
    try {
      const rules = await hooks.user.list();
      assert.equal(rules.length > 0, true);
      const net3: FirewallNetwork = { ...net1, id: 'net3', bridge: 'tsdfw-b3', subnets: ['10.71.3.0/24'] };
      await fw.addNetwork(net3);
      await fw.publishPorts([{ ...web, networkId: 'net3', hostPort: 8083, containerIp: '10.71.3.2' }]);
      await fw.unpublishPorts([web]);
      await fw.publishPorts([web]);
      await fw.removeNetwork('net3');
      assert.deepEqual(await hooks.user.list(), rules, 'after network add/rm and publish/unpublish');
      await hooks.sabotage(); // the next batch fails and takes the drift-repair rebuild
      await fw.publishPorts([{ ...web, hostPort: 8084 }]);
      await fw.unpublishPorts([web, { ...web, hostPort: 8084 }]);
      await fw.publishPorts([web]);
      assert.deepEqual(await hooks.user.list(), rules, 'after a drift-repair rebuild');
      await fw.reload({ networks: [net1, net2], ports: [web] });
      assert.deepEqual(await hooks.user.list(), rules, 'after reload');
      assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined, 'still dropped after reload');
      // A daemon restart: a new backend instance whose startup repair is reload().
      const again = await hooks.create();
      try {
        await again.reload({ networks: [net1, net2], ports: [web] });
        assert.deepEqual(await hooks.user.list(), rules, 'after a restart');
        assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined, 'still dropped after a restart');
      } finally {
        (again as { close?: () => void }).close?.();
      }
    } finally {
      // Best effort: a lost rule must fail the assertions above, not this cleanup.
      await hooks.user.remove(dropWeb).catch(() => undefined);
    }
    assert.deepEqual(await hooks.user.list(), []);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  it('purge leaves nothing behind, and the next operation starts afresh', async () => {
    await fw.purge();
    assert.ok(await hooks.isClean());
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.addNetwork(net1);
    await fw.publishPorts([web]);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
    await fw.removeNetwork('net1');
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.purge();
    assert.ok(await hooks.isClean());
  });
}
