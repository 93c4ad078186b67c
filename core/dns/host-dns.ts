// core/dns/host-dns.ts — resolver listeners for the host (containers/aardvark-dns#82, #508): a
// network with `com.tsd.network.host_dns=true` gets UDP and TCP listeners on its gateway
// address(es) in tsd's own netns (the host side of the bridge), answering exactly that
// network's local names — name, aliases (wildcards too), short id, PTR — also as
// "<name>.<network>" so a resolver can route the domain there (docs/dns.md). Every other name
// is REFUSED (NXDOMAIN inside the network's zone): a host listener never forwards, so it can
// never become an open resolver on the bridge. tsd never edits the host's resolver or /etc.
//
// Interface (core/sandbox/embedded-dns-registry.ts is the user):
//   await hostDns.serve({ networkId, name, addresses, port })  → ["10.1.0.1:53", …]
//        undone by unserve(networkId); a port in use is a ConflictError naming the address,
//        the port and the daemon config key (HOST_DNS_PORT_KEY); nothing stays half-made
//   await hostDns.unserve(networkId)                            idempotent
//   hostDns.addresses(networkId)                                what is served now
// Answers come from the same tables (records.addHostView) and, for UDP, the same worker
// threads as the sandboxes' resolvers.

import { ConflictError, withContext } from '../errors.js';
import type { DnsRecords } from './records.js';
import type { DnsServer } from './server.js';

/** The daemon config key (and flag) that moves the host listeners off port 53. */
export const HOST_DNS_PORT_KEY = 'host-dns-port';

/** The record view id of a network's host listener (never a sandbox id: those are hex). */
export const hostViewId = (networkId: string): string => `host:${networkId}`;

export interface HostDnsServe {
  networkId: string;
  /** The network name: the zone "<name>.<network>" answers in. */
  name: string;
  /** Gateway addresses on the host side (IPv4 and IPv6). */
  addresses: readonly string[];
  port: number;
}

export class HostDns {
  private readonly served = new Map<string, string[]>();

  constructor(private readonly records: DnsRecords, private readonly server: DnsServer) {}

  /** Listen for `networkId` on every address. Replaces an earlier serve of the same network. */
  async serve(s: HostDnsServe): Promise<string[]> {
    await this.unserve(s.networkId);
    const viewId = hostViewId(s.networkId);
    if (!this.records.hasNetwork(s.networkId)) this.records.addNetwork(s.networkId);
    this.records.addHostView(viewId, s.networkId, s.name);
    const out: string[] = [];
    try {
      for (const address of s.addresses) {
        let port: number;
        try {
          port = await this.server.listen({ sandboxId: viewId, address, port: s.port });
        } catch (e) {
          if (e instanceof ConflictError) {
            throw new ConflictError(
              `host DNS for network ${s.name}: ${address}:${s.port} is in use (EADDRINUSE; another DNS server such as dnsmasq?); ` +
              `free it or set the daemon config key ${HOST_DNS_PORT_KEY} to another port`, { cause: e });
          }
          throw withContext(`host DNS for network ${s.name} on ${address}:${s.port}`, e);
        }
        out.push(address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
      }
    } catch (e) {
      await this.server.detachSandbox(viewId);
      this.records.removeHostView(viewId);
      throw e;
    }
    this.served.set(s.networkId, out);
    return out;
  }

  /** Close the network's host listeners; its names stop answering there. Idempotent. */
  async unserve(networkId: string): Promise<void> {
    const viewId = hostViewId(networkId);
    this.served.delete(networkId);
    this.records.removeHostView(viewId);
    await this.server.detachSandbox(viewId);
  }

  addresses(networkId: string): string[] {
    return [...(this.served.get(networkId) ?? [])];
  }

  async close(): Promise<void> {
    for (const id of [...this.served.keys()]) await this.unserve(id);
  }
}
