// drivers/network/bridge/options.ts — Docker's bridge network options (`-o k=v`,
// com.docker.network.bridge.* and friends) parsed into a typed BridgeConfig. Every option Docker's
// bridge driver knows is honoured or rejected with a message naming it; other keys (user labels
// of remote tooling) are left alone, as Docker does.

import net from 'node:net';
import { InvalidArgumentError } from '../../../core/errors.js';
import { parseOptionBool } from '../../../core/model/options.js';

export const OPT = {
  name: 'com.docker.network.bridge.name',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  icc: 'com.docker.network.bridge.enable_icc',
  hostBinding: 'com.docker.network.bridge.host_binding_ipv4',
  inhibitIpv4: 'com.docker.network.bridge.inhibit_ipv4',
  defaultBridge: 'com.docker.network.bridge.default_bridge',
  gatewayModeV4: 'com.docker.network.bridge.gateway_mode_ipv4',
  gatewayModeV6: 'com.docker.network.bridge.gateway_mode_ipv6',
  trustedHostIfaces: 'com.docker.network.bridge.trusted_host_interfaces',
  mtu: 'com.docker.network.driver.mtu',
  ifacePrefix: 'com.docker.network.container_iface_prefix',
  hostIpv4: 'com.docker.network.host_ipv4',
  hostIpv6: 'com.docker.network.host_ipv6',
  enableIpv4: 'com.docker.network.enable_ipv4',
  enableIpv6: 'com.docker.network.enable_ipv6',
  internal: 'com.docker.network.internal',
} as const;

export type GatewayMode = 'nat' | 'nat-unprotected' | 'routed';

export interface BridgeConfig {
  /** Bridge name, or undefined for tsd-<short id>. */
  bridgeName: string | undefined;
  masquerade: boolean;
  icc: boolean;
  hostBindingIpv4: string | undefined;
  hostBindingIpv6: string | undefined;
  /** Do not put the IPv4 gateway address on the bridge. */
  inhibitIpv4: boolean;
  gatewayModeV4: GatewayMode;
  gatewayModeV6: GatewayMode;
  /** 0 = the kernel's default (1500). */
  mtu: number;
  ifacePrefix: string;
}

const ifnameRe = /^[A-Za-z0-9_.-]{1,15}$/;

function bad(key: string, why: string): never {
  throw new InvalidArgumentError(`option ${key}: ${why}`);
}

function gatewayMode(key: string, v: string | undefined): GatewayMode {
  if (v === undefined || v === '' || v === 'nat') return 'nat';
  if (v === 'nat-unprotected' || v === 'routed') return v;
  if (v === 'isolated') bad(key, '"isolated" is not supported by tsd-bridge (use --internal)');
  return bad(key, `${JSON.stringify(v)} must be one of nat, nat-unprotected, routed`);
}

/** Parse the generic options of CreateNetwork. Throws InvalidArgumentError naming the option. */
export function parseBridgeOptions(generic: Record<string, string | unknown>): BridgeConfig {
  const get = (k: string): string | undefined => {
    const v = generic[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean' || typeof v === 'number') return String(v);
    if (typeof v !== 'string') bad(k, 'must be a string');
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = get(k);
    return v === undefined || v === '' ? dflt : parseOptionBool(k, v);
  };

  const name = get(OPT.name);
  if (name !== undefined && name !== '' && !ifnameRe.test(name)) bad(OPT.name, `${JSON.stringify(name)} is not a valid interface name (1-15 of [A-Za-z0-9_.-])`);
  if (bool(OPT.defaultBridge, false)) bad(OPT.defaultBridge, 'tsd has no default bridge network; create a named one');
  const trusted = get(OPT.trustedHostIfaces);
  if (trusted) bad(OPT.trustedHostIfaces, 'not supported by tsd-bridge');
  for (const k of [OPT.hostIpv4, OPT.hostIpv6]) if (get(k)) bad(k, 'SNAT to a fixed host address is not supported by tsd-bridge (masquerade only)');

  let hostBindingIpv4: string | undefined;
  let hostBindingIpv6: string | undefined;
  const hb = get(OPT.hostBinding);
  if (hb !== undefined && hb !== '') {
    if (net.isIPv4(hb)) hostBindingIpv4 = hb;
    else if (net.isIPv6(hb)) hostBindingIpv6 = hb;
    else bad(OPT.hostBinding, `${JSON.stringify(hb)} is not an IP address`);
  }

  let mtu = 0;
  const m = get(OPT.mtu);
  if (m !== undefined && m !== '') {
    if (!/^\d+$/.test(m)) bad(OPT.mtu, `${JSON.stringify(m)} is not an integer`);
    mtu = Number(m);
    if (mtu !== 0 && (mtu < 68 || mtu > 65535)) bad(OPT.mtu, `${mtu} must be in 68..65535`);
  }

  const prefix = get(OPT.ifacePrefix);
  if (prefix !== undefined && prefix !== '' && !/^[A-Za-z][A-Za-z0-9_-]{0,9}$/.test(prefix)) {
    bad(OPT.ifacePrefix, `${JSON.stringify(prefix)} must be 1-10 of [A-Za-z0-9_-], starting with a letter`);
  }

  const masquerade = bool(OPT.masquerade, true);
  return {
    bridgeName: name || undefined,
    masquerade,
    icc: bool(OPT.icc, true),
    hostBindingIpv4,
    hostBindingIpv6,
    inhibitIpv4: bool(OPT.inhibitIpv4, false),
    gatewayModeV4: gatewayMode(OPT.gatewayModeV4, get(OPT.gatewayModeV4)),
    gatewayModeV6: gatewayMode(OPT.gatewayModeV6, get(OPT.gatewayModeV6)),
    mtu,
    ifacePrefix: prefix || 'eth',
  };
}
