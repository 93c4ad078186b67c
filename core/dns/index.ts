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
//   await dns.detachSandbox(sandboxId)                                 sandbox removed: closes its
//        sockets and forgets its names everywhere (idempotent)
//   await dns.close()                                                  daemon shutdown
// A name answers from the moment addEndpoint returns and is NXDOMAIN from the moment
// removeEndpoint returns; no socket is reopened for record changes.

import fs from 'node:fs';
import type { Logger } from '../log.js';
import { DnsRecords } from './records.js';
import { DnsServer, type SandboxListeners } from './server.js';
import { Forwarder, hostUpstreams } from './forward.js';

export { DnsRecords, type EndpointDns, type NetworkDnsOptions } from './records.js';
export { DnsServer, type SandboxListeners, type QueryEvent } from './server.js';
export { Forwarder, hostUpstreams, parseResolvConf } from './forward.js';

export interface EmbeddedDnsOptions {
  log?: Logger;
  /** Most forwarded queries in flight (default 1024). */
  maxInFlight?: number;
  /** Per-upstream timeout in ms (default 2000). */
  upstreamTimeoutMs?: number;
  /** TTL of local answers (default 600 s, as Docker). */
  ttl?: number;
  /** resolv.conf files to take the host's upstreams from, first with a usable server wins. */
  resolvConf?: readonly string[];
}

export interface EmbeddedDns {
  readonly records: DnsRecords;
  readonly server: DnsServer;
  readonly forwarder: Forwarder;
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

function mtimes(files: readonly string[]): string {
  return files.map((f) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(',');
}

export function createEmbeddedDns(o: EmbeddedDnsOptions = {}): EmbeddedDns {
  const records = new DnsRecords();
  const forwarder = new Forwarder({ maxInFlight: o.maxInFlight, timeoutMs: o.upstreamTimeoutMs });
  const server = new DnsServer({ records, forwarder, defaultUpstreams: cachedHostUpstreams(o.resolvConf), log: o.log, ttl: o.ttl });
  return {
    records,
    server,
    forwarder,
    attachSandbox: (id, l) => server.attachSandbox(id, l),
    async detachSandbox(id) {
      records.removeSandbox(id);
      await server.detachSandbox(id);
    },
    async close() {
      await server.close();
      forwarder.close();
    },
  };
}
