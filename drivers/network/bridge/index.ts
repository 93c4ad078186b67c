// drivers/network/bridge/index.ts — tsd-bridge (alias "bridge"): a Linux bridge per network, a
// veth per endpoint, gateway address, MTU, MAC, masquerade/isolation/internal/icc through the
// firewall, port publishing (DNAT maps, hairpin, 127.0.0.1) without proxy processes; [::1]:port
// is served in-process (loopback6-proxy.ts: IPv6 has no route_localnet).
//
// Shaped on Docker's NetworkDriver contract so it is served to dockerd unchanged:
//   createNetwork  bridge (in the network's link group) + gateway addresses + sysctls + firewall policy
//   createEndpoint store only (MAC chosen here); the veth is made at join, where the sandbox is known
//   join           veth host end on the bridge; the peer is born inside the sandbox under its final
//                  name when tsd asks (`sandboxIfname`), else left on the host for the caller to move
//   program/revokeExternalConnectivity  published ports, one firewall transaction each
//   leave / deleteEndpoint / deleteNetwork  idempotent; a network's links go as one kernel batch
// Every kernel step has an undo; state lives in ctx.store; `restore()` is the startup reconcile.

import { ConflictError, ForbiddenError, InvalidArgumentError, NotFoundError, UnavailableError, messageOf, withContext } from '../../../core/errors.js';
import type { DriverContext } from '../../../core/driver/context.js';
import type {
  CreateEndpointRequest, CreateNetworkRequest, EndpointInfoProvider, EndpointInterface, EndpointLister, EndpointOptions, ExternalConnectivity,
  FirewallReloadReport, FirewallRuleOwner, JoinRequest, JoinResponse, NetworkDriver, NetworkDriverCapabilities,
} from '../../../core/driver/network-driver.js';
import type { FirewallNetwork, PortMapping } from '../../../core/kernel/firewall/types.js';
import { UndoStack } from '../../../core/undo.js';
import { parseBridgeOptions, type BridgeConfig } from './options.js';
import { Loopback6Proxy, type Loopback6Forward, type Loopback6State } from './loopback6-proxy.js';
import { HostPortAllocator, planPorts } from './ports.js';

export const BRIDGE_DRIVER_NAME = 'tsd-bridge';
export const BRIDGE_DRIVER_ALIASES: readonly string[] = ['bridge'];

/** A Linux bridge has port numbers 1..1023 (BR_MAX_PORTS 1024); the kernel says only EXFULL. */
export const MAX_BRIDGE_PORTS = 1023;
/** A bridge's and its veths' MTU when the network sets none. */
const DEFAULT_MTU = 1500;

/**
 * Link groups tsd-bridge uses: 0x74 ('t') in the top byte, 24 bits from the network id. Every
 * link of a network (bridge + veths) is in its group, so deleting the network is one kernel batch,
 * and reconcile recognises tsd's links by the group alone.
 */
export const GROUP_BASE = 0x74000000;
const GROUP_MASK = 0x00ffffff;
export const isBridgeGroup = (g: number): boolean => (g & ~GROUP_MASK) >>> 0 === GROUP_BASE;
/**
 * Retired veths wait here (down) for one batched delete: a link delete costs ~16-20 ms of RCU
 * sync in the kernel whether it takes 1 link or 1000, while down + regroup costs ~0.2 ms. No
 * network ever gets this group (pickGroup never yields hash 0); restore() reaps leftovers.
 */
export const REAP_GROUP = GROUP_BASE;

export interface BridgeNetworkState {
  id: string;
  bridge: string;
  group: number;
  config: BridgeConfig;
  internal: boolean;
  enableIpv6: boolean;
  /** Gateway CIDRs put on the bridge ("" when none). */
  gateway4: string;
  gateway6: string;
  subnets: string[];
}

export interface BridgeEndpointState {
  id: string;
  networkId: string;
  /** Host end of the veth. */
  veth: string;
  ipv4: string;
  ipv6: string;
  mac: string;
  /** Published mappings (what the firewall holds for this endpoint). */
  ports: PortMapping[];
  /** Published ports tsd serves itself on [::1]:hostPort (absent in records older than that). */
  loopback6?: Loopback6Forward[];
}

/** Driver keys in tsd's config (`drivers: { tsd-bridge: {...} }`). */
export const CONFIG_LOOPBACK6 = 'userland-proxy-v6-loopback';

export type BridgeDriver = NetworkDriver & ExternalConnectivity & EndpointInfoProvider & EndpointLister & FirewallRuleOwner & {
  /** Startup reconcile: restore claimed bridges/addresses/rules, remove tsd links nobody claims. */
  restore(): Promise<{ bridgesRestored: number; linksRemoved: number }>;
  /** Daemon shutdown: stop serving [::1] ports (kernel state stays for the next start). */
  close(): Promise<void>;
};

function loopback6Enabled(config: Record<string, unknown>): boolean {
  const v = config[CONFIG_LOOPBACK6];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`drivers.${BRIDGE_DRIVER_NAME}.${CONFIG_LOOPBACK6}: ${JSON.stringify(v)} is not a boolean`);
  return v;
}

const netKey = (id: string) => `networks/${id}`;
const epKey = (id: string) => `endpoints/${id}`;
const ipOf = (cidr: string) => cidr.split('/')[0] ?? '';

function hash24(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) & GROUP_MASK;
}

/** Docker's MAC scheme: 02:42 + the IPv4 address; random (locally administered) without one. */
export function macFor(ipv4Cidr: string): string {
  const ip = ipOf(ipv4Cidr);
  const bytes = ip ? [0x02, 0x42, ...ip.split('.').map(Number)] : [0x02, ...Array.from({ length: 5 }, () => Math.floor(Math.random() * 256))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The bridge's MAC: Docker's scheme on the gateway address (no endpoint can hold it), else from the id. */
function bridgeMac(n: { id: string; gateway4: string }): string {
  if (n.gateway4) return macFor(n.gateway4);
  const h = hash24(n.id);
  return `02:42:ff:${[(h >> 16) & 255, (h >> 8) & 255, h & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

export function createBridgeDriver(ctx: DriverContext): BridgeDriver {
  const { kernel, store, log } = ctx;
  const links = kernel.links;
  const nets = new Map<string, BridgeNetworkState>();
  const eps = new Map<string, BridgeEndpointState>();
  const epsOf = new Map<string, Set<string>>();
  const veths = new Set<string>();
  const alloc = new HostPortAllocator();
  let forwardingOn = false;
  const loopback6On = loopback6Enabled(ctx.config);
  const proxy6 = new Loopback6Proxy({ log });
  /** What became of each [::1] forward ("tcp/8080" → state), for endpointOperInfo. */
  const proxy6State = new Map<string, Loopback6State>();
  const fwdKey = (f: Loopback6Forward) => `${f.proto}/${f.hostPort}`;

  /** Serve `forwards` on [::1], all binds at once; all or none (a failure closes what this call opened). */
  async function openForwards(forwards: readonly Loopback6Forward[]): Promise<void> {
    const results = await Promise.allSettled(forwards.map((f) => proxy6.open(f)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await closeForwards(forwards.filter((_, i) => results[i]!.status === 'fulfilled'));
      throw failed.reason;
    }
    results.forEach((r, i) => proxy6State.set(fwdKey(forwards[i]!), (r as PromiseFulfilledResult<Loopback6State>).value));
  }
  async function closeForwards(forwards: readonly Loopback6Forward[]): Promise<void> {
    for (const f of forwards) proxy6State.delete(fwdKey(f));
    await Promise.all(forwards.map((f) => proxy6.close(f.proto, f.hostPort)));
  }

  // ---- batched veth deletion (see REAP_GROUP)
  const retired = new Set<string>();
  let reapTimer: NodeJS.Timeout | undefined;
  async function reapNow(): Promise<void> {
    if (reapTimer) clearTimeout(reapTimer);
    reapTimer = undefined;
    if (retired.size === 0) return;
    retired.clear();
    await links.deleteLinkGroup(REAP_GROUP).catch((e) => log.warn('reap retired veths', { err: e }));
  }
  /** Take a veth out of service now (down, reap group) and delete it with the next batch. */
  async function retire(veth: string): Promise<void> {
    if (retired.has(veth)) return;
    try {
      await links.setLink(veth, { up: false, group: REAP_GROUP });
    } catch (e) {
      if ((e as { errnoName?: string }).errnoName === 'ENODEV' || (e as Error).name === 'NotFoundError') return;
      throw e;
    }
    retired.add(veth);
    reapTimer ??= setTimeout(() => void reapNow(), 5);
    reapTimer.unref?.();
  }

  let loaded: Promise<void> | undefined;
  const ready = () => (loaded ??= (async () => {
    for (const e of await store.list<BridgeNetworkState>('networks/')) {
      nets.set(e.value.id, e.value);
      epsOf.set(e.value.id, new Set());
    }
    for (const e of await store.list<BridgeEndpointState>('endpoints/')) {
      const ep = e.value;
      eps.set(ep.id, ep);
      veths.add(ep.veth);
      (epsOf.get(ep.networkId) ?? epsOf.set(ep.networkId, new Set()).get(ep.networkId)!).add(ep.id);
      for (const m of ep.ports) alloc.take(m);
      for (const f of ep.loopback6 ?? []) alloc.take(f);
    }
  })());

  /** veth + 11 hex from the endpoint id; never one another endpoint holds (join replaces a stale one). */
  const vethName = (id: string): string => {
    let name = `veth${id.slice(0, 11)}`;
    for (let salt = 1; veths.has(name); salt++) name = `veth${(hash24(`${id}/${salt}`) * 256 + salt % 256).toString(16).padStart(11, '0').slice(0, 11)}`;
    return name;
  };

  const network = (id: string): BridgeNetworkState => {
    const n = nets.get(id);
    if (!n) throw new NotFoundError(`network ${id}: not known to ${BRIDGE_DRIVER_NAME}`);
    return n;
  };
  const endpoint = (id: string): BridgeEndpointState => {
    const e = eps.get(id);
    if (!e) throw new NotFoundError(`endpoint ${id}: not known to ${BRIDGE_DRIVER_NAME}`);
    return e;
  };
  const firewallNet = (n: BridgeNetworkState): FirewallNetwork => ({
    id: n.id,
    bridge: n.bridge,
    subnets: n.subnets,
    masquerade: n.config.masquerade && n.config.gatewayModeV4 !== 'routed',
    internal: n.internal,
    icc: n.config.icc,
    isolate: true,
    ...(n.config.hostBindingIpv4 ? { hostBindingIpv4: n.config.hostBindingIpv4 } : {}),
    ...(n.config.hostBindingIpv6 ? { hostBindingIpv6: n.config.hostBindingIpv6 } : {}),
  });

  /**
   * No IPv6 on the host end of a veth (a bridge port is layer 2; the bridge holds the gateway).
   * Set before the peer goes up: at carrier-on, addrconf would otherwise add the port's ff00::/8
   * and fe80::/64 routes (a linear walk of one FIB leaf holding every port's) and walk the host's
   * whole IPv6 FIB (rt6_sync_up) — under the rtnl lock, in the link-watch worker, so every later
   * request waits. At 1000 ports that was ~0.6 ms per attach (docs/kernel-notes.md, bridge).
   */
  function hostIpv6Off(veth: string): void {
    try {
      kernel.sysctl.write(kernel.sysctl.netConfKey(6, veth, 'disable_ipv6'), 1);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e; // no IPv6 in this kernel: nothing to turn off
    }
  }
  function sysctlOn(key: string): void {
    if (kernel.sysctl.read(key) !== '1') kernel.sysctl.write(key, 1);
  }
  function enableForwarding(v6: boolean): void {
    if (!forwardingOn) {
      sysctlOn('net.ipv4.ip_forward');
      forwardingOn = true;
    }
    if (v6) sysctlOn('net.ipv6.conf.all.forwarding');
  }

  /** Bridge up with its addresses and per-bridge sysctls; used by create and by restore. */
  async function plumbBridge(n: BridgeNetworkState, undo: UndoStack): Promise<void> {
    // Fixed MAC: otherwise the bridge takes its lowest port's MAC and changes address whenever
    // a lower one joins (NETDEV_CHANGEADDR, neighbour flush), as Docker avoids too. Multicast
    // snooping off: with it on, every port's carrier change (each attach) re-enables multicast
    // timers on *every* port under the rtnl lock (br_port_state_selection), so an attach cost
    // grew with the port count (docs/bridge.md); multicast is then flooded like broadcast.
    // MTU always set (user-set in the kernel's eyes, also at the default): every enslave would
    // otherwise walk all ports for their minimum (br_mtu_auto_adjust); every veth of the network
    // gets this MTU anyway.
    await links.createBridge(n.bridge, {
      group: n.group, up: true, mcastSnooping: false, mac: bridgeMac(n), mtu: n.config.mtu || DEFAULT_MTU,
    });
    undo.push(`delete bridge ${n.bridge}`, () => links.deleteLinkIfExists(n.bridge).then(() => undefined));
    await addBridgeAddresses(n);
    // 127.0.0.1:port → sandbox: DNAT'ed in output and routed out of the bridge with source
    // 127.0.0.1, a martian without route_localnet (docs/firewall.md).
    kernel.sysctl.write(kernel.sysctl.netConfKey(4, n.bridge, 'route_localnet'), 1);
  }
  async function addBridgeAddresses(n: BridgeNetworkState): Promise<void> {
    if (n.gateway4) await links.addAddress(n.bridge, n.gateway4, { broadcast: 'auto', replace: true });
    if (n.gateway6) await links.addAddress(n.bridge, n.gateway6, { replace: true });
  }

  function pickGroup(id: string): number {
    const taken = new Set([...nets.values()].map((n) => n.group));
    let g = hash24(id) || 1;
    while (taken.has((GROUP_BASE | g) >>> 0)) g = (g % GROUP_MASK) + 1;
    return (GROUP_BASE | g) >>> 0;
  }

  // ------------------------------------------------------------------------------ networks

  async function createNetwork(req: CreateNetworkRequest): Promise<void> {
    await ready();
    if (nets.has(req.networkId)) throw new ConflictError(`network ${req.networkId}: already exists in ${BRIDGE_DRIVER_NAME}`);
    const config = parseBridgeOptions(req.options.generic);
    if (req.ipv4Data.length > 1) throw new InvalidArgumentError(`IPv4Data: ${BRIDGE_DRIVER_NAME} supports one IPv4 pool per network, got ${req.ipv4Data.length}`);
    const v6data = req.options.enableIpv6 ? req.ipv6Data : [];
    if (v6data.length > 1) throw new InvalidArgumentError(`IPv6Data: ${BRIDGE_DRIVER_NAME} supports one IPv6 pool per network, got ${v6data.length}`);
    const bridge = config.bridgeName ?? `tsd-${req.networkId.slice(0, 11)}`;
    for (const other of nets.values()) {
      if (other.bridge === bridge) throw new ConflictError(`option com.docker.network.bridge.name: bridge ${bridge} is already used by network ${other.id.slice(0, 12)}`);
    }
    if (await links.findLink(bridge)) throw new ConflictError(`bridge ${bridge}: a link of that name already exists`);
    const v4 = req.ipv4Data[0];
    const v6 = v6data[0];
    const n: BridgeNetworkState = {
      id: req.networkId, bridge, group: pickGroup(req.networkId), config,
      internal: req.options.internal, enableIpv6: req.options.enableIpv6 && !!v6,
      gateway4: v4?.gateway && !config.inhibitIpv4 ? v4.gateway : '',
      gateway6: v6?.gateway ?? '',
      subnets: [v4?.pool, v6?.pool].filter((s): s is string => !!s),
    };
    await UndoStack.run(async (undo) => {
      enableForwarding(n.enableIpv6);
      await plumbBridge(n, undo);
      if (kernel.firewall) {
        const fw = kernel.firewall;
        await fw.addNetwork(firewallNet(n));
        undo.push('remove firewall policy', () => fw.removeNetwork(n.id));
      }
      await store.put(netKey(n.id), n);
      nets.set(n.id, n);
      epsOf.set(n.id, new Set());
    }).catch((e: unknown) => {
      throw withContext(`create bridge network ${bridge}`, e);
    });
    log.info('bridge network created', { network: n.id, bridge, group: n.group });
  }

  async function deleteNetwork(networkId: string): Promise<void> {
    await ready();
    const n = nets.get(networkId);
    if (!n) return;
    const errors: string[] = [];
    await reapNow();
    // Rules before links (netavark#1482), then every link of the network in one kernel batch.
    if (kernel.firewall) await kernel.firewall.removeNetwork(n.id).catch((e) => errors.push(`firewall: ${messageOf(e)}`));
    await links.deleteLinkGroup(n.group).catch((e) => errors.push(`delete link group ${n.group}: ${messageOf(e)}`));
    await links.deleteLinkIfExists(n.bridge).catch((e) => errors.push(`delete bridge ${n.bridge}: ${messageOf(e)}`));
    if (errors.length) throw new UnavailableError(`delete bridge network ${n.bridge}: ${errors.join('; ')}`);
    const ids = [...(epsOf.get(n.id) ?? [])];
    await store.commit([], [...ids.map((id) => ({ op: 'delete' as const, key: epKey(id) })), { op: 'delete', key: netKey(n.id) }]);
    for (const id of ids) {
      const fwd = eps.get(id)?.loopback6 ?? [];
      await closeForwards(fwd);
      for (const f of fwd) alloc.release(f);
      for (const m of eps.get(id)?.ports ?? []) alloc.release(m);
      veths.delete(eps.get(id)?.veth ?? '');
      eps.delete(id);
    }
    epsOf.delete(n.id);
    nets.delete(n.id);
    log.info('bridge network deleted', { network: n.id, bridge: n.bridge });
  }

  // ------------------------------------------------------------------------------ endpoints

  async function createEndpoint(req: CreateEndpointRequest): Promise<EndpointInterface | undefined> {
    await ready();
    const n = network(req.networkId);
    if (eps.has(req.endpointId)) throw new ConflictError(`endpoint ${req.endpointId}: already exists`);
    const members = epsOf.get(n.id)!;
    // Retired veths still hold bridge ports until reaped.
    if (members.size + retired.size >= MAX_BRIDGE_PORTS) await reapNow();
    if (members.size >= MAX_BRIDGE_PORTS) {
      throw new ForbiddenError(`network ${n.id.slice(0, 12)}: bridge ${n.bridge} is full (a Linux bridge holds at most ${MAX_BRIDGE_PORTS} ports)`);
    }
    const i = req.interface;
    if (i.address && i.address.includes(':')) throw new InvalidArgumentError(`Interface.Address: ${i.address} is not an IPv4 CIDR`);
    if (i.addressIpv6 && !n.enableIpv6) throw new InvalidArgumentError(`Interface.AddressIPv6: network ${n.id.slice(0, 12)} has IPv6 disabled`);
    const mac = i.macAddress || macFor(i.address ?? '');
    const ep: BridgeEndpointState = {
      id: req.endpointId, networkId: n.id, veth: vethName(req.endpointId),
      ipv4: i.address ?? '', ipv6: i.addressIpv6 ?? '', mac, ports: [],
    };
    await store.put(epKey(ep.id), ep);
    eps.set(ep.id, ep);
    veths.add(ep.veth);
    members.add(ep.id);
    return i.macAddress ? undefined : { macAddress: mac };
  }

  async function deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    await ready();
    const ep = eps.get(endpointId);
    if (!ep) return;
    // Rules before the link (netavark#1482): dockerd may delete an endpoint whose ports are still
    // published; with the veth gone first, DNAT'ed packets would follow the default route out.
    if (ep.ports.length || ep.loopback6?.length) await revoke(networkId, endpointId);
    await retire(ep.veth);
    await store.delete(epKey(ep.id));
    eps.delete(ep.id);
    veths.delete(ep.veth);
    epsOf.get(ep.networkId)?.delete(ep.id);
  }

  async function join(req: JoinRequest): Promise<JoinResponse> {
    await ready();
    const n = network(req.networkId);
    const ep = endpoint(req.endpointId);
    const inSandbox = !!req.sandboxIfname && n.config.ifacePrefix === 'eth' && !!req.sandboxKey;
    const peer = inSandbox ? req.sandboxIfname! : `tsd${ep.id.slice(0, 11)}`;
    if (retired.has(ep.veth)) await reapNow(); // rejoin right after a leave
    const create = async () => {
      const ns = inSandbox ? kernel.netns.open({ path: req.sandboxKey }) : undefined;
      try {
        // Host end: the bridge's own MAC, one queue, IPv6 off (hostIpv6Off). The MAC: a port's
        // address becomes a static local FDB entry, and enslaving walks every static entry
        // (br_fdb_unsync_static) — with one shared address that list stays one entry long. A
        // bridge port never sends from its own address (IPv6 is off, STP is off); frames to the
        // bridge's MAC go up to the bridge as before. One queue: see VethOptions.queues.
        await links.createVeth(ep.veth, peer, {
          group: n.group, master: n.bridge, up: true, mac: bridgeMac(n), peerMac: ep.mac, queues: 1,
          ...(n.config.mtu ? { mtu: n.config.mtu } : {}), ...(ns ? { peerNetns: ns } : {}),
        });
      } finally {
        ns?.close();
      }
      try {
        hostIpv6Off(ep.veth);
      } catch (e) {
        await links.deleteLinkIfExists(ep.veth).catch(() => undefined);
        throw e;
      }
    };
    try {
      try {
        await create();
      } catch (e) {
        // EEXIST: the sandbox name is still held by a retired veth's peer (reap it now), or a
        // veth of ours was left by a crash between join and the store (replace it). Once.
        if ((e as { errnoName?: string }).errnoName !== 'EEXIST') throw e;
        await reapNow();
        await links.deleteLinkIfExists(ep.veth);
        await create();
      }
      // Isolated ports (icc=false) reach the gateway but not each other, even when bridged.
      // Hairpin is set when ports are published (program): only a sandbox reaching its *own*
      // published port needs it, and a bridge-port change costs O(ports) in the kernel.
      if (!n.config.icc) {
        try {
          await links.setBridgePort(ep.veth, { isolated: true });
        } catch (e) {
          await links.deleteLinkIfExists(ep.veth).catch(() => undefined);
          throw e;
        }
      }
    } catch (e) {
      throw withContext(`join endpoint ${ep.id.slice(0, 12)} to bridge ${n.bridge}`, e);
    }
    const res: JoinResponse = { interfaceName: { srcName: peer, dstPrefix: n.config.ifacePrefix, ...(inSandbox ? { inSandbox: true } : {}) } };
    if (!n.internal) {
      if (n.gateway4) res.gateway = ipOf(n.gateway4);
      if (n.gateway6 && ep.ipv6) res.gatewayIpv6 = ipOf(n.gateway6);
    }
    return res;
  }

  async function leave(_networkId: string, endpointId: string): Promise<void> {
    await ready();
    const ep = eps.get(endpointId);
    if (ep) await retire(ep.veth);
  }

  // ------------------------------------------------------------------------------ ports

  async function program(req: { networkId: string; endpointId: string; options: EndpointOptions }): Promise<void> {
    await ready();
    const bindings = req.options.portBindings ?? [];
    if (bindings.length === 0) return; // nothing to publish: no firewall change at all
    const n = network(req.networkId);
    const ep = endpoint(req.endpointId);
    if (n.internal) {
      log.warn('ports not published: the network is internal', { network: n.id, endpoint: ep.id });
      return;
    }
    const fw = kernel.firewall;
    if (!fw) throw new UnavailableError(`publish ports of endpoint ${ep.id.slice(0, 12)}: tsd runs without a firewall backend`);
    const { mappings, loopback6 } = planPorts(n.id, ep, bindings, alloc, {
      enableIpv6: n.enableIpv6, loopback6: loopback6On,
      ...(n.config.hostBindingIpv4 ? { hostBindingIpv4: n.config.hostBindingIpv4 } : {}),
      ...(n.config.hostBindingIpv6 ? { hostBindingIpv6: n.config.hostBindingIpv6 } : {}),
    });
    const all = [...ep.ports, ...mappings];
    const all6 = [...(ep.loopback6 ?? []), ...loopback6];
    try {
      await UndoStack.run(async (undo) => {
        // [::1] listeners first: a taken [::1]:port fails the publish before any firewall element.
        await openForwards(loopback6);
        undo.push('close [::1] listeners', () => closeForwards(loopback6));
        // Hairpin: a sandbox reaching its own published port via a host address is DNAT'ed at
        // bridge level (br_netfilter) and must leave through the port it came in on.
        if (ep.ports.length === 0 && mappings.length && (await links.findLink(ep.veth))) await links.setBridgePort(ep.veth, { hairpin: true });
        if (mappings.length) {
          await fw.publishPorts(mappings);
          undo.push('unpublish firewall ports', () => fw.unpublishPorts(mappings));
        }
        await store.put(epKey(ep.id), { ...ep, ports: all, loopback6: all6 });
      });
    } catch (e) {
      for (const m of mappings) alloc.release(m);
      for (const f of loopback6) alloc.release(f);
      throw withContext(`publish ports of endpoint ${ep.id.slice(0, 12)}`, e);
    }
    ep.ports = all;
    ep.loopback6 = all6;
  }

  async function revoke(_networkId: string, endpointId: string): Promise<void> {
    await ready();
    const ep = eps.get(endpointId);
    if (!ep || (ep.ports.length === 0 && !ep.loopback6?.length)) return;
    const fwd = ep.loopback6 ?? [];
    if (kernel.firewall && ep.ports.length) await kernel.firewall.unpublishPorts(ep.ports);
    await closeForwards(fwd);
    const ports = ep.ports;
    await store.put(epKey(ep.id), { ...ep, ports: [], loopback6: [] });
    ep.ports = [];
    ep.loopback6 = [];
    for (const m of ports) alloc.release(m);
    for (const f of fwd) alloc.release(f);
  }

  // ------------------------------------------------------------------------------ restore

  async function restore(): Promise<{ bridgesRestored: number; linksRemoved: number }> {
    await ready();
    let bridgesRestored = 0;
    let linksRemoved = 0;
    const groups = new Map([...nets.values()].map((n) => [n.group, n]));
    const claimedVeths = new Set([...eps.values()].map((e) => e.veth));
    for (const n of nets.values()) {
      enableForwarding(n.enableIpv6);
      const br = await links.findLink(n.bridge);
      if (!br) {
        await UndoStack.run((undo) => plumbBridge(n, undo));
        bridgesRestored++;
        // Veths left on the host when the bridge vanished go back on it.
        for (const id of epsOf.get(n.id) ?? []) {
          const ep = eps.get(id)!;
          if (!(await links.findLink(ep.veth))) continue;
          await links.setLink(ep.veth, { master: n.bridge, up: true });
          if (ep.ports.length || !n.config.icc) await links.setBridgePort(ep.veth, { ...(ep.ports.length ? { hairpin: true } : {}), ...(n.config.icc ? {} : { isolated: true }) });
        }
      } else {
        if (!br.up) await links.setUp(n.bridge);
        await addBridgeAddresses(n);
        kernel.sysctl.write(kernel.sysctl.netConfKey(4, n.bridge, 'route_localnet'), 1);
      }
    }
    await reapNow();
    for (const l of await links.listLinks()) {
      if (!isBridgeGroup(l.group)) continue;
      const owner = groups.get(l.group);
      const claimed = owner && (l.name === owner.bridge || claimedVeths.has(l.name));
      if (!claimed && (await links.deleteLinkIfExists(l.index))) linksRemoved++;
    }
    await reloadFirewall();
    await restoreForwards();
    log.info('bridge driver restored', { networks: nets.size, endpoints: eps.size, bridgesRestored, linksRemoved });
    return { bridgesRestored, linksRemoved };
  }

  /**
   * Serve every stored [::1] forward again (daemon start). A port someone else took meanwhile is
   * logged and shown as failed in the endpoint's oper info; the other ports are served.
   */
  async function restoreForwards(): Promise<void> {
    for (const ep of eps.values()) {
      for (const f of ep.loopback6 ?? []) {
        if (proxy6.has(f.proto, f.hostPort)) continue;
        if (!loopback6On) {
          proxy6State.set(fwdKey(f), 'off');
          continue;
        }
        try {
          proxy6State.set(fwdKey(f), await proxy6.open(f));
        } catch (e) {
          proxy6State.set(fwdKey(f), `failed: ${messageOf(e)}`);
          log.error('[::1] published port not restored', { endpoint: ep.id, port: fwdKey(f), err: e });
        }
      }
    }
  }

  /** Rebuild tsd's firewall rules from the stored networks and published ports (one transaction). */
  async function reloadFirewall(): Promise<FirewallReloadReport> {
    await ready();
    const networks = [...nets.values()].map(firewallNet);
    const ports = [...eps.values()].flatMap((e) => e.ports);
    if (kernel.firewall) await kernel.firewall.reload({ networks, ports });
    return { backend: kernel.firewall?.backend ?? 'none', networks: networks.length, ports: ports.length };
  }

  const caps: NetworkDriverCapabilities = { scope: 'local', connectivityScope: 'local', gatewayOnHost: true };
  return {
    name: BRIDGE_DRIVER_NAME,
    async getCapabilities() { return caps; },
    createNetwork, deleteNetwork, createEndpoint, deleteEndpoint, join, leave,
    programExternalConnectivity: program,
    revokeExternalConnectivity: revoke,
    async endpointOperInfo(_networkId, endpointId) {
      await ready();
      const ep = endpoint(endpointId);
      return {
        'com.docker.network.endpoint.macaddress': ep.mac,
        'com.docker.network.portmap': ep.ports.map((m) => ({ Proto: m.proto, IP: m.containerIp, Port: m.containerPort, HostIP: m.hostIp ?? '', HostPort: m.hostPort })),
        loopback6: (ep.loopback6 ?? []).map((f) => ({
          Proto: f.proto, IP: f.containerIp, Port: f.containerPort, HostIP: '::1', HostPort: f.hostPort, State: proxy6State.get(fwdKey(f)) ?? 'off',
        })),
        veth: ep.veth,
      };
    },
    async listEndpoints(networkId) {
      await ready();
      return [...(epsOf.get(networkId) ?? [])];
    },
    restore,
    reloadFirewall,
    async close() {
      proxy6State.clear();
      await proxy6.closeAll();
    },
  };
}
