// drivers/network/host/index.ts — tsd-host (alias "host"): the sandbox shares the host's network
// namespace, so there is no interface, address or rule to make. Join checks that the sandbox
// really is the host netns (a sandbox adopted from /proc/1/ns/net or a host process), instead of
// silently leaving a private netns without connectivity.

import type { DriverContext } from '../../../core/driver/context.js';
import type { NetworkDriver } from '../../../core/driver/network-driver.js';
import { ForbiddenError } from '../../../core/errors.js';

export const HOST_DRIVER_NAME = 'tsd-host';
export const HOST_DRIVER_ALIASES: readonly string[] = ['host'];

export function createHostDriver(ctx: Pick<DriverContext, 'kernel'>): NetworkDriver {
  return {
    name: HOST_DRIVER_NAME,
    async getCapabilities() { return { scope: 'local', connectivityScope: 'local' }; },
    // Nothing to plumb: addresses IPAM hands out are recorded, never configured.
    async createNetwork() {},
    async deleteNetwork() {},
    async createEndpoint() { return undefined; },
    async deleteEndpoint() {},
    async join(req) {
      if (req.sandboxKey) {
        const ns = ctx.kernel.netns.open({ path: req.sandboxKey });
        try {
          if (ns.inode !== ctx.kernel.netns.host().inode) {
            throw new ForbiddenError(`sandbox ${req.sandboxKey}: not in the host network namespace; a ${HOST_DRIVER_NAME} network needs a sandbox that shares it (e.g. created from /proc/1/ns/net)`);
          }
        } finally {
          ns.close();
        }
      }
      return { interfaceName: { srcName: '', dstPrefix: '' }, disableGatewayService: true };
    },
    async leave() {},
  };
}
