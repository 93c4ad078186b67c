// core/kernel/netlink/addr.ts — RTM_*ADDR: add, delete and dump IPv4/IPv6 addresses.
// IPv6 addresses can skip duplicate address detection (nodad) so they are usable at once;
// otherwise they sit "tentative" for ~1 s and bind(2) on them fails with EADDRNOTAVAIL.

import { bytesToIp, ipToBytes, parseCidr, AF_INET, AF_INET6 } from '../inet.js';
import { attrStr, attrU32, IFA, IFA_F, NLM_F, parseAttrs, RTM, type NetlinkMessage } from './codec.js';
import type { NetlinkSocket } from './socket.js';

export interface Address {
  /** ifindex of the link. */
  index: number;
  family: 4 | 6;
  address: string;
  prefixLen: number;
  /** "10.0.0.2/24" */
  cidr: string;
  /** IFA_LABEL (IPv4 only). */
  label: string | undefined;
  scope: number;
  /** IFA_F_* flags (IFA_FLAGS, 32 bit). */
  flags: number;
}

export interface AddAddressOptions {
  /** IPv6: skip DAD (usable immediately). Default true for IPv6. */
  nodad?: boolean;
  /** IPv4 broadcast address; "auto" derives it from the prefix (`ip addr add … brd +`). */
  broadcast?: string | 'auto';
  /** Replace an existing address instead of failing with EEXIST. */
  replace?: boolean;
}

function broadcastOf(address: string, prefixLen: number): Buffer {
  const b = ipToBytes(address);
  for (let bit = prefixLen; bit < 32; bit++) b[bit >> 3]! |= 0x80 >> (bit & 7);
  return b;
}

export function writeAddress(sock: NetlinkSocket, type: number, flags: number, index: number, cidr: string, o: AddAddressOptions = {}): void {
  const c = parseCidr(cidr);
  const bytes = ipToBytes(c.address);
  let ifaFlags = 0;
  if (c.family === 6 && o.nodad !== false && type === RTM.NEWADDR) ifaFlags |= IFA_F.NODAD;
  const w = sock.writer.begin(type, flags);
  const off = w.struct(8);
  w.buf.writeUInt8(c.family === 4 ? AF_INET : AF_INET6, off);
  w.buf.writeUInt8(c.prefixLen, off + 1);
  w.buf.writeUInt8(ifaFlags & 0xff, off + 2);
  w.buf.writeUInt32LE(index, off + 4);
  w.attr(IFA.LOCAL, bytes);
  w.attr(IFA.ADDRESS, bytes);
  if (c.family === 4 && o.broadcast !== undefined) {
    w.attr(IFA.BROADCAST, o.broadcast === 'auto' ? broadcastOf(c.address, c.prefixLen) : ipToBytes(o.broadcast, 'broadcast'));
  }
  if (ifaFlags) w.u32(IFA.FLAGS, ifaFlags);
}

export function decodeAddress(m: NetlinkMessage): Address {
  const p = m.payload;
  const a = parseAttrs(p, 8);
  const family = p.readUInt8(0) === AF_INET ? 4 : 6;
  const raw = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
  const address = raw ? bytesToIp(raw) : '';
  const prefixLen = p.readUInt8(1);
  return {
    index: p.readUInt32LE(4),
    family,
    address,
    prefixLen,
    cidr: `${address}/${prefixLen}`,
    label: attrStr(a.get(IFA.LABEL)),
    scope: p.readUInt8(3),
    flags: attrU32(a.get(IFA.FLAGS)) ?? p.readUInt8(2),
  };
}

export function dumpAddresses(sock: NetlinkSocket, where: string, family?: 4 | 6): Address[] {
  const w = sock.writer.begin(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP);
  const off = w.struct(8);
  w.buf.writeUInt8(family === 4 ? AF_INET : family === 6 ? AF_INET6 : 0, off);
  return sock.request('list addresses', where).map(decodeAddress);
}
