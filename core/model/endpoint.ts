// core/model/endpoint.ts — an endpoint (a network attachment of one sandbox) as tsd stores it.

export interface EndpointRecord {
  id: string;
  /** Endpoint name: the sandbox name (Docker names endpoints after the container). */
  name: string;
  networkId: string;
  sandboxId: string;
  /** IPv4 CIDR ("" if none) and the pool it came from. */
  ipv4: string;
  ipv4PoolId: string;
  ipv6: string;
  ipv6PoolId: string;
  macAddress: string;
  /** Interface name inside the sandbox, e.g. "eth0". */
  ifname: string;
  aliases: string[];
  gateway: string;
  gatewayIpv6: string;
  driverOpts: Record<string, string>;
  created: string;
  /** Id of the daemon that made it (several daemons can share one etcd); absent: any daemon's. */
  owner?: string;
}
