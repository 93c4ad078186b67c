// core/kernel/netlink/link.ts — RTM_*LINK: create (bridge, veth, macvlan, vlan, vxlan), change
// (up/down, MTU, MAC, master, name, netns, group, bridge-port flags), delete (one, or a whole
// link group in one kernel batch), get and dump. Private to netlink/: the public surface is the
// `Links` class in index.ts.

import { InvalidArgumentError, NotFoundError, NotImplementedError } from '../../errors.js';
import { isKernelError, KernelError } from '../kernel-error.js';
import { bytesToMac, ipToBytes, macToBytes } from '../inet.js';
import type { Netns } from '../netns.js';
import {
  AF_BRIDGE, AF_UNSPEC, attrStr, attrU32, attrU8, IFF_UP, IFLA, IFLA_BR, IFLA_BRPORT, IFLA_INFO, IFLA_MACVLAN_MODE,
  IFLA_VXLAN, NLM_F, parseAttrs, RTM, VETH_INFO_PEER, type MessageWriter, type NetlinkMessage,
} from './codec.js';
import { RequestBatch, type NetlinkSocket } from './socket.js';

/** A link by name or ifindex (in the namespace of the `Links` object it is passed to). */
export type LinkRef = string | number;

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: "veth", "bridge", "macvlan", "vxlan", … (undefined for lo and physical). */
  kind: string | undefined;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** IFLA_OPERSTATE as `ip` prints it: "UP", "DOWN", "UNKNOWN", "LOWERLAYERDOWN", … */
  operState: string;
  mtu: number;
  mac: string | undefined;
  /** ifindex of the master (bridge), if enslaved. */
  master: number | undefined;
  group: number;
  /** IFLA_LINK: the veth peer's / macvlan parent's ifindex (possibly in another netns). */
  linkIndex: number | undefined;
  /** Set when `linkIndex` refers to another netns (IFLA_LINK_NETNSID). */
  linkNetnsId: number | undefined;
  /** Raw ifi_flags. */
  flags: number;
}

/** Options every create accepts. */
export interface CommonLinkOptions {
  mtu?: number;
  mac?: string;
  /** Link group (IFLA_GROUP) for batch deletion with deleteLinkGroup(); must be ≥ 1. */
  group?: number;
  /** Create it up. */
  up?: boolean;
  /** Enslave at creation (bridge name or ifindex). */
  master?: LinkRef;
}

export interface BridgeOptions extends CommonLinkOptions {
  /** Spanning tree (default off, like Docker). */
  stp?: boolean;
  /** FDB ageing time in seconds. */
  ageingTime?: number;
  /** IGMP/MLD snooping. */
  mcastSnooping?: boolean;
}

/** A new bridge's MTU (ether_setup's ETH_DATA_LEN). */
const BRIDGE_DEFAULT_MTU = 1500;

export interface VethOptions extends CommonLinkOptions {
  /** Create the peer directly inside this namespace (it arrives down and unconfigured). */
  peerNetns?: Netns;
  peerMac?: string;
  /** The peer's MTU (default: `mtu`). */
  peerMtu?: number;
  /**
   * TX and RX queues of each end (1..4096; default: the kernel's, one per *possible* CPU). Every
   * queue is a sysfs kobject made at registration, so a many-CPU host pays for each one per veth;
   * a container's veth gains nothing from more than one (veth is lockless on transmit).
   */
  queues?: number;
}

/** One pair for `createVeths`. */
export interface VethSpec extends VethOptions {
  name: string;
  peerName: string;
}

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
const macvlanModes: Record<MacvlanMode, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 };

export interface MacvlanOptions extends CommonLinkOptions {
  /** Create it directly inside this namespace. */
  netns?: Netns;
}

export interface VxlanOptions extends CommonLinkOptions {
  vni: number;
  /** Source address of the tunnel (IFLA_VXLAN_LOCAL/LOCAL6). */
  local?: string;
  /** Default remote or multicast group (IFLA_VXLAN_GROUP/GROUP6). */
  remote?: string;
  /** UDP destination port (4789 = IANA). */
  port: number;
  /** Underlay device. */
  dev?: LinkRef;
  /** Learn remote MACs from traffic (default false: tsd programs the FDB itself). */
  learning?: boolean;
  ttl?: number;
}

export interface VlanOptions extends CommonLinkOptions {
  id: number;
}

/** What setLink changes; everything given goes in one RTM_SETLINK. */
export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** New name (the link must be down). */
  name?: string;
  /** Bridge to enslave to; null = release (nomaster). */
  master?: LinkRef | null;
  group?: number;
  /** Move to this namespace (its ifindex may change there). */
  netns?: Netns;
}

export interface BridgePortOptions {
  /** Reflect frames back out of the port they came in (hairpin, for NAT loopback). */
  hairpin?: boolean;
  /** Isolated ports cannot talk to each other, only to non-isolated ones. */
  isolated?: boolean;
  learning?: boolean;
  unicastFlood?: boolean;
}

const nameRe = /^[^\s/:]{1,15}$/;

export function checkIfname(name: string, field = 'name'): void {
  if (typeof name !== 'string' || !nameRe.test(name) || name === '.' || name === '..') {
    throw new InvalidArgumentError(`${field}: ${JSON.stringify(name)} is not a valid interface name (1-15 chars, no space, '/' or ':')`);
  }
}

function checkMtu(mtu: number | undefined, field = 'mtu'): void {
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) {
    throw new InvalidArgumentError(`${field}: ${mtu} must be an integer in 68..65535`);
  }
}

function checkGroup(group: number | undefined): void {
  if (group !== undefined && !(Number.isInteger(group) && group >= 1 && group <= 0xffffffff)) {
    throw new InvalidArgumentError(`group: ${group} must be an integer ≥ 1 (group 0 is every link's default)`);
  }
}

const operStates = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

export function decodeLink(m: NetlinkMessage): Link {
  const p = m.payload;
  const a = parseAttrs(p, 16);
  const flags = p.readUInt32LE(8);
  const info = a.get(IFLA.LINKINFO);
  const mac = a.get(IFLA.ADDRESS);
  const op = attrU8(a.get(IFLA.OPERSTATE));
  return {
    index: p.readInt32LE(4),
    name: attrStr(a.get(IFLA.IFNAME)) ?? '',
    kind: info ? attrStr(parseAttrs(info).get(IFLA_INFO.KIND)) : undefined,
    up: (flags & IFF_UP) !== 0,
    operState: operStates[op ?? 0] ?? 'UNKNOWN',
    mtu: attrU32(a.get(IFLA.MTU)) ?? 0,
    mac: mac && mac.length === 6 ? bytesToMac(mac) : undefined,
    master: attrU32(a.get(IFLA.MASTER)),
    group: attrU32(a.get(IFLA.GROUP)) ?? 0,
    linkIndex: attrU32(a.get(IFLA.LINK)),
    linkNetnsId: a.has(IFLA.LINK_NETNSID) ? a.get(IFLA.LINK_NETNSID)!.readInt32LE(0) : undefined,
    flags,
  };
}

/** Write an ifinfomsg at the current position. */
function ifinfomsg(w: MessageWriter, index = 0, up?: boolean, family = AF_UNSPEC): void {
  const off = w.struct(16);
  w.buf.writeUInt8(family, off);
  w.buf.writeInt32LE(index, off + 4);
  if (up !== undefined) {
    w.buf.writeUInt32LE(up ? IFF_UP : 0, off + 8);
    w.buf.writeUInt32LE(IFF_UP, off + 12);
  }
}

export class LinkOps {
  constructor(readonly sock: NetlinkSocket, readonly where: string) {}

  /** ifindex of `ref`; names are resolved with one RTM_GETLINK. */
  index(ref: LinkRef, field = 'link'): number {
    if (typeof ref === 'number') {
      if (!Number.isInteger(ref) || ref <= 0) throw new InvalidArgumentError(`${field}: ${ref} is not an ifindex`);
      return ref;
    }
    return this.get(ref, field).index;
  }

  find(ref: LinkRef): Link | undefined {
    const w = this.sock.writer.begin(RTM.GETLINK, NLM_F.REQUEST | NLM_F.ACK);
    if (typeof ref === 'number') {
      ifinfomsg(w, ref);
    } else {
      checkIfname(ref, 'link');
      ifinfomsg(w);
      w.str(IFLA.IFNAME, ref);
    }
    try {
      const r = this.sock.request('get link', String(ref));
      return r[0] ? decodeLink(r[0]) : undefined;
    } catch (e) {
      if (isKernelError(e, 'ENODEV')) return undefined;
      throw e;
    }
  }

  get(ref: LinkRef, field = 'link'): Link {
    const l = this.find(ref);
    if (!l) throw new NotFoundError(`${field} ${ref}: no such link in ${this.where}`);
    return l;
  }

  list(): Link[] {
    const w = this.sock.writer.begin(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP);
    ifinfomsg(w);
    return this.sock.request('list links', this.where).map(decodeLink);
  }

  /** Shared frame of every RTM_NEWLINK; `data` writes IFLA_INFO_DATA (if any). */
  private create(kind: string, name: string, o: CommonLinkOptions, extra?: (w: MessageWriter) => void, data?: (w: MessageWriter) => void): void {
    this.writeCreate(kind, name, o, extra, data);
    this.sock.request(`create ${kind}`, name);
  }

  /** Validate and build one RTM_NEWLINK in the socket's writer (lookups happen before). */
  private writeCreate(kind: string, name: string, o: CommonLinkOptions, extra?: (w: MessageWriter) => void, data?: (w: MessageWriter) => void): void {
    checkIfname(name);
    checkMtu(o.mtu);
    checkGroup(o.group);
    const mac = o.mac !== undefined ? macToBytes(o.mac) : undefined;
    const master = o.master !== undefined ? this.index(o.master, 'master') : undefined;
    const w = this.sock.writer.begin(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
    ifinfomsg(w, 0, o.up);
    w.str(IFLA.IFNAME, name);
    if (o.mtu !== undefined) w.u32(IFLA.MTU, o.mtu);
    if (mac) w.attr(IFLA.ADDRESS, mac);
    if (o.group !== undefined) w.u32(IFLA.GROUP, o.group);
    if (master !== undefined) w.u32(IFLA.MASTER, master);
    extra?.(w);
    const li = w.nest(IFLA.LINKINFO);
    w.str(IFLA_INFO.KIND, kind);
    if (data) {
      const d = w.nest(IFLA_INFO.DATA);
      data(w);
      w.end(d);
    }
    w.end(li);
  }

  createBridge(name: string, o: BridgeOptions = {}): void {
    const ageing = o.ageingTime;
    if (ageing !== undefined && !(ageing >= 0 && ageing <= 1e6)) throw new InvalidArgumentError(`ageingTime: ${ageing} must be 0..1000000 seconds`);
    // IFLA_MTU at creation sets dev->mtu without marking it user-set, so the bridge snaps back
    // to its ports' minimum on the first enslave (br_mtu_auto_adjust); and a SETLINK to the same
    // value is a no-op that marks nothing. So: create at another MTU (the default, 1500, or 1499
    // when 1500 is asked), then set it. A user-set MTU also spares every later enslave the
    // auto-adjust walk over all ports (docs/kernel-notes.md).
    checkMtu(o.mtu);
    const start = o.mtu === BRIDGE_DEFAULT_MTU ? BRIDGE_DEFAULT_MTU - 1 : undefined;
    this.create('bridge', name, { ...o, mtu: start }, undefined, (w) => {
      if (o.stp !== undefined) w.u32(IFLA_BR.STP_STATE, o.stp ? 1 : 0);
      if (ageing !== undefined) w.u32(IFLA_BR.AGEING_TIME, Math.round(ageing * 100)); // clock_t (1/100 s)
      if (o.mcastSnooping !== undefined) w.u8(IFLA_BR.MCAST_SNOOPING, o.mcastSnooping ? 1 : 0);
    });
    if (o.mtu !== undefined) this.set(name, { mtu: o.mtu }, 'set mtu');
  }

  createVeth(name: string, peerName: string, o: VethOptions = {}): void {
    this.writeVeth(name, peerName, o);
    this.sock.request('create veth', name);
  }

  /**
   * Create many veth pairs with pipelined requests (one sendmsg per 64, one ack per 64). Every
   * spec is validated before anything is sent. All or nothing: if any pair fails, the pairs this
   * call created are deleted again and the first failure is thrown (KernelError naming its veth).
   */
  createVeths(specs: readonly VethSpec[]): void {
    const batch = new RequestBatch();
    for (const [i, s] of specs.entries()) {
      if (!s || typeof s !== 'object') throw new InvalidArgumentError(`veths[${i}]: must be an object { name, peerName, ... }`);
      this.writeVeth(s.name, s.peerName, s);
      batch.add('create veth', s.name, this.sock.writer.finish());
    }
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name)) throw new InvalidArgumentError(`name: ${JSON.stringify(s.name)} appears twice in one createVeths call`);
      names.add(s.name);
    }
    if (!batch.size) return;
    const errs = this.sock.requestBatch(batch);
    const first = errs.find((e) => e !== undefined);
    if (!first) return;
    const undo = new RequestBatch();
    for (const [i, s] of specs.entries()) {
      if (errs[i]) continue;
      this.writeDelete(s.name);
      undo.add('delete link', s.name, this.sock.writer.finish());
    }
    if (undo.size) this.sock.requestBatch(undo);
    throw first;
  }

  private writeVeth(name: string, peerName: string, o: VethOptions): void {
    checkIfname(peerName, 'peerName');
    checkMtu(o.peerMtu, 'peerMtu');
    const peerMac = o.peerMac !== undefined ? macToBytes(o.peerMac, 'peerMac') : undefined;
    const peerMtu = o.peerMtu ?? o.mtu;
    const peerFd = o.peerNetns?.fd;
    const q = o.queues;
    if (q !== undefined && !(Number.isInteger(q) && q >= 1 && q <= 4096)) throw new InvalidArgumentError(`queues: ${q} must be an integer 1..4096`);
    const queues = (w: MessageWriter) => {
      if (q === undefined) return;
      w.u32(IFLA.NUM_TX_QUEUES, q);
      w.u32(IFLA.NUM_RX_QUEUES, q);
    };
    this.writeCreate('veth', name, o, queues, (w) => {
      // VETH_INFO_PEER carries a whole ifinfomsg + IFLA_* attributes for the peer.
      const p = w.nest(VETH_INFO_PEER);
      // No IFF_UP here: veth_newlink configures the peer before pairing it, so opening it fails
      // with ENOTCONN (veth_open: no peer yet). The peer is set up with its own request.
      ifinfomsg(w);
      w.str(IFLA.IFNAME, peerName);
      if (peerMtu !== undefined) w.u32(IFLA.MTU, peerMtu);
      if (peerMac) w.attr(IFLA.ADDRESS, peerMac);
      if (peerFd !== undefined) w.u32(IFLA.NET_NS_FD, peerFd);
      queues(w);
      w.end(p);
    });
  }

  createMacvlan(name: string, parent: LinkRef, mode: MacvlanMode, o: MacvlanOptions = {}): void {
    const m = macvlanModes[mode];
    if (!m) throw new InvalidArgumentError(`mode: ${JSON.stringify(mode)} must be one of ${Object.keys(macvlanModes).join(', ')}`);
    const parentIndex = this.index(parent, 'parent');
    const fd = o.netns?.fd;
    this.create('macvlan', name, o, (w) => {
      w.u32(IFLA.LINK, parentIndex);
      if (fd !== undefined) w.u32(IFLA.NET_NS_FD, fd);
    }, (w) => w.u32(IFLA_MACVLAN_MODE, m));
  }

  /** 802.1q sub-interface. Kernels without CONFIG_VLAN_8021Q (this one) → NotImplementedError. */
  createVlan(name: string, parent: LinkRef, o: VlanOptions): void {
    if (!(Number.isInteger(o.id) && o.id >= 1 && o.id <= 4094)) throw new InvalidArgumentError(`id: ${o.id} must be a VLAN id in 1..4094`);
    const parentIndex = this.index(parent, 'parent');
    try {
      this.create('vlan', name, o, (w) => w.u32(IFLA.LINK, parentIndex), (w) => w.u16(1 /* IFLA_VLAN_ID */, o.id));
    } catch (e) {
      if (isKernelError(e, 'EOPNOTSUPP') || isKernelError(e, 'ENOTSUP')) {
        throw Object.assign(
          new NotImplementedError(`create vlan ${name}: this kernel has no 802.1q VLAN support (CONFIG_VLAN_8021Q); use a bridge or macvlan instead`, { cause: e }),
          { errno: (e as KernelError).errno, missingKernelFeature: 'CONFIG_VLAN_8021Q' },
        );
      }
      throw e;
    }
  }

  /** dummy link. Kernels without CONFIG_DUMMY (this one) → NotImplementedError; see createIfb. */
  createDummy(name: string, o: CommonLinkOptions = {}): void {
    try {
      this.create('dummy', name, o);
    } catch (e) {
      if (isKernelError(e, 'EOPNOTSUPP') || isKernelError(e, 'ENOTSUP')) {
        throw Object.assign(
          new NotImplementedError(`create dummy ${name}: this kernel has no dummy link support (CONFIG_DUMMY)`, { cause: e }),
          { errno: (e as KernelError).errno, missingKernelFeature: 'CONFIG_DUMMY' },
        );
      }
      throw e;
    }
  }

  /**
   * ifb link: an Ethernet device with carrier that drops every frame sent to it (nothing
   * redirects into it), i.e. a dummy on kernels that have CONFIG_IFB but not CONFIG_DUMMY.
   */
  createIfb(name: string, o: CommonLinkOptions = {}): void {
    this.create('ifb', name, o);
  }

  createVxlan(name: string, o: VxlanOptions): void {
    if (!(Number.isInteger(o.vni) && o.vni >= 0 && o.vni < 1 << 24)) throw new InvalidArgumentError(`vni: ${o.vni} must be an integer in 0..16777215`);
    if (!(Number.isInteger(o.port) && o.port > 0 && o.port <= 65535)) throw new InvalidArgumentError(`port: ${o.port} must be a UDP port`);
    if (o.ttl !== undefined && !(Number.isInteger(o.ttl) && o.ttl >= 0 && o.ttl <= 255)) throw new InvalidArgumentError(`ttl: ${o.ttl} must be 0..255`);
    const local = o.local !== undefined ? ipToBytes(o.local, 'local') : undefined;
    const remote = o.remote !== undefined ? ipToBytes(o.remote, 'remote') : undefined;
    if (local && remote && local.length !== remote.length) throw new InvalidArgumentError('remote: must be the same address family as local');
    const dev = o.dev !== undefined ? this.index(o.dev, 'dev') : undefined;
    this.create('vxlan', name, o, undefined, (w) => {
      w.u32(IFLA_VXLAN.ID, o.vni);
      if (local) w.attr(local.length === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, local);
      if (remote) w.attr(remote.length === 4 ? IFLA_VXLAN.GROUP : IFLA_VXLAN.GROUP6, remote);
      if (dev !== undefined) w.u32(IFLA_VXLAN.LINK, dev);
      if (o.ttl !== undefined) w.u8(IFLA_VXLAN.TTL, o.ttl);
      w.u8(IFLA_VXLAN.LEARNING, o.learning ? 1 : 0);
      w.u16be(IFLA_VXLAN.PORT, o.port);
    });
  }

  /** Apply `c` in one RTM_SETLINK. */
  set(ref: LinkRef, c: LinkChanges, op = 'set link'): void {
    checkMtu(c.mtu);
    checkGroup(c.group);
    if (c.name !== undefined) checkIfname(c.name);
    const mac = c.mac !== undefined ? macToBytes(c.mac) : undefined;
    const master = c.master === null ? 0 : c.master !== undefined ? this.index(c.master, 'master') : undefined;
    // Renames need the index (IFLA_IFNAME then carries the new name); otherwise look up by name
    // in the same request.
    const index = typeof ref === 'number' || c.name !== undefined ? this.index(ref) : 0;
    if (index === 0) checkIfname(ref as string, 'link');
    const w = this.sock.writer.begin(RTM.SETLINK, NLM_F.REQUEST | NLM_F.ACK);
    ifinfomsg(w, index, c.up);
    if (index === 0) w.str(IFLA.IFNAME, ref as string);
    else if (c.name !== undefined) w.str(IFLA.IFNAME, c.name);
    if (c.mtu !== undefined) w.u32(IFLA.MTU, c.mtu);
    if (mac) w.attr(IFLA.ADDRESS, mac);
    if (master !== undefined) w.u32(IFLA.MASTER, master);
    if (c.group !== undefined) w.u32(IFLA.GROUP, c.group);
    if (c.netns) w.u32(IFLA.NET_NS_FD, c.netns.fd);
    this.sock.request(op, String(ref));
  }

  setBridgePort(ref: LinkRef, o: BridgePortOptions): void {
    const index = this.index(ref);
    const w = this.sock.writer.begin(RTM.SETLINK, NLM_F.REQUEST | NLM_F.ACK);
    ifinfomsg(w, index, undefined, AF_BRIDGE);
    const n = w.nest(IFLA.PROTINFO);
    if (o.hairpin !== undefined) w.u8(IFLA_BRPORT.MODE, o.hairpin ? 1 : 0);
    if (o.isolated !== undefined) w.u8(IFLA_BRPORT.ISOLATED, o.isolated ? 1 : 0);
    if (o.learning !== undefined) w.u8(IFLA_BRPORT.LEARNING, o.learning ? 1 : 0);
    if (o.unicastFlood !== undefined) w.u8(IFLA_BRPORT.UNICAST_FLOOD, o.unicastFlood ? 1 : 0);
    w.end(n);
    this.sock.request('set bridge port', String(ref));
  }

  delete(ref: LinkRef): void {
    this.writeDelete(ref);
    this.sock.request('delete link', String(ref));
  }

  /** Build an RTM_DELLINK for `ref` in the writer (by name or index, no lookup). */
  writeDelete(ref: LinkRef): void {
    if (typeof ref === 'number') this.index(ref); // validates
    else checkIfname(ref, 'link');
    const w = this.sock.writer.begin(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK);
    if (typeof ref === 'number') {
      ifinfomsg(w, ref);
    } else {
      ifinfomsg(w);
      w.str(IFLA.IFNAME, ref);
    }
  }

  /** Delete every link of `group` in one request: the kernel unregisters them as one batch. */
  deleteGroup(group: number): void {
    this.writeDeleteGroup(group);
    this.sock.request('delete link group', String(group));
  }

  writeDeleteGroup(group: number): void {
    checkGroup(group);
    const w = this.sock.writer.begin(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK);
    ifinfomsg(w);
    w.u32(IFLA.GROUP, group);
  }
}
