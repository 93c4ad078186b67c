// plugins/server/routes/ipam-driver.ts — IpamDriver.* → a core IpamDriver. Failures of these
// routes carry `Error` (and `Err`), see serve.ts.

import { InvalidArgumentError } from '../../../core/errors.js';
import type { IpamDriver } from '../../../core/driver/ipam-driver.js';
import { IpamMethod as M, IpamRequest as Q } from '../../protocol/ipam-driver.js';
import { parseWire } from '../../protocol/wire.js';
import type { Route, RouteTable } from './route.js';

function route(handle: (body: unknown) => Promise<Record<string, unknown>>): Route {
  return { subsystem: 'IpamDriver', handle: ({ body }) => handle(body) };
}

export function ipamRoutes(d: IpamDriver): RouteTable {
  return new Map<string, Route>([
    [M.GetCapabilities, route(async (b) => {
      parseWire(Q.GetCapabilities, b, '');
      const c = await d.getCapabilities();
      return { RequiresMACAddress: c.requiresMacAddress, RequiresRequestReplay: c.requiresRequestReplay };
    })],
    [M.GetDefaultAddressSpaces, route(async (b) => {
      parseWire(Q.GetDefaultAddressSpaces, b, '');
      const s = await d.getDefaultAddressSpaces();
      return { LocalDefaultAddressSpace: s.local, GlobalDefaultAddressSpace: s.global };
    })],
    [M.RequestPool, route(async (b) => {
      const r = parseWire(Q.RequestPool, b, '');
      // §4: a sub-pool only makes sense inside a pool the user gave.
      if (!r.Pool && r.SubPool) throw new InvalidArgumentError(`SubPool: ${r.SubPool} given without Pool`);
      const p = await d.requestPool({ addressSpace: r.AddressSpace, pool: r.Pool, subPool: r.SubPool, options: r.Options ?? {}, v6: r.V6 });
      return { PoolID: p.poolId, Pool: p.pool, Data: p.data };
    })],
    [M.ReleasePool, route(async (b) => {
      await d.releasePool(parseWire(Q.ReleasePool, b, '').PoolID);
      return {};
    })],
    [M.RequestAddress, route(async (b) => {
      const r = parseWire(Q.RequestAddress, b, '');
      const a = await d.requestAddress({ poolId: r.PoolID, address: r.Address, options: r.Options ?? {} });
      return { Address: a.address, Data: a.data };
    })],
    [M.ReleaseAddress, route(async (b) => {
      const r = parseWire(Q.ReleaseAddress, b, '');
      await d.releaseAddress(r.PoolID, r.Address);
      return {};
    })],
  ]);
}
