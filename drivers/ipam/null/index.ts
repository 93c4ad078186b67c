// drivers/ipam/null/index.ts — Docker's "null" IPAM: one catch-all pool per family and no
// addresses at all. For networks whose driver does no addressing (none, host), as dockerd uses.

import type { IpamDriver } from '../../../core/driver/ipam-driver.js';
import { InvalidArgumentError } from '../../../core/errors.js';

export const NULL_IPAM_NAME = 'null';

export function createNullIpam(): IpamDriver {
  return {
    name: NULL_IPAM_NAME,
    async getCapabilities() { return { requiresMacAddress: false, requiresRequestReplay: false }; },
    async getDefaultAddressSpaces() { return { local: 'null', global: 'null' }; },
    async requestPool(req) {
      if (req.pool || req.subPool) throw new InvalidArgumentError(`ipam null: does not take a subnet or ip-range (got ${req.pool || req.subPool})`);
      return req.v6 ? { poolId: 'null/v6', pool: '::/0', data: {} } : { poolId: 'null/v4', pool: '0.0.0.0/0', data: {} };
    },
    async releasePool() {},
    async requestAddress(req) {
      if (req.address) throw new InvalidArgumentError(`ipam null: cannot reserve address ${req.address}`);
      return { address: '', data: {} };
    },
    async releaseAddress() {},
  };
}
