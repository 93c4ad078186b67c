// integration/network/embedded-dns-registry.ts — the DnsRegistry seam on the real resolver
// (core/dns) for tests, until the daemon wires its own: records go into the embedded DNS, and the
// first record of a sandbox binds 127.0.0.11:53 (udp+tcp) inside its netns. Also keeps the records
// in memory, like MemoryDnsRegistry, so tests can assert what the service registered.

import { createEmbeddedDns, type EmbeddedDns } from '../../core/dns/index.js';
import type { Kernel } from '../../core/kernel/index.js';
import { MemoryDnsRegistry, type DnsRecord } from '../../core/service/hooks.js';

export class EmbeddedDnsRegistry extends MemoryDnsRegistry {
  readonly dns: EmbeddedDns = createEmbeddedDns({ resolvConf: [] });
  private readonly networks = new Set<string>();
  private readonly sandboxes = new Set<string>();

  constructor(private readonly kernel: Kernel, private readonly netnsOf: (sandboxId: string) => Promise<string>) {
    super();
  }

  override async add(r: DnsRecord): Promise<void> {
    if (!this.networks.has(r.networkId)) {
      this.dns.records.addNetwork(r.networkId, { internal: true }); // tests never forward
      this.networks.add(r.networkId);
    }
    if (!this.sandboxes.has(r.sandboxId)) {
      const ns = this.kernel.netns.open({ path: await this.netnsOf(r.sandboxId) });
      try {
        const udp = this.kernel.netns.bindSocket(ns, { family: 'inet', type: 'udp', address: '127.0.0.11', port: 53 });
        const tcp = this.kernel.netns.bindSocket(ns, { family: 'inet', type: 'tcp', address: '127.0.0.11', port: 53, reuseAddr: true });
        await this.dns.attachSandbox(r.sandboxId, { udp: [{ fd: udp, family: 4 }], tcp: [{ fd: tcp }] });
      } finally {
        ns.close();
      }
      this.sandboxes.add(r.sandboxId);
    }
    this.dns.records.addEndpoint({
      networkId: r.networkId, sandboxId: r.sandboxId, name: r.names[0]!, aliases: r.names.slice(1),
      ...(r.ipv4[0] ? { ipv4: r.ipv4[0] } : {}), ...(r.ipv6[0] ? { ipv6: r.ipv6[0] } : {}),
    });
    await super.add(r);
  }

  override async remove(networkId: string, endpointId: string): Promise<void> {
    const r = this.records.get(`${networkId}/${endpointId}`);
    if (r) {
      this.dns.records.removeEndpoint(networkId, r.sandboxId);
      if (![...this.records.values()].some((x) => x !== r && x.sandboxId === r.sandboxId)) {
        await this.dns.detachSandbox(r.sandboxId); // closes its sockets: nothing holds the netns
        this.sandboxes.delete(r.sandboxId);
      }
    }
    await super.remove(networkId, endpointId);
  }
}
