// core/driver/ipam-driver.ts — the IPAM driver contract, shaped after Docker's IpamDriver API.

export interface IpamCapabilities {
  requiresMacAddress: boolean;
  requiresRequestReplay: boolean;
}

export interface AddressSpaces {
  local: string;
  global: string;
}

export interface RequestPoolRequest {
  addressSpace: string;
  /** User subnet (CIDR) or "" to let the driver choose. */
  pool: string;
  /** `--ip-range` (CIDR within pool) or "". */
  subPool: string;
  options: Record<string, string>;
  /** When the driver chooses: IPv6 instead of IPv4. */
  v6: boolean;
}

export interface RequestPoolResponse {
  /** Opaque, chosen by the driver; identical requests yield the same id (refcounted). */
  poolId: string;
  /** Masked network CIDR. */
  pool: string;
  /** e.g. { "com.docker.network.gateway": "10.0.0.1/24" }. */
  data: Record<string, string>;
}

/** Option key dockerd uses to ask for the gateway address. */
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway';

export interface RequestAddressRequest {
  poolId: string;
  /** Preferred/required plain IP, or "" for any. */
  address: string;
  options: Record<string, string>;
}

export interface RequestAddressResponse {
  /** CIDR with the pool's prefix length. */
  address: string;
  data: Record<string, string>;
}

export interface IpamDriver {
  readonly name: string;
  getCapabilities(): Promise<IpamCapabilities>;
  getDefaultAddressSpaces(): Promise<AddressSpaces>;
  /** Reserve a pool. Undone by releasePool (refcounted). */
  requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse>;
  releasePool(poolId: string): Promise<void>;
  /** Reserve an address in a pool. Never hands the same address out twice. */
  requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse>;
  /** Undo requestAddress. `address` is a plain IP. */
  releaseAddress(poolId: string, address: string): Promise<void>;
}

/**
 * Optional capability: say what is held, so tsd's startup reconcile can give back what no
 * record claims (a pool or address taken just before a crash, peers.md #34).
 */
export interface IpamLeaseLister {
  /** Every pool held, with its subnet (CIDR) and reference count. */
  listPools(): Promise<Array<{ poolId: string; subnet: string; refs: number }>>;
  /** Every address held in a pool (plain IPs; gateways and aux addresses included). */
  listAddresses(poolId: string): Promise<string[]>;
}

export function hasLeaseLister(d: IpamDriver): d is IpamDriver & IpamLeaseLister {
  return typeof (d as Partial<IpamLeaseLister>).listPools === 'function' && typeof (d as Partial<IpamLeaseLister>).listAddresses === 'function';
}
