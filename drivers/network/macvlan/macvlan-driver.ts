// drivers/network/macvlan/macvlan-driver.ts — tsd-macvlan (alias "macvlan"): sandboxes get a
// macvlan interface on a parent link of the daemon's netns, so they sit directly on the parent's
// L2 segment. Behaviour follows Docker's macvlan driver (libnetwork/drivers/macvlan):
//  - Join creates the macvlan in the daemon's netns under a temporary name and returns it as
//    SrcName; the caller (tsd's sandbox networking, or dockerd over the plugin protocol) moves it
//    into the sandbox, renames it and sets addresses. Leave/DeleteEndpoint delete it if it is
//    still (or again) in the daemon's netns; inside a sandbox it dies with the netns.
//  - The gateway is never assigned to any interface (it is an upstream router): gwAllocCheck asks
//    IPAM to reserve one only when the user configured it, and Join hands it out unless internal.
//  - Several networks may share a parent, unless one of them is in passthru mode.
//  - No parent → an internal parent per network. This kernel has no dummy module, so the parent
//    is an ifb link when dummy is missing: Ethernet, carrier on, and it drops every frame sent to
//    it (nothing redirects into it), which is exactly what a dummy parent is for. A veth or bridge
//    would not do: a bridge without ports has no carrier (its macvlans stay LOWERLAYERDOWN), and a
//    veth's peer is a live interface of the host stack that would answer the sandboxes' ARP.
//  - "eth0.10" as parent creates the 802.1q sub-interface when missing (removed with the last
//    network using it); on kernels without CONFIG_VLAN_8021Q a NotImplementedError says so.
//  - Opt-in host shim (tsd.macvlan.host_shim=true): a macvlan of the network's mode on the host
//    side of the parent holding the aux address host_shim (/32, /128), plus a host route per
//    endpoint address through it. Macvlans never deliver to their parent's own stack, so without
//    it the host cannot reach its own macvlan sandboxes (peers.md #39). Removed with the network.
//
// State (ctx.store): networks/<nid> and endpoints/<nid>/<eid>. Every step has an undo; teardown
// is idempotent and runs every step; `reconcile()` repairs the kernel from the store at start.

import crypto from 'node:crypto';
import type { DriverContext } from '../../../core/driver/context.js';
import type {
  CreateEndpointRequest, CreateNetworkRequest, EndpointInterface, GatewayAllocationChecker, JoinRequest, JoinResponse,
  NetworkDriver, NetworkDriverCapabilities, NetworkOptions, EndpointInfoProvider,
} from '../../../core/driver/network-driver.js';
import {
  ConflictError, InvalidArgumentError, MultiError, NotFoundError, NotImplementedError, isTsdError, messageOf, withContext,
} from '../../../core/errors.js';
import type { Link } from '../../../core/kernel/netlink/index.js';
import { ipOf, isV6 } from '../../../core/model/addr.js';
import { UndoStack } from '../../../core/undo.js';
import {
  inSubnet, OPT_HOST_SHIM, OPT_MODE, OPT_MTU, OPT_PARENT, parseMacvlanOptions, parseVlanParent, poolsOf, shimAddresses,
  type MacvlanNetworkMode, type MacvlanPool,
} from './options.js';

export const MACVLAN_DRIVER_NAME = 'tsd-macvlan';
export const MACVLAN_DRIVER_ALIASES: readonly string[] = ['macvlan'];

/** Link name prefixes (+ 12 id characters = 15, IFNAMSIZ-1). */
export const LINK_PREFIX = { endpoint: 'tme', shim: 'tms', internalParent: 'tmi' } as const;
/** What the sandbox interface is renamed to (eth0, eth1, …). */
const DST_PREFIX = 'eth';

/** networks/<nid> */
export interface MacvlanNetworkRecord {
  id: string;
  parent: string;
  /** How tsd made the parent: '' = it existed, 'internal' = ifb/dummy, 'vlan' = 802.1q link. */
  parentCreated: '' | 'internal' | 'vlan';
  /** Kind of the internal parent ('dummy' or 'ifb'), for reconcile. */
  internalKind?: 'dummy' | 'ifb';
  vlan?: { base: string; id: number };
  mode: MacvlanNetworkMode;
  mtu?: number;
  internal: boolean;
  ipv4: MacvlanPool[];
  ipv6: MacvlanPool[];
  /** Host shim link and its plain addresses ('' when none of that family). */
  shim?: { name: string; ipv4: string; ipv6: string };
}

/** endpoints/<nid>/<eid> */
export interface MacvlanEndpointRecord {
  networkId: string;
  endpointId: string;
  /** CIDRs as IPAM gave them, '' when none. */
  address: string;
  addressIpv6: string;
  mac: string;
  /** Temporary name of the macvlan in the daemon's netns while joined ('' when not joined). */
  srcName: string;
}

export interface MacvlanReconcileReport {
  /** Links recreated because the store says they should exist (internal parents, shims). */
  restored: string[];
  /** Links removed because nothing in the store owns them (strays of a crash). */
  removed: string[];
  /** Networks whose parent could not be restored. */
  broken: string[];
}

export interface MacvlanDriver extends NetworkDriver, GatewayAllocationChecker, EndpointInfoProvider {
  reconcile(): Promise<MacvlanReconcileReport>;
}

const netKey = (nid: string) => `networks/${nid}`;
const epPrefix = (nid: string) => `endpoints/${nid}/`;
const epKey = (nid: string, eid: string) => `endpoints/${nid}/${eid}`;

/** 12 name-safe characters of an id (Docker ids are 64 hex). */
function short(id: string, field: string): string {
  const s = id.replace(/[^0-9A-Za-z]/g, '').slice(0, 12);
  if (s.length < 4) throw new InvalidArgumentError(`${field}: ${JSON.stringify(id)} is not a usable id`);
  return s;
}

function randomMac(): string {
  const b = crypto.randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

const hostRoute = (ip: string) => (isV6(ip) ? `${ip}/128` : `${ip}/32`);

export function createMacvlanDriver(ctx: DriverContext): MacvlanDriver {
  const { store, log } = ctx;
  const links = ctx.kernel.links;

  // One operation at a time: each is a handful of sync netlink requests plus store writes, and
  // checks such as "another network uses this parent in passthru" must not race.
  let tail: Promise<unknown> = Promise.resolve();
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  }

  async function getNetwork(nid: string): Promise<MacvlanNetworkRecord | undefined> {
    return (await store.get<MacvlanNetworkRecord>(netKey(nid)))?.value;
  }
  async function mustNetwork(nid: string): Promise<MacvlanNetworkRecord> {
    const n = await getNetwork(nid);
    if (!n) throw new NotFoundError(`network ${nid}: not found in ${MACVLAN_DRIVER_NAME}`);
    return n;
  }
  async function allNetworks(): Promise<MacvlanNetworkRecord[]> {
    return (await store.list<MacvlanNetworkRecord>('networks/')).map((e) => e.value);
  }
  async function endpointsOf(nid: string): Promise<MacvlanEndpointRecord[]> {
    return (await store.list<MacvlanEndpointRecord>(epPrefix(nid))).map((e) => e.value);
  }

  /** Kernel EINVAL on a macvlan create → the likely cause in words. */
  async function explainCreate(e: unknown, n: MacvlanNetworkRecord, what: string): Promise<unknown> {
    // KernelError carries errnoName (drivers see the kernel's errors, not its module).
    if ((e as { errnoName?: string } | undefined)?.errnoName !== 'EINVAL') return withContext(what, e);
    const p = await links.findLink(n.parent);
    if (!p) return new NotFoundError(`${what}: parent ${n.parent} no longer exists`, { cause: e });
    if (n.mtu !== undefined && n.mtu > p.mtu) {
      return new InvalidArgumentError(`${OPT_MTU}: ${n.mtu} exceeds the MTU ${p.mtu} of parent ${n.parent}`, { cause: e });
    }
    return withContext(`${what} on parent ${n.parent} (mode ${n.mode}; a passthru macvlan must be the parent's only macvlan)`, e);
  }

  async function createInternalParent(name: string): Promise<'dummy' | 'ifb'> {
    try {
      await links.createDummy(name, { up: true });
      return 'dummy';
    } catch (e) {
      if (!(isTsdError(e) && e.code === 'NotImplemented')) throw e;
    }
    await links.createIfb(name, { up: true });
    return 'ifb';
  }

  async function createShim(n: MacvlanNetworkRecord, undo?: UndoStack): Promise<void> {
    const s = n.shim!;
    await links.createMacvlan(s.name, n.parent, n.mode, { ...(n.mtu !== undefined ? { mtu: n.mtu } : {}) })
      .catch(async (e: unknown) => { throw await explainCreate(e, n, `create host shim ${s.name}`); });
    undo?.push(`delete host shim ${s.name}`, () => links.deleteLinkIfExists(s.name).then(() => undefined));
    // The shim holds only its own address (/32, /128): no connected route for the subnet, which
    // would collide with the parent's own route when the host sits on the same LAN.
    if (s.ipv4) await links.addAddress(s.name, hostRoute(s.ipv4));
    if (s.ipv6) await links.addAddress(s.name, hostRoute(s.ipv6));
    await links.setUp(s.name);
  }

  async function shimRoutes(n: MacvlanNetworkRecord, ep: MacvlanEndpointRecord, add: boolean): Promise<void> {
    if (!n.shim) return;
    for (const cidr of [ep.address, ep.addressIpv6]) {
      if (!cidr) continue;
      const ip = ipOf(cidr);
      const family = isV6(ip) ? n.shim.ipv6 : n.shim.ipv4;
      if (!family) continue; // no shim address of this family: nothing routes there
      const r = { dst: hostRoute(ip), dev: n.shim.name };
      if (add) await links.addRoute({ ...r, replace: true });
      else await links.deleteRouteIfExists(r);
    }
  }

  /** Resolve (or create) the parent; returns the record fields about it. */
  async function setUpParent(n: MacvlanNetworkRecord, short12: string, others: MacvlanNetworkRecord[], undo: UndoStack): Promise<Link> {
    if (n.parent === '') {
      n.parent = LINK_PREFIX.internalParent + short12;
      n.internalKind = await createInternalParent(n.parent);
      n.parentCreated = 'internal';
      const name = n.parent;
      undo.push(`delete internal parent ${name}`, () => links.deleteLinkIfExists(name).then(() => undefined));
      return links.getLink(name);
    }
    const existing = await links.findLink(n.parent);
    if (existing) {
      if (existing.flags & 0x8 /* IFF_LOOPBACK */) throw new InvalidArgumentError(`${OPT_PARENT}: ${n.parent} is a loopback interface`);
      // Docker: a parent tsd created for another network stays tsd's (removed with the last user).
      const owner = others.find((o) => o.parent === n.parent && o.parentCreated === 'vlan');
      if (owner) {
        n.parentCreated = 'vlan';
        if (owner.vlan) n.vlan = owner.vlan;
      }
      return existing;
    }
    const v = parseVlanParent(n.parent);
    if (typeof v === 'string') throw new NotFoundError(`${OPT_PARENT}: link ${v}`);
    if (!(await links.findLink(v.base))) {
      throw new NotFoundError(`${OPT_PARENT}: ${n.parent} does not exist and its base link ${v.base} does not exist either`);
    }
    try {
      await links.createVlan(n.parent, v.base, { id: v.id, up: true });
    } catch (e) {
      if (isTsdError(e) && e.code === 'NotImplemented') {
        throw Object.assign(
          new NotImplementedError(
            `${OPT_PARENT}: ${n.parent} is an 802.1q sub-interface (VLAN ${v.id} on ${v.base}) but this kernel has no 802.1q VLAN support (CONFIG_VLAN_8021Q); use an existing link as parent`,
            { cause: e },
          ),
          { missingKernelFeature: 'CONFIG_VLAN_8021Q' },
        );
      }
      throw withContext(`${OPT_PARENT}: create VLAN ${v.id} on ${v.base}`, e);
    }
    const name = n.parent;
    undo.push(`delete vlan ${name}`, () => links.deleteLinkIfExists(name).then(() => undefined));
    n.parentCreated = 'vlan';
    n.vlan = v;
    return links.getLink(name);
  }

  async function createNetwork(req: CreateNetworkRequest): Promise<void> {
    const nid = req.networkId;
    const s12 = short(nid, 'networkId');
    const cfg = parseMacvlanOptions(req.options.generic ?? {}, req.options.internal);
    if (req.options.enableIpv4 !== false && req.ipv4Data.length === 0) throw new InvalidArgumentError('ipv4Data: the IPv4 pool is empty');
    if (req.options.enableIpv6 && req.ipv6Data.length === 0) throw new InvalidArgumentError('ipv6Data: the IPv6 pool is empty');
    const rec: MacvlanNetworkRecord = {
      id: nid, parent: cfg.parent, parentCreated: '', mode: cfg.mode, internal: cfg.internal,
      ...(cfg.mtu !== undefined ? { mtu: cfg.mtu } : {}),
      ipv4: poolsOf(req.ipv4Data, 4), ipv6: poolsOf(req.ipv6Data, 6),
    };
    if (cfg.hostShim) {
      const a = shimAddresses(req.ipv4Data, req.ipv6Data);
      rec.shim = { name: LINK_PREFIX.shim + s12, ...a };
    }
    const existing = await getNetwork(nid);
    if (existing) {
      // dockerd may replay CreateNetwork for a network it already made (restore): same config = no-op.
      if (existing.mode === rec.mode && (cfg.parent === '' || existing.parent === cfg.parent)) return;
      throw new ConflictError(`network ${nid}: already exists in ${MACVLAN_DRIVER_NAME} with parent ${existing.parent}, mode ${existing.mode}`);
    }
    const others = await allNetworks();
    if (rec.parent !== '') {
      for (const o of others) {
        if (o.parent !== rec.parent) continue;
        if (rec.mode === 'passthru') throw new ConflictError(`${OPT_MODE}: cannot use passthru, macvlan network ${o.id} already uses parent ${rec.parent}`);
        if (o.mode === 'passthru') throw new ConflictError(`${OPT_PARENT}: macvlan network ${o.id} uses parent ${rec.parent} in passthru mode`);
      }
    }
    await UndoStack.run(async (undo) => {
      const parent = await setUpParent(rec, s12, others, undo);
      if (rec.mtu !== undefined && rec.mtu > parent.mtu) {
        throw new InvalidArgumentError(`${OPT_MTU}: ${rec.mtu} exceeds the MTU ${parent.mtu} of parent ${rec.parent}`);
      }
      if (rec.shim) await createShim(rec, undo);
      await store.put(netKey(nid), rec, { ifRevision: 0 });
    });
    log.info('macvlan network created', { network: nid, parent: rec.parent, mode: rec.mode, parentCreated: rec.parentCreated, shim: rec.shim?.name });
  }

  async function deleteNetwork(nid: string): Promise<void> {
    const n = await getNetwork(nid);
    if (!n) return;
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try { await fn(); } catch (e) { errors.push(withContext(what, e)); }
    };
    for (const ep of await endpointsOf(nid)) {
      await step(`delete endpoint ${ep.endpointId}`, () => teardownEndpoint(n, ep));
    }
    if (n.shim) {
      const name = n.shim.name;
      await step(`delete host shim ${name}`, () => links.deleteLinkIfExists(name));
    }
    if (n.parentCreated === 'internal') {
      await step(`delete internal parent ${n.parent}`, () => links.deleteLinkIfExists(n.parent));
    } else if (n.parentCreated === 'vlan') {
      const users = (await allNetworks()).filter((o) => o.id !== nid && o.parent === n.parent);
      if (users.length === 0) await step(`delete vlan ${n.parent}`, () => links.deleteLinkIfExists(n.parent));
    }
    if (errors.length) throw new MultiError(`delete macvlan network ${nid}`, errors);
    await store.delete(netKey(nid));
    log.info('macvlan network deleted', { network: nid });
  }

  async function createEndpoint(req: CreateEndpointRequest): Promise<EndpointInterface | undefined> {
    const n = await mustNetwork(req.networkId);
    short(req.endpointId, 'endpointId');
    const iface = req.interface;
    if (!iface.address && !iface.addressIpv6) throw new InvalidArgumentError(`endpoint ${req.endpointId}: needs an address (macvlan endpoints are statically addressed by IPAM)`);
    if (iface.address && !n.ipv4.some((p) => inSubnet(ipOf(iface.address!), p.subnet))) {
      throw new InvalidArgumentError(`address: ${iface.address} is not in any IPv4 pool of network ${n.id} (${n.ipv4.map((p) => p.subnet).join(', ')})`);
    }
    if (iface.addressIpv6 && !n.ipv6.some((p) => inSubnet(ipOf(iface.addressIpv6!), p.subnet))) {
      throw new InvalidArgumentError(`addressIpv6: ${iface.addressIpv6} is not in any IPv6 pool of network ${n.id}`);
    }
    let chosen: EndpointInterface | undefined;
    let mac = iface.macAddress ?? '';
    if (n.mode === 'passthru') {
      const eps = await endpointsOf(n.id);
      if (eps.length > 0) {
        throw new ConflictError(`${OPT_MODE}=passthru: network ${n.id} already has endpoint ${eps[0]!.endpointId}; passthru hands the parent ${n.parent} to a single endpoint`);
      }
      // passthru takes the parent's MAC; setting another would change the parent's own MAC.
      const parentMac = (await links.getLink(n.parent)).mac ?? '';
      if (mac && parentMac && mac.toLowerCase() !== parentMac.toLowerCase()) {
        throw new InvalidArgumentError(`macAddress: ${mac}: in passthru mode the endpoint uses the MAC of parent ${n.parent} (${parentMac})`);
      }
      if (!mac && parentMac) chosen = { macAddress: (mac = parentMac) };
    } else if (!mac) {
      mac = randomMac();
      chosen = { macAddress: mac };
    }
    const ep: MacvlanEndpointRecord = {
      networkId: n.id, endpointId: req.endpointId, address: iface.address ?? '', addressIpv6: iface.addressIpv6 ?? '', mac, srcName: '',
    };
    await UndoStack.run(async (undo) => {
      await shimRoutes(n, ep, true);
      undo.push('remove host shim routes', () => shimRoutes(n, ep, false));
      await store.put(epKey(n.id, ep.endpointId), ep, { ifRevision: 0 }).catch((e: unknown) => {
        throw isTsdError(e) && e.code === 'Conflict' ? new ConflictError(`endpoint ${ep.endpointId}: already exists in network ${n.id}`) : e;
      });
    });
    return chosen;
  }

  /** Host-side cleanup of one endpoint; every step runs. */
  async function teardownEndpoint(n: MacvlanNetworkRecord, ep: MacvlanEndpointRecord): Promise<void> {
    const errors: unknown[] = [];
    if (ep.srcName) await links.deleteLinkIfExists(ep.srcName).catch((e: unknown) => errors.push(withContext(`delete ${ep.srcName}`, e)));
    await shimRoutes(n, ep, false).catch((e: unknown) => errors.push(withContext('remove host shim routes', e)));
    if (errors.length) throw new MultiError(`delete endpoint ${ep.endpointId}`, errors);
    await store.delete(epKey(n.id, ep.endpointId));
  }

  async function deleteEndpoint(nid: string, eid: string): Promise<void> {
    const n = await getNetwork(nid);
    if (!n) return;
    const ep = (await store.get<MacvlanEndpointRecord>(epKey(nid, eid)))?.value;
    if (!ep) return;
    await teardownEndpoint(n, ep);
  }

  async function join(req: JoinRequest): Promise<JoinResponse> {
    const n = await mustNetwork(req.networkId);
    const entry = await store.get<MacvlanEndpointRecord>(epKey(req.networkId, req.endpointId));
    if (!entry) throw new NotFoundError(`endpoint ${req.endpointId}: not found in network ${n.id}`);
    const ep = entry.value;
    const srcName = LINK_PREFIX.endpoint + short(req.endpointId, 'endpointId');
    const res: JoinResponse = { interfaceName: { srcName, dstPrefix: DST_PREFIX } };
    if (!n.internal) {
      // Docker: the gateway is an upstream router, handed out only when configured.
      const v4 = ep.address ? n.ipv4.find((p) => inSubnet(ipOf(ep.address), p.subnet)) : undefined;
      const v6 = ep.addressIpv6 ? n.ipv6.find((p) => inSubnet(ipOf(ep.addressIpv6), p.subnet)) : undefined;
      if (v4?.gateway) res.gateway = v4.gateway;
      if (v6?.gateway) res.gatewayIpv6 = v6.gateway;
    }
    await UndoStack.run(async (undo) => {
      await links.deleteLinkIfExists(srcName); // a stray of an interrupted join
      const opts = {
        ...(n.mtu !== undefined ? { mtu: n.mtu } : {}),
        ...(ep.mac && n.mode !== 'passthru' ? { mac: ep.mac } : {}),
      };
      await links.createMacvlan(srcName, n.parent, n.mode, opts).catch(async (e: unknown) => {
        throw await explainCreate(e, n, `create macvlan ${srcName}`);
      });
      undo.push(`delete ${srcName}`, () => links.deleteLinkIfExists(srcName).then(() => undefined));
      await store.put(epKey(n.id, ep.endpointId), { ...ep, srcName }, { ifRevision: entry.revision });
    });
    return res;
  }

  async function leave(nid: string, eid: string): Promise<void> {
    const ep = (await store.get<MacvlanEndpointRecord>(epKey(nid, eid)))?.value;
    if (!ep || !ep.srcName) return;
    // Still in the daemon's netns (the caller never moved it): delete it. Inside a sandbox it is
    // the sandbox's to remove (and dies with the netns). dockerd moves it back here under SrcName
    // when it leaves — possibly after this call — so srcName stays recorded for DeleteEndpoint.
    await links.deleteLinkIfExists(ep.srcName);
  }

  async function reconcile(): Promise<MacvlanReconcileReport> {
    const report: MacvlanReconcileReport = { restored: [], removed: [], broken: [] };
    const nets = await allNetworks();
    const owned = new Set<string>();
    for (const n of nets) {
      try {
        if (n.parentCreated === 'internal') {
          owned.add(n.parent);
          if (!(await links.findLink(n.parent))) {
            await createInternalParent(n.parent);
            report.restored.push(n.parent);
          }
        } else if (!(await links.findLink(n.parent))) {
          if (n.parentCreated === 'vlan' && n.vlan) {
            await links.createVlan(n.parent, n.vlan.base, { id: n.vlan.id, up: true });
            report.restored.push(n.parent);
          } else {
            report.broken.push(n.id);
            log.warn('macvlan network: parent link is missing', { network: n.id, parent: n.parent });
            continue;
          }
        }
        if (n.shim) {
          owned.add(n.shim.name);
          if (!(await links.findLink(n.shim.name))) {
            await createShim(n);
            report.restored.push(n.shim.name);
          }
        }
        for (const ep of await endpointsOf(n.id)) {
          // Joined interfaces live in sandboxes; one still here is a stray of a crash mid-join.
          if (ep.srcName && (await links.deleteLinkIfExists(ep.srcName))) report.removed.push(ep.srcName);
          if (ep.srcName) await store.put(epKey(n.id, ep.endpointId), { ...ep, srcName: '' });
          await shimRoutes(n, ep, true);
        }
      } catch (e) {
        report.broken.push(n.id);
        log.warn('macvlan network: reconcile failed', { network: n.id, err: messageOf(e) });
      }
    }
    // Links with our prefixes that no record owns: leftovers of a crash between kernel and store.
    for (const l of await links.listLinks()) {
      const ours = (l.kind === 'macvlan' && (l.name.startsWith(LINK_PREFIX.endpoint) || l.name.startsWith(LINK_PREFIX.shim)))
        || ((l.kind === 'ifb' || l.kind === 'dummy') && l.name.startsWith(LINK_PREFIX.internalParent));
      if (ours && l.name.length === 15 && !owned.has(l.name)) {
        if (await links.deleteLinkIfExists(l.name)) report.removed.push(l.name);
      }
    }
    if (report.restored.length || report.removed.length || report.broken.length) log.info('macvlan reconciled', { ...report });
    return report;
  }

  return {
    name: MACVLAN_DRIVER_NAME,
    async getCapabilities(): Promise<NetworkDriverCapabilities> {
      return { scope: 'local', connectivityScope: 'global', gwAllocChecker: true };
    },
    async gwAllocCheck(_options: NetworkOptions) {
      // The gateway is external (an upstream router): reserve it only if the user configured one.
      return { skipIpv4: true, skipIpv6: true };
    },
    createNetwork: (req) => serial(() => createNetwork(req)),
    deleteNetwork: (nid) => serial(() => deleteNetwork(nid)),
    createEndpoint: (req) => serial(() => createEndpoint(req)),
    deleteEndpoint: (nid, eid) => serial(() => deleteEndpoint(nid, eid)),
    join: (req) => serial(() => join(req)),
    leave: (nid, eid) => serial(() => leave(nid, eid)),
    async endpointOperInfo(nid: string, eid: string) {
      const n = await mustNetwork(nid);
      const ep = (await store.get<MacvlanEndpointRecord>(epKey(nid, eid)))?.value;
      if (!ep) throw new NotFoundError(`endpoint ${eid}: not found in network ${nid}`);
      return { parent: n.parent, macvlan_mode: n.mode, ...(n.shim ? { [OPT_HOST_SHIM]: n.shim.name } : {}) };
    },
    reconcile: () => serial(reconcile),
  };
}
