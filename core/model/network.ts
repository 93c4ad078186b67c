// core/model/network.ts — a network as tsd stores it, and its Docker Engine API shape
// (NetworkResource). Stored records hold what the services need to tear a network down again
// (IPAM pool ids, reserved gateway/aux addresses) so rm never depends on the driver remembering.

/** One address pool of a network, as resolved by IPAM at create time. */
export interface StoredIpamPool {
  /** Opaque pool id from the IPAM driver (needed to release it). */
  poolId: string;
  addressSpace: string;
  /** Subnet CIDR, e.g. "172.18.0.0/16". */
  subnet: string;
  /** `--ip-range` CIDR, or "". */
  ipRange: string;
  /** Gateway as plain IP, or "" when the network has none. */
  gateway: string;
  /** Whether tsd reserved the gateway through requestAddress (so rm releases it). */
  gatewayReserved: boolean;
  /** name → plain IP, each reserved through requestAddress. */
  auxAddresses: Record<string, string>;
  v6: boolean;
}

export interface NetworkRecord {
  id: string;
  name: string;
  /** Network driver name as the user gave it ("bridge", "tsd-bridge", a plugin name). */
  driver: string;
  /** IPAM driver name as given ("default" when not given). */
  ipamDriver: string;
  ipamOptions: Record<string, string>;
  scope: 'local' | 'global';
  /** RFC 3339. */
  created: string;
  enableIpv6: boolean;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  configOnly: boolean;
  configFrom: string;
  options: Record<string, string>;
  labels: Record<string, string>;
  pools: StoredIpamPool[];
}

/** Docker's IPAMConfig entry. */
export interface ApiIpamConfig {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** Docker's EndpointResource inside NetworkResource.Containers. */
export interface ApiEndpointResource {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

/** Docker's NetworkResource (GET /networks, GET /networks/{id}). */
export interface ApiNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: ApiIpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, ApiEndpointResource>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** tsd only: the host listener addresses ("10.1.0.1:53") when com.tsd.network.host_dns is on. */
  HostDNS?: string[];
}
