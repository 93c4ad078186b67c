// core/sandbox/kernel-sandbox-networking.ts — SandboxNetworking on the kernel layer: after a
// driver's Join, put its interface into the sandbox's netns under its final name and configure it
// (MAC, addresses, up, default routes, static routes); on detach, take it out of service (a veth,
// deleted with its host end by its driver) or delete it (macvlan & co). dockerd's job in
// Docker (osl), done here with the fewest netlink round-trips:
//  - driver created it inside the sandbox (`inSandbox`): index lookup, up, addresses, routes;
//  - driver left it on the host (plugins, dockerd-style drivers): move, then rename+MAC+up in one
//    request, addresses, routes.
// The netns handle is opened per call and closed; the netlink socket in the sandbox stays cached
// (by inode) until detach or the sandbox's removal releases it (a socket keeps a netns alive).

import { NotFoundError, withContext } from '../errors.js';
import type { Kernel } from '../kernel/index.js';
import type { Netns } from '../kernel/netns.js';
import type { SandboxAttachRequest, SandboxNetworking } from '../service/hooks.js';

/** Link kinds detach may delete; never a physical device or lo (a sandbox may be the host netns). */
const VIRTUAL_KINDS = new Set(['veth', 'macvlan', 'ipvlan', 'vxlan', 'bridge', 'dummy']);

function gatewayIp(g: string): string {
  const i = g.indexOf('/');
  return i < 0 ? g : g.slice(0, i);
}

export function createKernelSandboxNetworking(kernel: Pick<Kernel, 'links' | 'linksIn' | 'netns' | 'sysctl'>): SandboxNetworking {
  // `netns.release` drops tsd's cached netlink socket there: a socket would keep an adopted
  // sandbox's netns (and its veths) alive after its process exits.
  const open = (path: string): Netns => kernel.netns.open({ path });

  async function configure(req: SandboxAttachRequest, ns: Netns): Promise<void> {
    const { srcName, inSandbox } = req.join.interfaceName;
    const sb = kernel.linksIn(ns);
    // tsd's sandboxes start with IPv6 off for new interfaces (kernel-netns-provider.ts): an
    // IPv4-only endpoint's link-local DAD/RS/MLD would be flooded to every port of the bridge, in
    // the sender's syscall — at 600 endpoints that made each attach ~10× slower. IPv6 endpoints
    // turn it on for their interface (a netns adopted by path keeps the kernel's default, on).
    const ipv6On = () => {
      if (req.ipv6) kernel.sysctl.write(kernel.sysctl.netConfKey(6, req.ifname, 'disable_ipv6'), 0, ns);
    };
    let index: number;
    if (inSandbox) {
      index = await sb.linkIndex(srcName);
      if (srcName !== req.ifname) await sb.setLink(index, { name: req.ifname });
      ipv6On();
      // The driver chose name and MAC at creation.
      await sb.setLink(index, { up: true });
    } else {
      await kernel.links.setLink(srcName, { netns: ns });
      index = await sb.linkIndex(srcName);
      await sb.setLink(index, { name: req.ifname, ...(req.macAddress ? { mac: req.macAddress } : {}) });
      ipv6On();
      await sb.setLink(index, { up: true });
    }
    try {
      if (req.ipv4) await sb.addAddress(index, req.ipv4, { broadcast: 'auto' });
      if (req.ipv6) await sb.addAddress(index, req.ipv6);
      if (req.join.gateway) await sb.addRoute({ dst: 'default', gateway: gatewayIp(req.join.gateway) });
      if (req.join.gatewayIpv6) await sb.addRoute({ dst: 'default', gateway: gatewayIp(req.join.gatewayIpv6) });
      for (const r of req.join.staticRoutes ?? []) {
        if (r.routeType === 1 || !r.nextHop) await sb.addRoute({ dst: r.destination, dev: index });
        else await sb.addRoute({ dst: r.destination, gateway: gatewayIp(r.nextHop) });
      }
    } catch (e) {
      // Undo everything this attach did in one step: the interface goes (a veth takes its host
      // end along; the driver's leave is idempotent about that).
      await sb.deleteLinkIfExists(index).catch(() => undefined);
      throw e;
    }
  }

  return {
    async attach(req) {
      if (!req.join.interfaceName.srcName) return; // none/host: nothing to move
      const ns = open(req.netnsPath);
      try {
        await configure(req, ns);
      } catch (e) {
        throw withContext(`attach ${req.join.interfaceName.srcName} as ${req.ifname} in ${req.netnsPath}`, e);
      } finally {
        ns.close();
      }
    },

    async detach(req) {
      if (!req.netnsPath || !req.ifname) return;
      let ns: Netns;
      try {
        ns = open(req.netnsPath);
      } catch {
        return; // the netns is gone (or never was): nothing left inside it to remove
      }
      try {
        const sb = kernel.linksIn(ns);
        const link = await sb.findLink(req.ifname);
        if (link?.kind === 'veth') {
          // Out of service at once (0.15 ms); it is deleted with its host end, which its driver
          // deletes (tsd-bridge batches those: a link delete costs ~20 ms of RCU sync).
          if (link.up) await sb.setLink(link.index, { up: false });
        } else if (link && link.kind !== undefined && VIRTUAL_KINDS.has(link.kind)) {
          await sb.deleteLinkIfExists(link.index);
        }
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw withContext(`detach ${req.ifname} from ${req.netnsPath}`, e);
      } finally {
        kernel.netns.release(ns);
        ns.close();
      }
    },

    async setDefaultGateway(req) {
      const ns = open(req.netnsPath);
      try {
        const sb = kernel.linksIn(ns);
        if (req.gateway) await sb.addRoute({ dst: 'default', gateway: gatewayIp(req.gateway), replace: true });
        if (req.gatewayIpv6) await sb.addRoute({ dst: 'default', gateway: gatewayIp(req.gatewayIpv6), replace: true });
      } catch (e) {
        throw withContext(`default route in ${req.netnsPath}`, e);
      } finally {
        ns.close();
      }
    },
  };
}
