// drivers/network/bridge/ports.ts — Docker port bindings → firewall PortMappings, with host-port
// allocation: a fixed port, "any free port in HostPort..HostPortEnd" (Docker's range binding), or
// an ephemeral one (HostPort 0). The allocator's view is every mapping tsd-bridge has published;
// the firewall still refuses a port held by another mapping (ConflictError).

import net from 'node:net';
import { ConflictError, InvalidArgumentError } from '../../../core/errors.js';
import type { PortBinding } from '../../../core/driver/network-driver.js';
import type { PortMapping } from '../../../core/kernel/firewall/types.js';
import type { Loopback6Forward } from './loopback6-proxy.js';

/** Docker's default ephemeral range for published ports (ip_local_port_range's defaults). */
export const EPHEMERAL_FIRST = 32768;
export const EPHEMERAL_LAST = 60999;

const ipOf = (cidr: string): string => cidr.split('/')[0] ?? '';

/** Which host ports are taken, per protocol ("tcp/8080"), regardless of host address. */
export class HostPortAllocator {
  private readonly used = new Map<string, number>();
  private cursor = EPHEMERAL_FIRST;

  private static key(proto: string, port: number): string {
    return `${proto}/${port}`;
  }
  take(m: Pick<PortMapping, 'proto' | 'hostPort'>): void {
    const k = HostPortAllocator.key(m.proto, m.hostPort);
    this.used.set(k, (this.used.get(k) ?? 0) + 1);
  }
  release(m: Pick<PortMapping, 'proto' | 'hostPort'>): void {
    const k = HostPortAllocator.key(m.proto, m.hostPort);
    const n = (this.used.get(k) ?? 0) - 1;
    if (n <= 0) this.used.delete(k);
    else this.used.set(k, n);
  }
  isFree(proto: string, port: number): boolean {
    return !this.used.has(HostPortAllocator.key(proto, port));
  }
  /** First free port in first..last, or (ephemeral) round-robin from the last one handed out. */
  pick(proto: string, first: number, last: number, what: string): number {
    const ephemeral = first === 0;
    const lo = ephemeral ? EPHEMERAL_FIRST : first;
    const hi = ephemeral ? EPHEMERAL_LAST : last;
    const span = hi - lo + 1;
    const start = ephemeral ? Math.min(Math.max(this.cursor, lo), hi) : lo;
    for (let i = 0; i < span; i++) {
      const p = lo + ((start - lo + i) % span);
      if (this.isFree(proto, p)) {
        if (ephemeral) this.cursor = p + 1 > hi ? lo : p + 1;
        return p;
      }
    }
    throw new ConflictError(`${what}: no free host port in ${lo}-${hi}`);
  }
}

export interface EndpointAddresses {
  ipv4: string;
  ipv6: string;
}

/** How a network and the daemon decide which bindings tsd also serves on [::1] (loopback6-proxy.ts). */
export interface PlanOptions {
  enableIpv6: boolean;
  /**
   * Also serve [::1] for bindings on `::` or any address (driver key `userland-proxy-v6-loopback`,
   * default false: 1000 listeners cost 40–140 ms, more than the whole firewall part of a publish,
   * and clients that try ::1 first fall back to 127.0.0.1). An explicit `::1` binding is always
   * served.
   */
  loopback6: boolean;
  /** The network's default host bindings (com.docker.network.bridge.host_binding_ipv4/6). */
  hostBindingIpv4?: string;
  hostBindingIpv6?: string;
}

export interface PortPlan {
  /** What the firewall installs (DNAT map elements). Never a ::1 host address. */
  mappings: PortMapping[];
  /** What tsd serves itself on [::1]:hostPort (IPv6 has no route_localnet). */
  loopback6: Loopback6Forward[];
}

const V6_LOOPBACK = '::1';
const isAny6 = (ip: string | undefined) => !ip || ip === '::';
const isAny4 = (ip: string | undefined) => !ip || ip === '0.0.0.0';

/**
 * Whether a binding's host address covers ::1: `::` and `::1` do; an unspecified one does when
 * the network's default binding is "every address" (Docker binds both families then). 0.0.0.0
 * is IPv4 only (as Docker 27+).
 */
export function coversV6Loopback(hostIp: string, o: Pick<PlanOptions, 'hostBindingIpv4' | 'hostBindingIpv6'>): boolean {
  if (hostIp === '::' || hostIp === V6_LOOPBACK) return true;
  if (hostIp) return false;
  return isAny4(o.hostBindingIpv4) && (isAny6(o.hostBindingIpv6) || o.hostBindingIpv6 === V6_LOOPBACK);
}

/**
 * Turn bindings into firewall mappings (one per address family they apply to) and [::1]
 * forwards, and reserve their host ports in `alloc`. On error nothing stays reserved.
 */
export function planPorts(
  networkId: string, ep: EndpointAddresses, bindings: readonly PortBinding[], alloc: HostPortAllocator, o: PlanOptions,
): PortPlan {
  const out: PortMapping[] = [];
  const fwd: Loopback6Forward[] = [];
  try {
    bindings.forEach((b, i) => {
      const at = `PortBindings[${i}] ${b.proto}/${b.port}`;
      if (!['tcp', 'udp', 'sctp'].includes(b.proto)) throw new InvalidArgumentError(`${at}: Proto: ${JSON.stringify(b.proto)} is not one of tcp, udp, sctp`);
      if (!Number.isInteger(b.port) || b.port < 1 || b.port > 65535) throw new InvalidArgumentError(`${at}: Port: ${b.port} is not a port (1-65535)`);
      const end = b.hostPortEnd || b.hostPort;
      if (!Number.isInteger(b.hostPort) || b.hostPort < 0 || b.hostPort > 65535) throw new InvalidArgumentError(`${at}: HostPort: ${b.hostPort} is not a port`);
      if (!Number.isInteger(end) || end < b.hostPort || end > 65535) throw new InvalidArgumentError(`${at}: HostPortEnd: ${b.hostPortEnd} must be a port ≥ HostPort`);
      const hostFam = b.hostIp ? net.isIP(b.hostIp) : 0;
      if (b.hostIp && hostFam === 0) throw new InvalidArgumentError(`${at}: HostIP: ${JSON.stringify(b.hostIp)} is not an IP address`);
      const hostIp = hostFam === 6 ? canonical6(b.hostIp) : b.hostIp;
      const anyHost = !hostIp;
      const wantsLoopback6 = coversV6Loopback(hostIp, o);
      const families: Array<4 | 6> = [];
      if ((anyHost || hostFam === 4) && ep.ipv4) families.push(4);
      // ::1 never reaches the firewall: a DNAT of ::1 traffic is dropped (no route_localnet in v6).
      if ((anyHost || (hostFam === 6 && hostIp !== V6_LOOPBACK)) && ep.ipv6 && o.enableIpv6) families.push(6);
      // The [::1] forward goes to the IPv6 address if the endpoint has one, else to the IPv4 one.
      const fwdIp = ep.ipv6 && o.enableIpv6 ? ipOf(ep.ipv6) : ipOf(ep.ipv4);
      const forward = (hostIp === V6_LOOPBACK || (o.loopback6 && wantsLoopback6)) && !!fwdIp;
      if (families.length === 0 && !forward) throw new InvalidArgumentError(`${at}: HostIP ${b.hostIp || '(any)'}: the endpoint has no address of that family`);
      // One host port for every family of this binding (as Docker: v4 and v6 share the number).
      const hostPort = b.hostPort !== 0 && end === b.hostPort
        ? b.hostPort
        : alloc.pick(b.proto, b.hostPort, end, at);
      for (const fam of families) {
        let containerIp = fam === 4 ? ipOf(ep.ipv4) : ipOf(ep.ipv6);
        if (b.ip && net.isIP(b.ip) === fam) containerIp = b.ip;
        const m: PortMapping = { networkId, proto: b.proto, hostPort, containerIp, containerPort: b.port };
        if (hostIp) m.hostIp = hostIp;
        out.push(m);
        alloc.take(m);
      }
      if (forward) {
        const containerIp = b.ip && net.isIP(b.ip) ? b.ip : fwdIp;
        const f: Loopback6Forward = { proto: b.proto, hostPort, containerIp, containerPort: b.port };
        // A caller may send one port as "" and "::" (or per family): one [::1] listener serves both.
        const same = (x: Loopback6Forward) => x.proto === f.proto && x.hostPort === f.hostPort && x.containerIp === f.containerIp && x.containerPort === f.containerPort;
        if (!fwd.some(same)) {
          fwd.push(f);
          alloc.take(f);
        }
      }
    });
  } catch (e) {
    for (const m of out) alloc.release(m);
    for (const f of fwd) alloc.release(f);
    throw e;
  }
  return { mappings: out, loopback6: fwd };
}

/** "0:0::1" → "::1": compare IPv6 host addresses in one spelling. */
function canonical6(ip: string): string {
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}
