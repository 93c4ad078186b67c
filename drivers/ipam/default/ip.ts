// drivers/ipam/default/ip.ts — IPv4/IPv6 address and CIDR arithmetic for the default IPAM, on
// bigint so one code path serves both families. Parsing is strict: bad input becomes an
// InvalidArgumentError naming the field it came from.

import { isIPv4, isIPv6 } from 'node:net';
import { InvalidArgumentError } from '../../../core/errors.js';

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** Masked network address. */
  network: bigint;
  prefix: number;
}

export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);
export const familyName = (f: Family): string => (f === 4 ? 'IPv4' : 'IPv6');

function parseV4(s: string): bigint {
  let v = 0n;
  for (const part of s.split('.')) v = (v << 8n) | BigInt(Number(part));
  return v;
}

function parseV6(s: string): bigint {
  // Embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = s.lastIndexOf(':');
  let text = s;
  if (s.includes('.', lastColon)) {
    const v4 = parseV4(s.slice(lastColon + 1));
    text = `${s.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
  return v;
}

/** Parse a plain IP; `field` names the request field for the error. */
export function parseIp(s: string, field: string): Ip {
  if (isIPv4(s)) return { family: 4, value: parseV4(s) };
  if (isIPv6(s) && !s.includes('%')) return { family: 6, value: parseV6(s) };
  throw new InvalidArgumentError(`${field}: ${JSON.stringify(s)} is not a valid IP address`);
}

/** Parse "addr/len" and mask it to its network. */
export function parseCidr(s: string, field: string): Cidr {
  const slash = s.indexOf('/');
  const bad = () => new InvalidArgumentError(`${field}: ${JSON.stringify(s)} is not a valid CIDR`);
  if (slash < 0) throw bad();
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len)) throw bad();
  let ip: Ip;
  try {
    ip = parseIp(addr, field);
  } catch {
    throw bad();
  }
  const prefix = Number(len);
  if (prefix > bitsOf(ip.family)) throw bad();
  return { family: ip.family, network: ip.value & maskOf(ip.family, prefix), prefix };
}

export function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

export const sizeOf = (c: Cidr): bigint => 1n << BigInt(bitsOf(c.family) - c.prefix);
export const lastOf = (c: Cidr): bigint => c.network + sizeOf(c) - 1n;

export function contains(outer: Cidr, ip: bigint): boolean {
  return ip >= outer.network && ip <= lastOf(outer);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && contains(outer, inner.network);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.network <= lastOf(b) && b.network <= lastOf(a);
}

export function formatIp(family: Family, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on ties.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export const formatCidr = (c: Cidr): string => `${formatIp(c.family, c.network)}/${c.prefix}`;
