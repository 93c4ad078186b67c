// core/sandbox/embedded-dns-registry.ts — the network service's DnsRegistry seam (core/service/hooks.ts) on the
// embedded resolver: endpoint records go into the per-network tables, and the first endpoint of a
// sandbox opens its resolver sockets at 127.0.0.11:53 inside the sandbox's netns (UDP + TCP,
// bound there by core/kernel/netns and served from tsd's one event loop). Works the same for
// every driver (bridge, macvlan, overlay): nothing here depends on how the sandbox is wired.

import type { Kernel } from '../kernel/index.js';
import type { Logger } from '../log.js';
import type { DnsRecord, DnsRegistry } from '../service/hooks.js';
import { withContext } from '../errors.js';
import { SANDBOX_DNS_ADDRESS, type EmbeddedDns } from '../dns/index.js';

interface EndpointRef {
  networkId: string;
  sandboxId: string;
}

/**
 * `dns` must be created with an `openSocket` (core/daemon.ts passes core/kernel/netns's
 * bindSocketInNetns). Records go through dns.registry; this layer adds what the resolver cannot
 * know alone: which networks are internal, when a sandbox needs its sockets, when it is gone.
 */
export function createEmbeddedDnsRegistry(
  dns: EmbeddedDns, kernel: Pick<Kernel, 'netns' | 'linksIn'>, log: Logger, o: { hostDnsPort?: number } = {},
): DnsRegistry {
  const endpoints = new Map<string, EndpointRef>();
  const sandboxes = new Set<string>();

  async function listen(sandboxId: string, netnsPath: string): Promise<void> {
    try {
      // 127.0.0.11 lives on lo: an adopted netns may still have it down.
      const ns = kernel.netns.open({ path: netnsPath });
      try { await kernel.linksIn(ns).setUp('lo'); } finally { kernel.netns.release(ns); }
      await dns.serveSandbox(sandboxId, netnsPath);
    } catch (e) {
      throw withContext(`embedded DNS for sandbox ${sandboxId.slice(0, 12)} (${SANDBOX_DNS_ADDRESS}:53 in ${netnsPath})`, e);
    }
  }

  return {
    async add(r: DnsRecord) {
      if (!dns.records.hasNetwork(r.networkId)) {
        dns.records.addNetwork(r.networkId, { internal: r.internal, ...(r.upstreams?.length ? { upstreams: r.upstreams } : {}) });
      }
      if (!sandboxes.has(r.sandboxId)) {
        await listen(r.sandboxId, r.netnsPath);
        sandboxes.add(r.sandboxId);
      }
      // Docker resolves the container's short id too.
      await dns.registry.add({ ...r, names: [...r.names, r.sandboxId.slice(0, 12)] });
      endpoints.set(r.endpointId, { networkId: r.networkId, sandboxId: r.sandboxId });
    },
    async remove(networkId, endpointId) {
      const ref = endpoints.get(endpointId);
      if (!ref || ref.networkId !== networkId) return;
      endpoints.delete(endpointId);
      await dns.registry.remove(networkId, endpointId);
      log.debug('dns records removed', { network: networkId, sandbox: ref.sandboxId });
    },
    async removeSandbox(sandboxId) {
      if (!sandboxes.delete(sandboxId)) return;
      for (const [id, ref] of endpoints) if (ref.sandboxId === sandboxId) endpoints.delete(id);
      await dns.detachSandbox(sandboxId);
    },
    async removeNetwork(networkId) {
      await dns.hostDns.unserve(networkId);
      if (dns.records.hasNetwork(networkId)) dns.records.removeNetwork(networkId);
    },
    addHostDns: (n) => dns.hostDns.serve({ ...n, port: o.hostDnsPort ?? 53 }),
    removeHostDns: (networkId) => dns.hostDns.unserve(networkId),
    hostDnsAddresses: (networkId) => dns.hostDns.addresses(networkId),
  };
}
