// integration/network/kernel-hooks.ts — the service seams (SandboxNetworking, NetnsProvider) done
// on the real kernel, for driver tests until the daemon's own implementations land: after a
// driver's Join, move SrcName into the sandbox, rename it, set MAC, addresses, default routes —
// what dockerd does with a remote driver's answer.

import type { Kernel } from '../../core/kernel/index.js';
import type { NetnsProvider, SandboxAttachRequest, SandboxNetworking } from '../../core/service/hooks.js';

export function kernelSandboxNetworking(kernel: Kernel): SandboxNetworking {
  return {
    async attach(req: SandboxAttachRequest) {
      const src = req.join.interfaceName.srcName;
      if (!src) return;
      const ns = kernel.netns.open({ path: req.netnsPath });
      try {
        await kernel.links.moveToNetns(src, ns);
        const sb = kernel.linksIn(ns);
        const cur = await sb.getLink(src);
        await sb.setLink(src, { name: req.ifname, ...(req.macAddress && req.macAddress !== cur.mac ? { mac: req.macAddress } : {}) });
        if (req.ipv4) await sb.addAddress(req.ifname, req.ipv4);
        if (req.ipv6) await sb.addAddress(req.ifname, req.ipv6);
        await sb.setUp(req.ifname);
        if (req.join.gateway) await sb.addRoute({ dst: 'default', gateway: req.join.gateway });
        if (req.join.gatewayIpv6) await sb.addRoute({ dst: 'default', gateway: req.join.gatewayIpv6 });
      } finally {
        kernel.netns.release(ns); // a cached socket would keep the sandbox's netns alive
        ns.close();
      }
    },
    async detach(req) {
      let ns;
      try {
        ns = kernel.netns.open({ path: req.netnsPath });
      } catch {
        return; // the netns is gone, and its links with it
      }
      try {
        await kernel.linksIn(ns).deleteLinkIfExists(req.ifname);
      } finally {
        kernel.netns.release(ns);
        ns.close();
      }
    },
  };
}

/** Sandboxes in these tests are given by netns path; only isNetns is needed. */
export function kernelNetnsProvider(kernel: Kernel): NetnsProvider {
  return {
    async create() { throw new Error('not used: sandboxes are created with a netns path'); },
    async pinPid() { throw new Error('not used'); },
    async remove() {},
    async isNetns(p) {
      try {
        kernel.netns.open({ path: p }).close();
        return true;
      } catch {
        return false;
      }
    },
  };
}
