// core/dns/registry.ts — the network service's DnsRegistry seam (core/service/hooks.ts) backed by
// the embedded resolver's tables. Structurally typed on purpose: core/dns does not import the
// services (architecture rule), the service passes this object where it expects a DnsRegistry.
//
// Mapping: record.names[0] is the sandbox name (PTR target), the rest are aliases (the service
// includes the short id among them); the first IPv4 and first IPv6 are registered. A network
// the resolver has not seen yet is added as external; the service declares internal networks
// with dns.records.addNetwork(id, { internal: true }) when it creates them.

import { InvalidArgumentError } from '../errors.js';
import type { DnsRecords } from './records.js';

/** Same shape as core/service/hooks.ts DnsRecord. */
export interface EndpointRecord {
  networkId: string;
  endpointId: string;
  sandboxId: string;
  names: string[];
  ipv4: string[];
  ipv6: string[];
}

export class EmbeddedDnsRegistry {
  /** `${networkId}/${endpointId}` → sandboxId, to undo by endpoint id */
  private readonly endpoints = new Map<string, string>();

  constructor(private readonly records: DnsRecords) {}

  /** Names answer as soon as this resolves. Undone by remove(networkId, endpointId). */
  async add(r: EndpointRecord): Promise<void> {
    const [name, ...aliases] = r.names;
    if (!name) throw new InvalidArgumentError(`names: endpoint ${r.endpointId} has no name`);
    if (!this.records.hasNetwork(r.networkId)) this.records.addNetwork(r.networkId);
    this.records.addEndpoint({ networkId: r.networkId, sandboxId: r.sandboxId, name, aliases, ipv4: r.ipv4[0], ipv6: r.ipv6[0] });
    this.endpoints.set(`${r.networkId}/${r.endpointId}`, r.sandboxId);
  }

  /** NXDOMAIN from the next query on. Idempotent. */
  async remove(networkId: string, endpointId: string): Promise<void> {
    const key = `${networkId}/${endpointId}`;
    const sandboxId = this.endpoints.get(key);
    if (sandboxId === undefined) return;
    this.endpoints.delete(key);
    this.records.removeEndpoint(networkId, sandboxId);
  }
}
