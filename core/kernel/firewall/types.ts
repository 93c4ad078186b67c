// core/kernel/firewall/types.ts — the data every firewall backend speaks: networks, port
// mappings, the desired state handed to reload(), and their validation. Shared by the backends
// (which never import each other) and by the bridge driver through the Firewall interface.

import net from 'node:net';
import { InvalidArgumentError } from '../../errors.js';

export type FirewallBackendName = 'nftables' | 'iptables' | 'none';
export type PortProto = 'tcp' | 'udp' | 'sctp';

/** One tsd network as the firewall sees it: a bridge, its subnets and its policy. */
export interface FirewallNetwork {
  /** Network id (store key); every port mapping names it. */
  id: string;
  /** Bridge interface name (≤ 15 characters). */
  bridge: string;
  /** CIDRs on the bridge, IPv4 and/or IPv6. */
  subnets: string[];
  /** Source-NAT traffic from the subnets that leaves through a non-tsd interface. */
  masquerade: boolean;
  /** No traffic between the bridge and any other interface (no egress, no ingress). */
  internal: boolean;
  /** Inter-container communication: routed traffic from the bridge back into it is allowed. */
  icc: boolean;
  /** No traffic between this bridge and any other tsd bridge. */
  isolate: boolean;
  /** Default host address for mappings without hostIp (Docker's host_binding_ipv4). */
  hostBindingIpv4?: string;
  hostBindingIpv6?: string;
}

/** A published port (or range hostPort..hostPortEnd → containerPort..). */
export interface PortMapping {
  networkId: string;
  proto: PortProto;
  /** Host address; 0.0.0.0 or :: mean every local address; absent means the network's default binding (else every address). */
  hostIp?: string;
  hostPort: number;
  /** Last host port of a range (inclusive); the container range has the same length. */
  hostPortEnd?: number;
  containerIp: string;
  containerPort: number;
}

/** Everything tsd wants installed: reload() rebuilds exactly this. */
export interface FirewallDesired {
  networks: FirewallNetwork[];
  ports: PortMapping[];
}

/** What a backend has installed (its model of the kernel), for tests and inspect. */
export interface FirewallState extends FirewallDesired {
  backend: FirewallBackendName;
}

/**
 * One expanded host port: ranges become one entry each (elements are cheap; nft cannot offset a
 * port range in a DNAT map). `family` comes from the container address.
 */
export interface PortEntry {
  networkId: string;
  family: 4 | 6;
  proto: PortProto;
  /** Resolved host address, or undefined for "every local address". */
  hostIp: string | undefined;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

const ifnameRe = /^[A-Za-z0-9_.-]{1,15}$/;
const protos = new Set<string>(['tcp', 'udp', 'sctp']);

function bad(field: string, why: string): never {
  throw new InvalidArgumentError(`${field}: ${why}`);
}

/** Parse "a.b.c.d/n" or "x::/n"; returns the family. */
export function cidrFamily(cidr: string, field = 'subnet'): 4 | 6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) bad(field, `${cidr} is not a valid CIDR`);
  const fam = net.isIP(m[1]!);
  const len = Number(m[2]);
  if (fam === 4 && len <= 32) return 4;
  if (fam === 6 && len <= 128) return 6;
  return bad(field, `${cidr} is not a valid CIDR`);
}

/** Validate a network (nft would resolve a non-address through DNS: never let one through). */
export function validateNetwork(n: FirewallNetwork): void {
  const at = `network ${n.id}`;
  if (!n.id) bad('network.id', 'must not be empty');
  if (!ifnameRe.test(n.bridge)) bad(`${at}: bridge`, `${JSON.stringify(n.bridge)} is not a valid interface name (1-15 of [A-Za-z0-9_.-])`);
  if (!Array.isArray(n.subnets)) bad(`${at}: subnets`, 'must be a list of CIDRs');
  for (const s of n.subnets) cidrFamily(s, `${at}: subnets`);
  if (n.hostBindingIpv4 !== undefined && !net.isIPv4(n.hostBindingIpv4)) bad(`${at}: hostBindingIpv4`, `${n.hostBindingIpv4} is not an IPv4 address`);
  if (n.hostBindingIpv6 !== undefined && !net.isIPv6(n.hostBindingIpv6)) bad(`${at}: hostBindingIpv6`, `${n.hostBindingIpv6} is not an IPv6 address`);
}

function validPort(p: unknown): p is number {
  return Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
}

const anyAddr = (ip: string | undefined) => ip === undefined || ip === '' || ip === '0.0.0.0' || ip === '::';

/**
 * Validate one mapping and expand it into entries, resolving the host address against the
 * network's default binding.
 */
export function expandMapping(m: PortMapping, network: FirewallNetwork | undefined): PortEntry[] {
  const at = `port mapping ${m.proto}/${m.hostPort}`;
  if (!network) throw new InvalidArgumentError(`${at}: networkId: network ${m.networkId} is not known to the firewall`);
  if (!protos.has(m.proto)) bad(`${at}: proto`, `${String(m.proto)} is not one of tcp, udp, sctp`);
  if (!validPort(m.hostPort)) bad(`${at}: hostPort`, `${m.hostPort} is not a port (1-65535)`);
  if (!validPort(m.containerPort)) bad(`${at}: containerPort`, `${m.containerPort} is not a port (1-65535)`);
  const end = m.hostPortEnd ?? m.hostPort;
  if (!validPort(end) || end < m.hostPort) bad(`${at}: hostPortEnd`, `${m.hostPortEnd} must be a port ≥ hostPort`);
  if (m.containerPort + (end - m.hostPort) > 65535) bad(`${at}: containerPort`, 'range runs past 65535');
  const family = net.isIP(m.containerIp);
  if (family !== 4 && family !== 6) bad(`${at}: containerIp`, `${m.containerIp} is not an IP address`);
  // No hostIp → the network's default binding; an explicit 0.0.0.0 / :: → every address.
  let hostIp = m.hostIp === undefined || m.hostIp === '' ? (family === 4 ? network.hostBindingIpv4 : network.hostBindingIpv6) : m.hostIp;
  if (anyAddr(hostIp)) hostIp = undefined;
  if (hostIp !== undefined) {
    const hf = net.isIP(hostIp);
    if (hf === 0) bad(`${at}: hostIp`, `${hostIp} is not an IP address`);
    if (hf !== family) bad(`${at}: hostIp`, `${hostIp} and containerIp ${m.containerIp} are of different families (no NAT46/64)`);
  }
  const out: PortEntry[] = [];
  for (let p = m.hostPort; p <= end; p++) {
    out.push({ networkId: m.networkId, family, proto: m.proto, hostIp, hostPort: p, containerIp: m.containerIp, containerPort: m.containerPort + (p - m.hostPort) });
  }
  return out;
}

/** Identity of a published host port (family, address or "any", protocol, port). */
export function entryKey(e: PortEntry): string {
  return `${e.family}|${e.hostIp ?? '*'}|${e.proto}|${e.hostPort}`;
}

export function entryToMapping(e: PortEntry): PortMapping {
  const m: PortMapping = { networkId: e.networkId, proto: e.proto, hostPort: e.hostPort, containerIp: e.containerIp, containerPort: e.containerPort };
  if (e.hostIp !== undefined) m.hostIp = e.hostIp;
  return m;
}

/**
 * Someone else removed part of what tsd installed (a flush, a firewall service reload).
 * `certain`: the removed objects are tsd's; false: they may be (a rule deleted from a built-in
 * chain that holds tsd's jump, lost events): confirm with `Firewall.check()` before repairing.
 */
export interface FirewallDamage {
  /** What vanished, in words ("table inet tsd", "rules of chain inet tsd forward"). */
  what: string[];
  certain: boolean;
  /** Who did it, when the kernel says ("nft pid 1234"). */
  by?: string;
}

export interface FirewallWatchOptions {
  /** Period of the cheap check where the backend has no events (iptables-legacy); 0 = never. */
  checkIntervalMs: number;
}

export interface FirewallWatcher {
  /** How damage is noticed: kernel events, or a periodic check. */
  readonly mode: 'events' | 'check';
  close(): void;
}
