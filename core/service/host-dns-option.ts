// core/service/host-dns-option.ts — the network option `com.tsd.network.host_dns`: serve the
// network's names to the host on its gateway (core/dns/host-dns.ts). A service-level option,
// not a driver's: the DNS belongs to the services; a driver only says whether its gateway lives
// on the host (NetworkDriverCapabilities.gatewayOnHost). Validated before any create step.

import { InvalidArgumentError } from '../errors.js';
import type { NetworkDriverCapabilities } from '../driver/network-driver.js';
import { parseOptionBool } from '../model/options.js';

export const HOST_DNS_OPTION = 'com.tsd.network.host_dns';

/** The option's value (Go's ParseBool spellings, as Docker's options); absent or "" is false. */
export function hostDnsOption(options: Record<string, unknown>): boolean {
  const v = options[HOST_DNS_OPTION];
  if (v === undefined || v === null || v === '') return false;
  return parseOptionBool(HOST_DNS_OPTION, String(v));
}

/** The option as stored (validated at create); a value stored before validation counts as off. */
export function hostDnsOn(options: Record<string, unknown>): boolean {
  try {
    return hostDnsOption(options);
  } catch {
    return false;
  }
}

/** Throws InvalidArgument naming the option when a network of this kind cannot have it on. */
export function checkHostDns(
  n: { internal: boolean; driver: string }, caps: NetworkDriverCapabilities, dnsAvailable: boolean,
): void {
  if (n.internal) throw new InvalidArgumentError(`option ${HOST_DNS_OPTION}: not allowed on an internal network (the host must not reach into it)`);
  if (!caps.gatewayOnHost) {
    throw new InvalidArgumentError(`option ${HOST_DNS_OPTION}: driver ${n.driver} puts no gateway on the host (bridge networks only)`);
  }
  if (!dnsAvailable) throw new InvalidArgumentError(`option ${HOST_DNS_OPTION}: the embedded DNS is off (tsd --no-dns)`);
}

/** The gateways the listener binds: IPv4 first, then IPv6 (usable at once: the bridge adds them nodad). */
export function hostDnsAddresses(pools: ReadonlyArray<{ v6: boolean; gateway: string }>): string[] {
  return [...pools.filter((p) => !p.v6 && p.gateway), ...pools.filter((p) => p.v6 && p.gateway)].map((p) => p.gateway);
}
