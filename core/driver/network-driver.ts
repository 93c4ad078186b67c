// core/driver/network-driver.ts — the network driver contract, shaped after Docker's remote
// NetworkDriver API so a built-in driver and an external plugin are interchangeable.
//
// Addressing is decided by IPAM before the driver is called; the driver only plumbs. After
// `join`, the *caller* (tsd's sandbox service, or dockerd) moves `srcName` into the sandbox,
// renames it, and sets addresses, MAC, gateway and routes — exactly as dockerd does.

/** One address pool handed to a network (Docker's IPAMData). CIDR strings throughout. */
export interface IpamData {
  addressSpace: string;
  /** Pool CIDR, e.g. "172.18.0.0/16". */
  pool: string;
  /** Gateway as CIDR with the pool's prefix length, e.g. "172.18.0.1/16". */
  gateway?: string;
  /** Reserved addresses, name → CIDR. */
  auxAddresses?: Record<string, string>;
}

export interface NetworkOptions {
  /** User options (`-o k=v` / `--opt`), Docker's com.docker.network.generic. */
  generic: Record<string, string>;
  enableIpv4: boolean;
  enableIpv6: boolean;
  internal: boolean;
  /** Other top-level option keys dockerd or tsd passed, kept as-is. */
  extra?: Record<string, unknown>;
}

export interface CreateNetworkRequest {
  networkId: string;
  options: NetworkOptions;
  ipv4Data: IpamData[];
  ipv6Data: IpamData[];
}

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface ExposedPort {
  proto: PortProtocol;
  port: number;
}

export interface PortBinding {
  proto: PortProtocol;
  /** Container IP ("" = the endpoint's address). */
  ip: string;
  port: number;
  /** Host IP to bind ("" = all). */
  hostIp: string;
  /** First host port (0 = ephemeral). */
  hostPort: number;
  /** Last host port of a range (= hostPort for a single port). */
  hostPortEnd: number;
}

export interface EndpointInterface {
  /** IPv4 CIDR, e.g. "172.18.0.2/16". */
  address?: string;
  /** IPv6 CIDR. */
  addressIpv6?: string;
  /** "aa:bb:cc:dd:ee:ff". */
  macAddress?: string;
}

export interface EndpointOptions {
  exposedPorts?: ExposedPort[];
  portBindings?: PortBinding[];
  dnsServers?: string[];
  /** User-chosen interface name inside the sandbox. */
  ifname?: string;
  /** Driver options (`--driver-opt k=v`). */
  generic?: Record<string, string>;
  extra?: Record<string, unknown>;
  /** MAC the user asked for (`com.docker.network.endpoint.macaddress`), "aa:bb:cc:dd:ee:ff". */
  macAddress?: string;
}

export interface CreateEndpointRequest {
  networkId: string;
  endpointId: string;
  interface: EndpointInterface;
  options: EndpointOptions;
}

export interface StaticRoute {
  destination: string;
  /** 0 = via nextHop, 1 = connected. */
  routeType: 0 | 1;
  nextHop?: string;
}

export interface JoinRequest {
  networkId: string;
  endpointId: string;
  /** Path of the sandbox's network namespace. */
  sandboxKey: string;
  options: EndpointOptions;
  /**
   * tsd-internal (never on the plugin wire): the name the caller will give the interface inside
   * the sandbox. A driver may then create it there directly under that name (no move, no rename)
   * and say so with `interfaceName.inSandbox`.
   */
  sandboxIfname?: string;
}

export interface JoinResponse {
  /**
   * `inSandbox` (tsd-internal): `srcName` already sits inside the sandbox under the requested
   * `sandboxIfname`, so the caller only configures it.
   */
  interfaceName: { srcName: string; dstPrefix: string; inSandbox?: boolean };
  gateway?: string;
  gatewayIpv6?: string;
  staticRoutes?: StaticRoute[];
  disableGatewayService?: boolean;
}

export interface NetworkDriverCapabilities {
  scope: 'local' | 'global';
  connectivityScope: 'local' | 'global';
  gwAllocChecker?: boolean;
  /**
   * The network's gateway addresses live on a host interface in tsd's netns (a bridge), so the
   * host can reach services there (com.tsd.network.host_dns). Absent: false.
   */
  gatewayOnHost?: boolean;
}

export interface NetworkDriver {
  readonly name: string;
  getCapabilities(): Promise<NetworkDriverCapabilities>;
  /** Plumb a network whose addressing IPAM has decided. Undone by deleteNetwork. */
  createNetwork(req: CreateNetworkRequest): Promise<void>;
  /** Undo createNetwork. Idempotent: an unknown network is not an error. */
  deleteNetwork(networkId: string): Promise<void>;
  /**
   * Create an endpoint. Returns only the interface fields that were empty in the request and
   * that the driver chose (e.g. a generated MAC); setting an already-set field is an error.
   */
  createEndpoint(req: CreateEndpointRequest): Promise<EndpointInterface | undefined>;
  /** Undo createEndpoint. Idempotent. */
  deleteEndpoint(networkId: string, endpointId: string): Promise<void>;
  join(req: JoinRequest): Promise<JoinResponse>;
  /** Undo join. Idempotent. */
  leave(networkId: string, endpointId: string): Promise<void>;
}

/** Optional capability: port publishing and outbound connectivity (Docker's ExtConner). */
export interface ExternalConnectivity {
  programExternalConnectivity(req: { networkId: string; endpointId: string; options: EndpointOptions }): Promise<void>;
  /** Undo programExternalConnectivity. Idempotent. */
  revokeExternalConnectivity(networkId: string, endpointId: string): Promise<void>;
}

export function hasExternalConnectivity(d: NetworkDriver): d is NetworkDriver & ExternalConnectivity {
  return typeof (d as Partial<ExternalConnectivity>).programExternalConnectivity === 'function';
}

/** Optional capability: GwAllocCheck (Docker 28+). */
export interface GatewayAllocationChecker {
  gwAllocCheck(options: NetworkOptions): Promise<{ skipIpv4: boolean; skipIpv6: boolean }>;
}

export function hasGatewayAllocationChecker(d: NetworkDriver): d is NetworkDriver & GatewayAllocationChecker {
  return typeof (d as Partial<GatewayAllocationChecker>).gwAllocCheck === 'function';
}

/** Optional capability: operational info about an endpoint (inspect). */
export interface EndpointInfoProvider {
  endpointOperInfo(networkId: string, endpointId: string): Promise<Record<string, unknown>>;
}

export function hasEndpointInfo(d: NetworkDriver): d is NetworkDriver & EndpointInfoProvider {
  return typeof (d as Partial<EndpointInfoProvider>).endpointOperInfo === 'function';
}

/** Optional capability: multi-host discovery notifications and global allocation (overlay). */
export interface ClusterAware {
  discoverNew(type: number, data: Record<string, unknown>): Promise<void>;
  discoverDelete(type: number, data: Record<string, unknown>): Promise<void>;
  allocateNetwork?(req: { networkId: string; options: Record<string, string>; ipv4Data: IpamData[]; ipv6Data: IpamData[] }): Promise<Record<string, string>>;
  freeNetwork?(networkId: string): Promise<void>;
}

export function isClusterAware(d: NetworkDriver): d is NetworkDriver & ClusterAware {
  return typeof (d as Partial<ClusterAware>).discoverNew === 'function';
}

/** What a driver put back when asked to rebuild its firewall rules. */
export interface FirewallReloadReport {
  /** The firewall backend the rules went to (nftables, iptables, none). */
  backend: string;
  networks: number;
  ports: number;
}

/**
 * Optional capability: rebuild every firewall rule the driver owns from its stored state in one
 * transaction (`tsctl firewall reload`, after someone flushed tsd's table).
 */
export interface FirewallRuleOwner {
  reloadFirewall(): Promise<FirewallReloadReport>;
}

export function hasFirewallRules(d: NetworkDriver): d is NetworkDriver & FirewallRuleOwner {
  return typeof (d as Partial<FirewallRuleOwner>).reloadFirewall === 'function';
}

/**
 * Optional capability: the endpoint ids the driver holds for a network, so tsd's startup
 * reconcile can delete those no endpoint record claims (made just before a crash, peers.md #34).
 */
export interface EndpointLister {
  listEndpoints(networkId: string): Promise<string[]>;
}

export function hasEndpointLister(d: NetworkDriver): d is NetworkDriver & EndpointLister {
  return typeof (d as Partial<EndpointLister>).listEndpoints === 'function';
}
