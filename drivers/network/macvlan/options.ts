// drivers/network/macvlan/options.ts — the macvlan network's options as Docker spells them, parsed
// and validated before anything touches the kernel. Pure functions (unit-tested without root).
//
//   -o parent=eth0                      parent link in the daemon's netns; "eth0.10" = 802.1q
//                                       sub-interface (created when missing; needs CONFIG_VLAN_8021Q)
//   -o macvlan_mode=bridge              bridge (default) | private | vepa | passthru
//   -o com.docker.network.driver.mtu=N  MTU of the sandboxes' interfaces (≤ the parent's)
//   -o tsd.macvlan.host_shim=true       a macvlan on the host side so the host reaches its sandboxes
//                                       (needs --aux-address host_shim=<ip>, reserved in IPAM)
//
// No parent → an internal parent per network and the network is internal (as Docker).

import { InvalidArgumentError } from '../../../core/errors.js';
import { ipOf, isIp, isV6, parseCidr } from '../../../core/model/addr.js';
import type { IpamData } from '../../../core/driver/network-driver.js';

export const OPT_PARENT = 'parent';
export const OPT_MODE = 'macvlan_mode';
export const OPT_MTU = 'com.docker.network.driver.mtu';
export const OPT_HOST_SHIM = 'tsd.macvlan.host_shim';
/** The aux address (`--aux-address host_shim=IP`) the host shim takes. */
export const HOST_SHIM_AUX_KEY = 'host_shim';

const TSD_PREFIX = 'tsd.macvlan.';
const KNOWN_TSD_OPTIONS = new Set([OPT_HOST_SHIM]);

export type MacvlanNetworkMode = 'bridge' | 'private' | 'vepa' | 'passthru';
export const MACVLAN_MODES: readonly MacvlanNetworkMode[] = ['bridge', 'private', 'vepa', 'passthru'];

export interface MacvlanNetworkConfig {
  /** Parent link name; "" = none given (the driver makes an internal parent). */
  parent: string;
  mode: MacvlanNetworkMode;
  mtu: number | undefined;
  hostShim: boolean;
  /** --internal, or no parent (Docker: a parentless macvlan network is internal). */
  internal: boolean;
}

const IFNAME_RE = /^[^\s/:]{1,15}$/;

/** Parse `-o` options. Unknown Docker options are ignored (as Docker); unknown tsd.macvlan.* are errors (typos). */
export function parseMacvlanOptions(generic: Record<string, string>, internal: boolean): MacvlanNetworkConfig {
  const parent = generic[OPT_PARENT] ?? '';
  if (parent !== '') {
    if (!IFNAME_RE.test(parent) || parent === '.' || parent === '..') {
      throw new InvalidArgumentError(`${OPT_PARENT}: ${JSON.stringify(parent)} is not a valid interface name (1-15 chars, no space, '/' or ':')`);
    }
    if (parent === 'lo') throw new InvalidArgumentError(`${OPT_PARENT}: the loopback interface is not a valid macvlan parent`);
  }
  const modeRaw = generic[OPT_MODE] ?? '';
  const mode = (modeRaw === '' ? 'bridge' : modeRaw) as MacvlanNetworkMode;
  if (!MACVLAN_MODES.includes(mode)) {
    throw new InvalidArgumentError(`${OPT_MODE}: ${JSON.stringify(modeRaw)} must be one of ${MACVLAN_MODES.join(', ')} (default bridge)`);
  }
  let mtu: number | undefined;
  const mtuRaw = generic[OPT_MTU];
  if (mtuRaw !== undefined && mtuRaw !== '' && mtuRaw !== '0') {
    mtu = /^\d{1,5}$/.test(mtuRaw) ? Number(mtuRaw) : NaN;
    if (!(mtu >= 68 && mtu <= 65535)) throw new InvalidArgumentError(`${OPT_MTU}: ${JSON.stringify(mtuRaw)} must be an integer in 68..65535`);
  }
  const shimRaw = generic[OPT_HOST_SHIM];
  let hostShim = false;
  if (shimRaw !== undefined) {
    if (shimRaw === 'true' || shimRaw === '1') hostShim = true;
    else if (shimRaw === 'false' || shimRaw === '0' || shimRaw === '') hostShim = false;
    else throw new InvalidArgumentError(`${OPT_HOST_SHIM}: ${JSON.stringify(shimRaw)} must be true or false`);
  }
  for (const k of Object.keys(generic)) {
    if (k.startsWith(TSD_PREFIX) && !KNOWN_TSD_OPTIONS.has(k)) {
      throw new InvalidArgumentError(`${k}: unknown macvlan option (known: ${[...KNOWN_TSD_OPTIONS].join(', ')})`);
    }
  }
  if (hostShim && (mode === 'private' || mode === 'passthru')) {
    // private drops frames between macvlans of one parent; passthru allows one macvlan per parent.
    throw new InvalidArgumentError(`${OPT_HOST_SHIM}: needs ${OPT_MODE}=bridge or vepa (${mode} mode cannot reach a second macvlan on the parent)`);
  }
  return { parent, mode, mtu, hostShim, internal: internal || parent === '' };
}

/**
 * "eth0.10" → { base: "eth0", id: 10 } when the name reads as an 802.1q sub-interface; a string
 * explaining why not otherwise (only an error when no link of that name exists).
 */
export function parseVlanParent(parent: string): { base: string; id: number } | string {
  const dot = parent.lastIndexOf('.');
  if (dot <= 0 || dot === parent.length - 1) return `${parent} does not exist and is not of the form <link>.<vlan id>`;
  const base = parent.slice(0, dot);
  const idText = parent.slice(dot + 1);
  if (!/^\d{1,4}$/.test(idText)) return `${parent} does not exist and ${JSON.stringify(idText)} is not a VLAN id`;
  const id = Number(idText);
  if (id < 1 || id > 4094) return `${parent}: VLAN id ${id} must be in 1..4094`;
  return { base, id };
}

/** One pool as the driver keeps it: subnet CIDR and the gateway IP (plain), if any. */
export interface MacvlanPool {
  subnet: string;
  gateway: string;
}

export function poolsOf(data: readonly IpamData[], family: 4 | 6): MacvlanPool[] {
  return data.map((d, i) => {
    const c = parseCidr(d.pool);
    const field = `ipv${family}Data[${i}].Pool`;
    if (!c) throw new InvalidArgumentError(`${field}: ${JSON.stringify(d.pool)} is not a valid CIDR`);
    if (c.v6 !== (family === 6)) throw new InvalidArgumentError(`${field}: ${d.pool} is not an IPv${family} subnet`);
    return { subnet: d.pool, gateway: d.gateway ? ipOf(d.gateway) : '' };
  });
}

/** The address the host shim takes, from `--aux-address host_shim=IP` of the given pools (CIDR with the pool's prefix). */
export function shimAddresses(ipv4: readonly IpamData[], ipv6: readonly IpamData[]): { ipv4: string; ipv6: string } {
  const pick = (data: readonly IpamData[]) => {
    for (const d of data) {
      const a = d.auxAddresses?.[HOST_SHIM_AUX_KEY];
      if (a) {
        if (!isIp(ipOf(a))) throw new InvalidArgumentError(`AuxiliaryAddresses.${HOST_SHIM_AUX_KEY}: ${JSON.stringify(a)} is not an IP address`);
        return ipOf(a);
      }
    }
    return '';
  };
  const v4 = pick(ipv4);
  const v6 = pick(ipv6);
  if (v4 && isV6(v4)) throw new InvalidArgumentError(`AuxiliaryAddresses.${HOST_SHIM_AUX_KEY}: ${v4} is in an IPv4 pool but is IPv6`);
  if (!v4 && !v6) {
    throw new InvalidArgumentError(
      `${OPT_HOST_SHIM}: needs an address reserved for the shim: add --aux-address ${HOST_SHIM_AUX_KEY}=<free IP in the subnet>`,
    );
  }
  return { ipv4: v4, ipv6: v6 };
}

/** Whether plain IP `ip` lies in CIDR `subnet` (same family). */
export function inSubnet(ip: string, subnet: string): boolean {
  const c = parseCidr(subnet);
  if (!c || !isIp(ip) || isV6(ip) !== c.v6) return false;
  const shift = BigInt((c.v6 ? 128 : 32) - c.prefix);
  return ipBits(ip) >> shift === ipBits(c.ip) >> shift;
}

function ipBits(ip: string): bigint {
  if (!isV6(ip)) return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  const halves = ip.split('::');
  const groups = (part: string | undefined) =>
    !part ? [] : part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)];
      const v4 = Number(ipBits(g)); // embedded IPv4 tail: two groups
      return [Math.floor(v4 / 65536), v4 % 65536];
    });
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const all = halves.length === 2 ? [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}
