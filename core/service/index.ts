// core/service/index.ts — builds the services over one store, registry and set of hooks, and
// runs their startup reconciliation. core/daemon.ts and the tests construct services only here.

import path from 'node:path';
import type { DriverRegistry } from '../driver/registry.js';
import type { Logger } from '../log.js';
import { scopeStore } from '../store/scoped.js';
import type { Store } from '../store/store.js';
import type { DnsRegistry, NetnsProvider, ProcessExitWatch, SandboxMounts, SandboxNetworking } from './hooks.js';
import { createKernelSandboxMounts } from '../sandbox/kernel-sandbox-mounts.js';
import { NetworkService } from './networks.js';
import { Records } from './records.js';
import { SandboxFiles } from './sandbox-files.js';
import { SandboxService } from './sandboxes.js';
import { VolumeService } from './volumes.js';
import { LayerService } from './layers.js';
import { FirewallService } from './firewall.js';

export interface ServicesOptions {
  store: Store;
  registry: DriverRegistry;
  netns: NetnsProvider;
  sandboxNetworking: SandboxNetworking;
  dns: DnsRegistry;
  log: Logger;
  /** tsd's data root (sandbox files live under <dataRoot>/sandboxes). */
  dataRoot: string;
  /** tsd's run dir (namespaces it creates are pinned under <execRoot>/netns). */
  execRoot: string;
  embeddedDns: boolean;
  /** Volumes bound into sandbox roots (default: the kernel's). */
  sandboxMounts?: SandboxMounts;
  hostResolvConf?: string;
  defaultNetworkDriver?: string;
  defaultVolumeDriver?: string;
  /**
   * This daemon's id (core/daemon-identity.ts): stamped on the sandboxes, endpoints and intents
   * it makes, so daemons sharing one store recover and sweep only their own. Absent: one daemon.
   */
  daemonId?: string;
  /** Removes a PID-adopted sandbox at its process exit (pidfd); absent: the sweep alone. */
  exitWatch?: ProcessExitWatch;
}

export interface Services {
  records: Records;
  networks: NetworkService;
  sandboxes: SandboxService;
  volumes: VolumeService;
  layers: LayerService;
  firewall: FirewallService;
  /** Startup repair: interrupted operations (intents) first, then sandboxes (their vanished endpoints), networks, volumes; layers' leftovers with the intents. */
  reconcile(): Promise<void>;
}

/** The services' key space in the store. */
export const SERVICES_STORE_PREFIX = 'tsd/';

export function createServices(o: ServicesOptions): Services {
  const records = new Records(scopeStore(o.store, SERVICES_STORE_PREFIX), o.daemonId ? { owner: o.daemonId } : {});
  const files = new SandboxFiles({
    root: path.join(o.dataRoot, 'sandboxes'),
    embeddedDns: o.embeddedDns,
    hostResolvConf: o.hostResolvConf ?? '/etc/resolv.conf',
  });
  const networks = new NetworkService({
    records, registry: o.registry, sandboxNetworking: o.sandboxNetworking, dns: o.dns, files,
    log: o.log.child({ service: 'networks' }), ...(o.defaultNetworkDriver ? { defaultDriver: o.defaultNetworkDriver } : {}),
    reapVanishedSandboxes: async (ids) => {
      let removed = 0;
      for (const id of ids) {
        const sb = await records.findSandbox(id).catch(() => undefined);
        // Another daemon's sandbox lives on its host: only that daemon can tell it vanished.
        const why = sb && records.owns(sb) && (await sandboxes.vanished(sb));
        if (!sb || !why) continue;
        o.log.warn('sandbox vanished; removing it and its endpoints', { sandbox: sb.name, netns: sb.netnsPath, reason: why });
        await sandboxes.remove(sb.id);
        removed++;
      }
      return removed;
    },
  });
  const volumes = new VolumeService({
    records, registry: o.registry, log: o.log.child({ service: 'volumes' }), ...(o.defaultVolumeDriver ? { defaultDriver: o.defaultVolumeDriver } : {}),
  });
  const layers = new LayerService({
    store: scopeStore(o.store, SERVICES_STORE_PREFIX), registry: o.registry, log: o.log.child({ service: 'layers' }), ...(o.daemonId ? { owner: o.daemonId } : {}),
  });
  const sandboxes = new SandboxService({
    records, networks, netns: o.netns, dns: o.dns, files, netnsDir: path.join(o.execRoot, 'netns'), log: o.log.child({ service: 'sandboxes' }),
    layers, volumes, mounts: o.sandboxMounts ?? createKernelSandboxMounts(), ...(o.exitWatch ? { exitWatch: o.exitWatch } : {}),
  });
  const firewall = new FirewallService({ registry: o.registry, log: o.log.child({ service: 'firewall' }) });
  return {
    records, networks, sandboxes, volumes, layers, firewall,
    async reconcile() {
      // Operations a crash interrupted first (their intents), then what no record claims.
      const intents = await networks.recoverIntents();
      const sbIntents = await sandboxes.recoverIntents();
      const layerIntents = await layers.recoverIntents();
      const layerFixes = await layers.reconcile();
      const sb = await sandboxes.reconcile();
      const net = await networks.reconcile();
      const swept = await networks.sweepUnclaimed();
      const vol = await volumes.reconcile();
      const watched = await sandboxes.watchAdoptedProcesses();
      o.log.info('reconciled', {
        intentsRecovered: intents.recovered + sbIntents.finished + layerIntents.recovered, intentsKept: intents.kept + layerIntents.kept, strayNetns: sbIntents.strayNetns, strayRootfs: sbIntents.strayRootfs,
        sandboxesRemoved: sb.removed.length, staleEndpoints: net.staleEndpoints, unclaimedEndpoints: swept.endpoints,
        unclaimedAddresses: swept.addresses, volumesMissing: vol.missing.length, layersRepaired: layerFixes.repaired, layerProblems: layerFixes.remaining,
        processesWatched: watched,
      });
    },
  };
}
