// drivers/network/none/index.ts — the "none" network driver (Docker's "null"): a sandbox joined
// to it gets no interface, only its own loopback. Nothing to plumb, so nothing to undo.

import type { NetworkDriver } from '../../../core/driver/network-driver.js';

export const NONE_DRIVER_NAME = 'none';

export function createNoneDriver(): NetworkDriver {
  return {
    name: NONE_DRIVER_NAME,
    async getCapabilities() { return { scope: 'local', connectivityScope: 'local' }; },
    async createNetwork() {},
    async deleteNetwork() {},
    async createEndpoint() { return undefined; },
    async deleteEndpoint() {},
    // No interface: SandboxNetworking.attach sees an empty srcName and moves nothing.
    async join() { return { interfaceName: { srcName: '', dstPrefix: 'eth' }, disableGatewayService: true }; },
    async leave() {},
  };
}
