// plugins/client/remote-ipam-driver.ts — an IpamDriver that is an external plugin (libnetwork's
// ipams/remote). Errors in 200 replies are read from `Error` (a 200 with only `Err` is success, as
// in dockerd). GetCapabilities is optional: any error means "no capabilities". RequestAddress
// replies must be a CIDR.

import { InternalError } from '../../core/errors.js';
import type {
  AddressSpaces,
  IpamCapabilities,
  IpamDriver,
  RequestAddressRequest,
  RequestAddressResponse,
  RequestPoolRequest,
  RequestPoolResponse,
} from '../../core/driver/ipam-driver.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { IpamMethod as M, IpamReply as R } from '../protocol/ipam-driver.js';
import type { PluginClient } from './plugin-client.js';

const sub = { subsystem: 'IpamDriver' } as const;
const CIDR_RE = /^[0-9A-Fa-f:.]+\/\d{1,3}$/;

export class RemoteIpamDriver implements IpamDriver {
  readonly name: string;
  private caps?: IpamCapabilities;

  constructor(private readonly client: PluginClient, private readonly log: Logger = silentLogger) {
    this.name = client.name;
  }

  async getCapabilities(): Promise<IpamCapabilities> {
    if (this.caps) return this.caps;
    try {
      const r = this.client.parseReply(R.GetCapabilities, await this.client.call(M.GetCapabilities, undefined, sub), M.GetCapabilities);
      this.caps = { requiresMacAddress: !!r.RequiresMACAddress, requiresRequestReplay: !!r.RequiresRequestReplay };
    } catch (e) {
      this.log.debug('IpamDriver.GetCapabilities failed: no capabilities', { err: e });
      this.caps = { requiresMacAddress: false, requiresRequestReplay: false };
    }
    return this.caps;
  }

  async getDefaultAddressSpaces(): Promise<AddressSpaces> {
    const r = this.client.parseReply(R.GetDefaultAddressSpaces, await this.client.call(M.GetDefaultAddressSpaces, undefined, sub), M.GetDefaultAddressSpaces);
    return { local: r.LocalDefaultAddressSpace, global: r.GlobalDefaultAddressSpace };
  }

  async requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse> {
    const body = await this.client.call(M.RequestPool, { AddressSpace: req.addressSpace, Pool: req.pool, SubPool: req.subPool, Options: req.options, V6: req.v6 }, sub);
    const r = this.client.parseReply(R.RequestPool, body, M.RequestPool);
    if (!CIDR_RE.test(r.Pool)) throw new InternalError(`plugin ${this.name}: ${M.RequestPool}: Pool: ${JSON.stringify(r.Pool)} is not a CIDR`);
    return { poolId: r.PoolID, pool: r.Pool, data: r.Data ?? {} };
  }

  async releasePool(poolId: string): Promise<void> {
    await this.client.call(M.ReleasePool, { PoolID: poolId }, sub);
  }

  async requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse> {
    const body = await this.client.call(M.RequestAddress, { PoolID: req.poolId, Address: req.address, Options: req.options }, sub);
    const r = this.client.parseReply(R.RequestAddress, body, M.RequestAddress);
    if (!r.Address) throw new InternalError(`plugin ${this.name}: ${M.RequestAddress}: no address returned`);
    if (!CIDR_RE.test(r.Address)) throw new InternalError(`plugin ${this.name}: ${M.RequestAddress}: Address: ${JSON.stringify(r.Address)} is not a CIDR`);
    return { address: r.Address, data: r.Data ?? {} };
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    await this.client.call(M.ReleaseAddress, { PoolID: poolId, Address: address }, sub);
  }
}
