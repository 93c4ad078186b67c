// integration/network/peers.test.ts — regression tests for peer complaints (docs/peers-checklist.md)
// on the real kernel: the order and completeness of teardown when a caller skips steps.
// Runs inside `unshare --net --mount`; everything is removed in after().

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execa } from 'execa';
import type { Kernel } from '../../core/kernel/index.js';
import type { Firewall } from '../../core/kernel/firewall/firewall.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { scopeStore } from '../../core/store/scoped.js';
import { createBridgeDriver } from '../../drivers/network/bridge/index.js';
import { dial, inNs, ipJ, makeStack, nftElements, stopServers, type Stack } from './stack.js';

/** Wrap one method of an object so each call is recorded in `log` before it runs. */
function recording<T extends object>(target: T, methods: string[], log: string[], tag: string): T {
  return new Proxy(target, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv) as unknown;
      if (typeof v !== 'function') return v;
      if (typeof prop === 'string' && methods.includes(prop)) {
        return (...args: unknown[]) => {
          log.push(`${tag}.${prop}`);
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        };
      }
      return (v as (...a: unknown[]) => unknown).bind(t);
    },
  });
}

describe('peer complaints: teardown order and leftovers (real kernel)', function () {
  this.timeout(60_000);
  let s: Stack;
  const nsPath = () => `${s.root}/peers-ns`;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    s = await makeStack(new MemoryStore());
    fs.writeFileSync(nsPath(), '');
    await execa('unshare', [`--net=${nsPath()}`, 'true']);
  });

  after(async () => {
    await stopServers();
    if (!s) return;
    await execa('umount', [nsPath()], { reject: false });
    for (const x of await s.services.sandboxes.list()) await s.services.sandboxes.remove(x.Id).catch(() => undefined);
    for (const n of await s.services.networks.list()) await s.services.networks.remove(n.Id, { force: true }).catch(() => undefined);
    fs.rmSync(s.root, { recursive: true, force: true });
  });

  it('netavark#1482: DeleteEndpoint with ports still published removes the DNAT elements before the veth', async () => {
    const calls: string[] = [];
    const kernel: Kernel = {
      ...s.kernel,
      links: recording(s.kernel.links, ['deleteLinkIfExists', 'setLink'], calls, 'links'),
      firewall: recording(s.kernel.firewall as Firewall, ['unpublishPorts'], calls, 'firewall'),
    };
    const bridge = createBridgeDriver({ log: silentLogger, store: scopeStore(new MemoryStore(), 'b/'), kernel, dataDir: s.root, config: {} });
    const net = 'c'.repeat(64);
    const ep = 'd'.repeat(64);
    await bridge.createNetwork({
      networkId: net, options: { generic: {}, enableIpv4: true, enableIpv6: false, internal: false },
      ipv4Data: [{ addressSpace: 'x', pool: '10.87.0.0/24', gateway: '10.87.0.1/24' }], ipv6Data: [],
    });
    try {
      await bridge.createEndpoint({ networkId: net, endpointId: ep, interface: { address: '10.87.0.2/24' }, options: {} });
      await bridge.join({ networkId: net, endpointId: ep, sandboxKey: nsPath(), options: {}, sandboxIfname: 'eth0' });
      await bridge.programExternalConnectivity({
        networkId: net, endpointId: ep,
        options: { portBindings: [{ proto: 'tcp', ip: '', port: 80, hostIp: '', hostPort: 18781, hostPortEnd: 18781 }] },
      });
      assert.equal((await nftElements('pub4any')).length, 1, 'the port is published');
      const veth = `veth${ep.slice(0, 11)}`;
      assert.equal((await ipJ(['link', 'show', 'dev', veth])).length, 1, 'the veth exists');

      // dockerd after a crash, or a plugin caller that skips RevokeExternalConnectivity and Leave.
      calls.length = 0;
      await bridge.deleteEndpoint(net, ep);
      const unpublish = calls.indexOf('firewall.unpublishPorts');
      // The veth leaves service (down, into the reap group) or is deleted outright: either way after the rules.
      const unlink = calls.findIndex((c) => c === 'links.setLink' || c === 'links.deleteLinkIfExists');
      assert.ok(unpublish >= 0 && unlink >= 0, `both steps ran: ${calls.join(', ')}`);
      assert.ok(unpublish < unlink, `rules before the link, got: ${calls.join(', ')}`);
      assert.deepEqual(await nftElements('pub4any'), [], 'no DNAT element left');
      // Retired veths are deleted in a batch a few ms later.
      let gone = false;
      for (let i = 0; i < 40 && !gone; i++) {
        gone = (await execa('ip', ['-j', 'link', 'show', 'dev', veth], { reject: false })).exitCode !== 0;
        if (!gone) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(gone, 'the veth is gone');
    } finally {
      await bridge.deleteNetwork(net);
    }
    assert.deepEqual((await ipJ(['link', 'show'])).filter((l: any) => l.ifname === `tsd-${net.slice(0, 11)}`), [], 'bridge gone');
  });

  it('libnetwork#2501: an IPv6 published port is reachable over IPv6 through the host address; unpublished on disconnect', async () => {
    await s.services.networks.create({
      name: 'p6', enableIpv6: true,
      ipam: { config: [{ subnet: '10.86.6.0/24' }, { subnet: 'fd00:86:6::/64', gateway: 'fd00:86:6::1' }] },
    });
    await s.services.sandboxes.create({ name: 'web6' });
    const sb = await s.services.sandboxes.inspect('web6');
    await s.services.networks.connect({
      network: 'p6', sandbox: 'web6', portBindings: [{ proto: 'tcp', ip: '', port: 80, hostIp: '', hostPort: 18786, hostPortEnd: 18786 }],
    });
    assert.equal((await nftElements('pub6any')).length, 1, 'one v6 element');
    // socat's TCP-LISTEN is IPv4 only: listen on v6 here, answering with the peer address.
    const srv = execa('nsenter', [`--net=${sb.NetnsPath}`, '--', 'socat', 'TCP6-LISTEN:80,reuseaddr,fork', 'EXEC:printenv SOCAT_PEERADDR'], { reject: false, stdio: 'ignore' });
    try {
      for (let i = 0; i < 100; i++) {
        if (String((await inNs(sb.NetnsPath, ['ss', '-Hltn', 'sport = :80'])).stdout).includes(':80')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const peer = await dial(undefined, 'tcp', '[fd00:86:6::1]', 18786);
      assert.ok(peer, 'reached over IPv6 through the host address');
      // socat prints the full form: [fd00:0086:…]; URL gives the canonical one.
      assert.equal(new URL(`http://${peer}/`).hostname, '[fd00:86:6::1]', `the source is the host's address on the bridge, got ${peer}`);
    } finally {
      if (srv.pid) process.kill(srv.pid, 'SIGKILL');
      await srv.catch(() => undefined);
    }
    await s.services.networks.disconnect('p6', 'web6');
    assert.deepEqual(await nftElements('pub6any'), [], 'the v6 element is removed');
    await s.services.sandboxes.remove('web6');
    await s.services.networks.remove('p6');
  });
});
