// core/kernel/netlink/route.ts — RTM_*ROUTE: add/replace, delete and dump routes (default via a
// gateway, on-link device routes), main table unless told otherwise.

import { InvalidArgumentError } from '../../errors.js';
import { bytesToIp, ipFamily, ipToBytes, parseCidr, AF_INET, AF_INET6 } from '../inet.js';
import { attrU32, NLM_F, parseAttrs, RT_SCOPE, RT_TABLE_MAIN, RTA, RTN, RTPROT, RTM, type MessageWriter, type NetlinkMessage } from './codec.js';
import type { NetlinkSocket } from './socket.js';

export interface RouteSpec {
  /** "default" (0.0.0.0/0 or ::/0, family from the gateway) or a CIDR. */
  dst: string;
  /** Next hop. Without one the route is on-link (scope link) through `dev`. */
  gateway?: string;
  /** Output device (name or ifindex), resolved by the caller. */
  oif?: number;
  /** Metric (RTA_PRIORITY). */
  metric?: number;
  /** Routing table id (default main, 254). */
  table?: number;
  /** Preferred source address. */
  src?: string;
}

export interface Route {
  family: 4 | 6;
  /** "default" or a CIDR. */
  dst: string;
  gateway: string | undefined;
  /** Output ifindex. */
  oif: number | undefined;
  metric: number | undefined;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  src: string | undefined;
}

function familyOf(r: RouteSpec): 4 | 6 {
  if (r.dst === 'default') {
    if (r.gateway) return ipFamily(r.gateway, 'gateway');
    if (r.src) return ipFamily(r.src, 'src');
    throw new InvalidArgumentError('dst: "default" needs a gateway (or src) to pick IPv4 or IPv6');
  }
  return parseCidr(r.dst, 'dst').family;
}

export function writeRoute(w: MessageWriter, r: RouteSpec): void {
  const family = familyOf(r);
  const dst = r.dst === 'default' ? undefined : parseCidr(r.dst, 'dst');
  if (r.gateway && ipFamily(r.gateway, 'gateway') !== family) throw new InvalidArgumentError(`gateway: ${r.gateway} is not the family of dst ${r.dst}`);
  if (!r.gateway && r.oif === undefined) throw new InvalidArgumentError(`route ${r.dst}: needs a gateway or a dev`);
  const table = r.table ?? RT_TABLE_MAIN;
  const off = w.struct(12);
  w.buf.writeUInt8(family === 4 ? AF_INET : AF_INET6, off);
  w.buf.writeUInt8(dst?.prefixLen ?? 0, off + 1);
  w.buf.writeUInt8(table < 256 ? table : 252 /* RT_TABLE_COMPAT */, off + 4);
  w.buf.writeUInt8(RTPROT.BOOT, off + 5);
  w.buf.writeUInt8(r.gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK, off + 6);
  w.buf.writeUInt8(RTN.UNICAST, off + 7);
  if (dst) w.attr(RTA.DST, ipToBytes(dst.address));
  if (r.gateway) w.attr(RTA.GATEWAY, ipToBytes(r.gateway, 'gateway'));
  if (r.oif !== undefined) w.u32(RTA.OIF, r.oif);
  if (r.metric !== undefined) w.u32(RTA.PRIORITY, r.metric);
  if (r.src) w.attr(RTA.PREFSRC, ipToBytes(r.src, 'src'));
  if (table >= 256) w.u32(RTA.TABLE, table);
}

export function routeFlags(replace?: boolean): number {
  return NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | (replace ? NLM_F.REPLACE : NLM_F.EXCL);
}

export function decodeRoute(m: NetlinkMessage): Route {
  const p = m.payload;
  const a = parseAttrs(p, 12);
  const family = p.readUInt8(0) === AF_INET ? 4 : 6;
  const dstLen = p.readUInt8(1);
  const dst = a.get(RTA.DST);
  const gw = a.get(RTA.GATEWAY);
  const src = a.get(RTA.PREFSRC);
  return {
    family,
    dst: dst ? `${bytesToIp(dst)}/${dstLen}` : dstLen === 0 ? 'default' : `?/${dstLen}`,
    gateway: gw ? bytesToIp(gw) : undefined,
    oif: attrU32(a.get(RTA.OIF)),
    metric: attrU32(a.get(RTA.PRIORITY)),
    table: attrU32(a.get(RTA.TABLE)) ?? p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
    src: src ? bytesToIp(src) : undefined,
  };
}

export function dumpRoutes(sock: NetlinkSocket, where: string, family?: 4 | 6): Route[] {
  const w = sock.writer.begin(RTM.GETROUTE, NLM_F.REQUEST | NLM_F.DUMP);
  const off = w.struct(12);
  w.buf.writeUInt8(family === 4 ? AF_INET : family === 6 ? AF_INET6 : 0, off);
  return sock.request('list routes', where).map(decodeRoute);
}
