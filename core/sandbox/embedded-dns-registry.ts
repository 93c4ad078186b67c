// core/sandbox/embedded-dns-registry.ts — the network service's DnsRegistry seam (core/service/hooks.ts) on the
// embedded resolver: endpoint records go into the per-network tables, and the first endpoint of a
// sandbox opens its resolver sockets at 127.0.0.11:53 inside the sandbox's netns (UDP + TCP,
// bound there by core/kernel/netns and served from tsd's one event loop). Works the same for
// every driver (bridge, macvlan, overlay): nothing here depends on how the sandbox is wired.

import type { Kernel } from '../kernel/index.js';
import type { Logger } from '../log.js';
import type { DnsRecord, DnsRegistry } from '../service/hooks.js';
import { withContext } from '../errors.js';
import type { EmbeddedDns } from '../dns/index.js';

export const EMBEDDED_DNS_ADDRESS = '127.0.0.11';

interface EndpointRef {
  networkId: string;
  sandboxId: string;
}

export function createEmbeddedDnsRegistry(dns: EmbeddedDns, kernel: Pick<Kernel, 'netns' | 'linksIn'>, log: Logger): DnsRegistry {
  const endpoints = new Map<string, EndpointRef>();
  /** Sandboxes with open resolver sockets → how many endpoints they have. */
  const sandboxes = new Map<string, number>();
  const networks = new Set<string>();

  async function listen(sandboxId: string, netnsPath: string): Promise<void> {
    const ns = kernel.netns.open({ path: netnsPath });
    const fds: number[] = [];
    try {
      // 127.0.0.11 lives on lo: an adopted netns may still have it down.
      const lo = kernel.linksIn(ns);
      await lo.setUp('lo');
      fds.push(kernel.netns.bindSocket(ns, { family: 'inet', type: 'udp', address: EMBEDDED_DNS_ADDRESS, port: 53 }));
      fds.push(kernel.netns.bindSocket(ns, { family: 'inet', type: 'tcp', address: EMBEDDED_DNS_ADDRESS, port: 53, reuseAddr: true }));
      await dns.attachSandbox(sandboxId, { udp: [{ fd: fds[0]!, family: 4 }], tcp: [{ fd: fds[1]! }] });
    } catch (e) {
      throw withContext(`embedded DNS for sandbox ${sandboxId.slice(0, 12)} (${EMBEDDED_DNS_ADDRESS}:53 in ${netnsPath})`, e);
    } finally {
      kernel.netns.release(ns);
    }
  }

  return {
    async add(r: DnsRecord) {
      if (!networks.has(r.networkId)) {
        dns.records.addNetwork(r.networkId, { internal: r.internal, ...(r.upstreams?.length ? { upstreams: r.upstreams } : {}) });
        networks.add(r.networkId);
      }
      if (!sandboxes.has(r.sandboxId)) {
        await listen(r.sandboxId, r.netnsPath);
        sandboxes.set(r.sandboxId, 0);
      }
      const [name, ...aliases] = r.names;
      dns.records.addEndpoint({
        networkId: r.networkId, sandboxId: r.sandboxId, name: name ?? r.sandboxId.slice(0, 12), aliases,
        shortId: r.sandboxId.slice(0, 12),
        ...(r.ipv4[0] ? { ipv4: r.ipv4[0] } : {}), ...(r.ipv6[0] ? { ipv6: r.ipv6[0] } : {}),
      });
      endpoints.set(r.endpointId, { networkId: r.networkId, sandboxId: r.sandboxId });
      sandboxes.set(r.sandboxId, (sandboxes.get(r.sandboxId) ?? 0) + 1);
    },
    async remove(networkId, endpointId) {
      const ref = endpoints.get(endpointId);
      if (!ref || ref.networkId !== networkId) return;
      endpoints.delete(endpointId);
      dns.records.removeEndpoint(networkId, ref.sandboxId);
      const left = (sandboxes.get(ref.sandboxId) ?? 1) - 1;
      sandboxes.set(ref.sandboxId, left);
      log.debug('dns records removed', { network: networkId, sandbox: ref.sandboxId });
    },
    async removeSandbox(sandboxId) {
      if (!sandboxes.has(sandboxId)) return;
      sandboxes.delete(sandboxId);
      for (const [id, ref] of endpoints) if (ref.sandboxId === sandboxId) endpoints.delete(id);
      await dns.detachSandbox(sandboxId);
    },
    async removeNetwork(networkId) {
      if (!networks.delete(networkId)) return;
      dns.records.removeNetwork(networkId);
    },
  };
}
