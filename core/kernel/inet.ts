// core/kernel/inet.ts — addresses in the binary form the kernel wants: IPv4/IPv6 strings to and
// from bytes, CIDR prefixes, MAC addresses and sockaddr structs. Pure functions, no syscalls;
// shared by netns.ts (sockaddr for bind) and netlink/ (rtattr payloads).

import net from 'node:net';
import { InvalidArgumentError } from '../errors.js';

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface Cidr {
  /** The address as written ("10.0.0.2"), not masked. */
  address: string;
  prefixLen: number;
  family: 4 | 6;
}

/** Address family of an IP string, or throw naming `field`. */
export function ipFamily(ip: string, field = 'address'): 4 | 6 {
  const f = net.isIP(ip);
  if (f === 4 || f === 6) return f;
  throw new InvalidArgumentError(`${field}: ${JSON.stringify(ip)} is not a valid IP address`);
}

/** "10.0.0.1" → 4 bytes, "fd00::1" → 16 bytes (network order). */
export function ipToBytes(ip: string, field = 'address'): Buffer {
  const family = ipFamily(ip, field);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  const out = Buffer.alloc(16);
  let text = ip;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = text.slice(0, v4.index) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  hs.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  ts.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 16 - (ts.length - i) * 2));
  return out;
}

/** Bytes (4 or 16) → canonical text (RFC 5952 for IPv6, as `ip` prints it). */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new InvalidArgumentError(`address: ${b.length} bytes is neither IPv4 nor IPv6`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // Longest run (≥2) of zero groups becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** "10.0.0.2/24" → { address, prefixLen, family }. A bare address gets /32 or /128. */
export function parseCidr(text: string, field = 'address'): Cidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = ipFamily(address, field);
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefixLen: max, family };
  const p = text.slice(slash + 1);
  const prefixLen = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
  if (!(prefixLen >= 0 && prefixLen <= max)) {
    throw new InvalidArgumentError(`${field}: ${JSON.stringify(text)} is not a valid CIDR (prefix must be 0..${max})`);
  }
  return { address, prefixLen, family };
}

/** The network address of a CIDR ("10.0.0.7/24" → "10.0.0.0"). */
export function networkOf(c: Cidr): string {
  const b = ipToBytes(c.address);
  for (let bit = c.prefixLen; bit < b.length * 8; bit++) b[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return bytesToIp(b);
}

const macRe = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** "02:42:ac:11:00:02" → 6 bytes. */
export function macToBytes(mac: string, field = 'mac'): Buffer {
  if (!macRe.test(mac)) throw new InvalidArgumentError(`${field}: ${JSON.stringify(mac)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function bytesToMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** struct sockaddr_in / sockaddr_in6 for bind(2). */
export function sockaddr(address: string, port: number): Buffer {
  const family = ipFamily(address);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`port: ${port} is not a port number (0..65535)`);
  }
  if (family === 4) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    ipToBytes(address).copy(b, 4);
    return b;
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  ipToBytes(address).copy(b, 8);
  return b;
}
