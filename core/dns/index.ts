// core/dns/index.ts — the embedded resolver as one object for the daemon: record tables
// (records.ts), sockets (server.ts) and upstream forwarding (forward.ts) wired together.
//
// How the network service drives it (every call is cheap and synchronous except the socket ones):
//   const dns = createEmbeddedDns({ log, maxInFlight: 1024 });
//   dns.records.addNetwork(net.id, { internal, upstreams })            network create
//   dns.records.removeNetwork(net.id)                                  network rm
//   dns.records.addEndpoint({ networkId, sandboxId, name, aliases, shortId, ipv4, ipv6 })   connect
//   dns.records.removeEndpoint(networkId, sandboxId)                   disconnect
//   await dns.attachSandbox(sandboxId, { udp: [{ fd, family: 4 }], tcp: [{ fd }] })
//        sockets bound at 127.0.0.11:53 inside the sandbox netns (core/kernel/netns
//        bindSocketInNetns), once per sandbox; undone by detachSandbox
//   await dns.serveSandbox(sandboxId, netnsPath)                      the same, with the sockets
//        opened through the injected `openSocket` (bin/tsd passes core/kernel/netns
//        bindSocketInNetns: core/dns never enters a namespace itself)
//   dns.registry                                                       the service's DnsRegistry
//   await dns.detachSandbox(sandboxId)                                 sandbox removed: closes its
//        sockets and forgets its names everywhere (idempotent)
//   await dns.hostDns.serve({ networkId, name, addresses, port })      com.tsd.network.host_dns:
//        listeners on the gateway(s) in tsd's netns (host-dns.ts); undone by hostDns.unserve
//   dns.hostsExport                                                    <execRoot>/hosts, when
//        `hostsFile` is given (hosts-export.ts)
//   await dns.close()                                                  daemon shutdown
// A name answers from the moment addEndpoint returns and is NXDOMAIN from the moment
// removeEndpoint returns; no socket is reopened for record changes.

import fs from 'node:fs';
import type { Logger } from '../log.js';
import { DnsRecords } from './records.js';
import { DnsServer, type SandboxListeners } from './server.js';
import { Forwarder, hostUpstreams } from './forward.js';
import { EmbeddedDnsRegistry } from './registry.js';
import { HostDns } from './host-dns.js';
import { HostsExport } from './hosts-export.js';
import { UnavailableError } from '../errors.js';

export { DnsRecords, type EndpointDns, type NetworkDnsOptions } from './records.js';
export { DnsServer, type SandboxListeners, type QueryEvent } from './server.js';
export { Forwarder, hostUpstreams, parseResolvConf } from './forward.js';
export { EmbeddedDnsRegistry, type EndpointRecord } from './registry.js';
export { HostDns, HOST_DNS_PORT_KEY, hostViewId, type HostDnsServe } from './host-dns.js';
export { HostsExport } from './hosts-export.js';

/** Opens a bound socket inside a netns and returns its fd (core/kernel/netns bindSocketInNetns). */
export type NetnsSocketOpener = (
  netnsPath: string,
  o: { family: 'inet' | 'inet6'; type: 'udp' | 'tcp'; address: string; port: number },
) => number;

/** Where a sandbox's resolver listens, as in Docker. */
export const SANDBOX_DNS_ADDRESS = '127.0.0.11';

export interface EmbeddedDnsOptions {
  /** Needed for serveSandbox(). */
  openSocket?: NetnsSocketOpener;
  log?: Logger;
  /** Most forwarded queries in flight (default 1024). */
  maxInFlight?: number;
  /** Per-upstream timeout in ms (default 2000). */
  upstreamTimeoutMs?: number;
  /** TTL of local answers (default 600 s, as Docker). */
  ttl?: number;
  /** resolv.conf files to take the host's upstreams from, first with a usable server wins. */
  resolvConf?: readonly string[];
  /**
   * URL of core/kernel/udp-batch.js: serve sandbox UDP sockets from one worker thread with
   * recvmmsg/sendmmsg (server.ts `udpBatch`). Without it, Node's dgram on the main thread.
   */
  udpBatchModule?: string;
  /** Worker threads for that (default 1); each serves every sandbox socket. */
  udpThreads?: number;
  /** Where to keep the hosts-file export of host-DNS networks (e.g. /run/tsd/hosts); none without. */
  hostsFile?: string;
}

export interface EmbeddedDns {
  readonly records: DnsRecords;
  readonly server: DnsServer;
  readonly forwarder: Forwarder;
  /** The network service's DnsRegistry (core/service/hooks.ts). */
  readonly registry: EmbeddedDnsRegistry;
  /** Listeners for the host, per network (com.tsd.network.host_dns). */
  readonly hostDns: HostDns;
  readonly hostsExport: HostsExport | undefined;
  /** Listen on 127.0.0.11:`port` (default 53), UDP and TCP, inside the sandbox's netns. Undone by detachSandbox. */
  serveSandbox(sandboxId: string, netnsPath: string, port?: number): Promise<void>;
  attachSandbox(sandboxId: string, listeners: SandboxListeners): Promise<void>;
  detachSandbox(sandboxId: string): Promise<void>;
  close(): Promise<void>;
}

/** Host upstreams, re-read when resolv.conf changes (checked at most once a second). */
function cachedHostUpstreams(paths: readonly string[] | undefined): () => readonly string[] {
  const files = paths ?? ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf'];
  let list: readonly string[] = hostUpstreams(files);
  let stamp = mtimes(files);
  let checked = Date.now();
  return () => {
    const now = Date.now();
    if (now - checked < 1000) return list;
    checked = now;
    const s = mtimes(files);
    if (s !== stamp) {
      stamp = s;
      list = hostUpstreams(files);
    }
    return list;
  };
}

function closeFd(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch { /* already closed */ }
}

function mtimes(files: readonly string[]): string {
  return files.map((f) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(',');
}

export function createEmbeddedDns(o: EmbeddedDnsOptions = {}): EmbeddedDns {
  const records = new DnsRecords();
  const forwarder = new Forwarder({ maxInFlight: o.maxInFlight, timeoutMs: o.upstreamTimeoutMs });
  const server = new DnsServer({ records, forwarder, defaultUpstreams: cachedHostUpstreams(o.resolvConf), log: o.log, ttl: o.ttl,
    udpBatch: o.udpBatchModule ? { module: o.udpBatchModule, threads: o.udpThreads } : undefined,
  });
  const hostDns = new HostDns(records, server);
  const hostsExport = o.hostsFile ? new HostsExport({ records, file: o.hostsFile, log: o.log }) : undefined;
  hostsExport?.start();
  return {
    records,
    server,
    forwarder,
    registry: new EmbeddedDnsRegistry(records),
    hostDns,
    hostsExport,
    async serveSandbox(sandboxId, netnsPath, port = 53) {
      const open = o.openSocket;
      if (!open) throw new UnavailableError(`dns for sandbox ${sandboxId}: no netns socket opener configured`);
      const udp = open(netnsPath, { family: 'inet', type: 'udp', address: SANDBOX_DNS_ADDRESS, port });
      let tcp: number;
      try {
        tcp = open(netnsPath, { family: 'inet', type: 'tcp', address: SANDBOX_DNS_ADDRESS, port });
      } catch (e) {
        closeFd(udp);
        throw e;
      }
      await server.attachSandbox(sandboxId, { udp: [{ fd: udp, family: 4 }], tcp: [{ fd: tcp }] });
    },
    attachSandbox: (id, l) => server.attachSandbox(id, l),
    async detachSandbox(id) {
      records.removeSandbox(id);
      await server.detachSandbox(id);
    },
    async close() {
      await hostDns.close();
      await hostsExport?.close();
      await server.close();
      forwarder.close();
    },
  };
}
