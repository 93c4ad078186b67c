// core/model/addr.ts — the small amount of address syntax the edge checks before IPAM sees it:
// plain IPs and CIDRs, v4 or v6.

import net from 'node:net';

export function isIp(s: string): boolean {
  return net.isIP(s) !== 0;
}

/** "10.0.0.0/8" → { ip: "10.0.0.0", prefix: 8, v6: false }, or undefined when not a CIDR. */
export function parseCidr(s: string): { ip: string; prefix: number; v6: boolean } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const fam = net.isIP(m[1]!);
  const prefix = Number(m[2]);
  if (fam === 0 || prefix > (fam === 4 ? 32 : 128)) return undefined;
  return { ip: m[1]!, prefix, v6: fam === 6 };
}

/** The plain IP of a CIDR or IP string ("10.0.0.2/24" → "10.0.0.2"). */
export function ipOf(s: string): string {
  const i = s.indexOf('/');
  return i < 0 ? s : s.slice(0, i);
}

/** Give a plain IP the prefix length of `pool` ("10.0.0.1", "10.0.0.0/24" → "10.0.0.1/24"). */
export function withPrefixOf(ip: string, pool: string): string {
  const i = pool.indexOf('/');
  return i < 0 ? ip : `${ipOf(ip)}${pool.slice(i)}`;
}

export function isV6(s: string): boolean {
  return ipOf(s).includes(':');
}
