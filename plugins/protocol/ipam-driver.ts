// plugins/protocol/ipam-driver.ts — the IpamDriver wire (plugin-protocol.md §4). Its replies carry
// errors in `Error`, not `Err` (§2.5, §10.8). Shared by client and server.

import { z } from 'zod';
import { stringMap, wireReply, wireRequest } from './wire.js';

export const IpamMethod = {
  GetCapabilities: 'IpamDriver.GetCapabilities',
  GetDefaultAddressSpaces: 'IpamDriver.GetDefaultAddressSpaces',
  RequestPool: 'IpamDriver.RequestPool',
  ReleasePool: 'IpamDriver.ReleasePool',
  RequestAddress: 'IpamDriver.RequestAddress',
  ReleaseAddress: 'IpamDriver.ReleaseAddress',
} as const;

const error = z.string().optional();

export const IpamRequest = {
  GetCapabilities: wireRequest({}),
  GetDefaultAddressSpaces: wireRequest({}),
  RequestPool: wireRequest({
    AddressSpace: z.string(),
    Pool: z.string(),
    SubPool: z.string(),
    Options: stringMap,
    V6: z.boolean(),
  }),
  ReleasePool: wireRequest({ PoolID: z.string().min(1, 'must not be empty') }),
  RequestAddress: wireRequest({ PoolID: z.string().min(1, 'must not be empty'), Address: z.string(), Options: stringMap }),
  ReleaseAddress: wireRequest({ PoolID: z.string().min(1, 'must not be empty'), Address: z.string().min(1, 'must not be empty') }),
} as const;

export const IpamReply = {
  GetCapabilities: wireReply({ RequiresMACAddress: z.boolean().optional(), RequiresRequestReplay: z.boolean().optional(), Error: error }),
  GetDefaultAddressSpaces: wireReply({
    LocalDefaultAddressSpace: z.string(),
    GlobalDefaultAddressSpace: z.string(),
    Error: error,
  }),
  RequestPool: wireReply({ PoolID: z.string(), Pool: z.string(), Data: stringMap, Error: error }),
  // An empty Address is refused by dockerd ("no address returned"); checked by the client.
  RequestAddress: wireReply({ Address: z.string(), Data: stringMap, Error: error }),
  Empty: wireReply({ Error: error }),
} as const;
