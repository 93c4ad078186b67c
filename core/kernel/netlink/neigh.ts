// core/kernel/netlink/neigh.ts — RTM_*NEIGH for two tables: the IP neighbour table (permanent
// ARP/NDP entries) and the bridge FDB (AF_BRIDGE; on a vxlan device an entry's NDA_DST is the
// remote VTEP, `bridge fdb append 00:00:00:00:00:00 dev vx dst 10.0.0.5`).

import { bytesToIp, bytesToMac, ipFamily, ipToBytes, macToBytes, AF_INET, AF_INET6 } from '../inet.js';
import { AF_BRIDGE, attrU32, NDA, NLM_F, NTF, NUD, parseAttrList, RTM, type MessageWriter, type NetlinkMessage } from './codec.js';
import type { NetlinkSocket } from './socket.js';

export interface Neighbour {
  index: number;
  family: 4 | 6;
  address: string;
  mac: string | undefined;
  /** NUD_* state bits (0x80 permanent). */
  state: number;
  permanent: boolean;
}

export interface FdbEntry {
  index: number;
  mac: string;
  /** Remote VTEP (vxlan). */
  dst: string | undefined;
  vni: number | undefined;
  /** ifindex of the bridge, for entries in a bridge's own FDB. */
  master: number | undefined;
  /** NTF_SELF: the device's own table (vxlan) rather than the bridge's. */
  self: boolean;
  permanent: boolean;
  state: number;
}

function ndmsg(w: MessageWriter, family: number, index: number, state: number, flags: number): void {
  const off = w.struct(12);
  w.buf.writeUInt8(family, off);
  w.buf.writeInt32LE(index, off + 4);
  w.buf.writeUInt16LE(state, off + 8);
  w.buf.writeUInt8(flags, off + 10);
}

export function writeNeighbour(w: MessageWriter, index: number, ip: string, mac?: string): void {
  const family = ipFamily(ip);
  ndmsg(w, family === 4 ? AF_INET : AF_INET6, index, NUD.PERMANENT, 0);
  w.attr(NDA.DST, ipToBytes(ip));
  if (mac !== undefined) w.attr(NDA.LLADDR, macToBytes(mac));
}

export interface FdbSpec {
  mac: string;
  /** Remote VTEP address (vxlan devices). */
  dst?: string;
  /** The bridge's FDB (NTF_MASTER) instead of the device's own (NTF_SELF, default). */
  master?: boolean;
  vni?: number;
}

export function writeFdb(w: MessageWriter, index: number, f: FdbSpec): void {
  ndmsg(w, AF_BRIDGE, index, NUD.PERMANENT, f.master ? NTF.MASTER : NTF.SELF);
  w.attr(NDA.LLADDR, macToBytes(f.mac));
  if (f.dst !== undefined) w.attr(NDA.DST, ipToBytes(f.dst, 'dst'));
  if (f.vni !== undefined) w.u32(NDA.VNI, f.vni);
}

export function decodeNeighbour(m: NetlinkMessage): Neighbour {
  const p = m.payload;
  const state = p.readUInt16LE(8);
  let address = '';
  let mac: string | undefined;
  for (const [t, v] of parseAttrList(p, 12)) {
    if (t === NDA.DST) address = bytesToIp(v);
    else if (t === NDA.LLADDR && v.length === 6) mac = bytesToMac(v);
  }
  return { index: p.readInt32LE(4), family: p.readUInt8(0) === AF_INET ? 4 : 6, address, mac, state, permanent: (state & NUD.PERMANENT) !== 0 };
}

export function decodeFdb(m: NetlinkMessage): FdbEntry {
  const p = m.payload;
  const state = p.readUInt16LE(8);
  const flags = p.readUInt8(10);
  let mac = '';
  let dst: string | undefined;
  let vni: number | undefined;
  let master: number | undefined;
  for (const [t, v] of parseAttrList(p, 12)) {
    if (t === NDA.LLADDR) mac = bytesToMac(v);
    else if (t === NDA.DST) dst = bytesToIp(v);
    else if (t === NDA.VNI) vni = attrU32(v);
    else if (t === NDA.MASTER) master = attrU32(v);
  }
  return { index: p.readInt32LE(4), mac, dst, vni, master, self: (flags & NTF.SELF) !== 0, permanent: (state & NUD.PERMANENT) !== 0, state };
}

export function dumpNeigh(sock: NetlinkSocket, where: string, family: number): NetlinkMessage[] {
  const w = sock.writer.begin(RTM.GETNEIGH, NLM_F.REQUEST | NLM_F.DUMP);
  ndmsg(w, family, 0, 0, 0);
  return sock.request(family === AF_BRIDGE ? 'list fdb' : 'list neighbours', where);
}

export { AF_BRIDGE };
