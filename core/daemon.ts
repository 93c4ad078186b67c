// core/daemon.ts — the one place tsd is wired together: config → lock → store → kernel →
// built-in drivers → registry → services (reconciled) → API server. The only core file that
// names concrete drivers (moby's drivers_linux.go). startDaemon() returns a handle whose stop()
// shuts down gracefully: stop accepting, finish in-flight requests, close the store, remove the
// socket, release the locks. Networks, endpoints and sandboxes stay; the next start reconciles.

import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { listenApi, type ApiServer } from './api/server.js';
import type { TsdConfig } from './config.js';
import type { DriverContext } from './driver/context.js';
import { DriverRegistry } from './driver/registry.js';
import { lockFile, type FileLock } from './kernel/flock.js';
import { createKernel, type Kernel } from './kernel/index.js';
import { createLogger, type Logger, type LogSink } from './log.js';
import { noopDnsRegistry, type DnsRegistry } from './service/hooks.js';
import { createKernelNetnsProvider } from './sandbox/kernel-netns-provider.js';
import { createKernelProcessExitWatch } from './sandbox/kernel-process-exit-watch.js';
import { createKernelSandboxNetworking } from './sandbox/kernel-sandbox-networking.js';
import { createEmbeddedDns } from './dns/index.js';
import { createEmbeddedDnsRegistry } from './sandbox/embedded-dns-registry.js';
import { createServices, type Services } from './service/index.js';
import { loadDaemonId } from './daemon-identity.js';
import { startSandboxSweep } from './service/sandbox-sweep.js';
import { firewallWatchOff, startFirewallWatch, type FirewallWatch } from './service/firewall-watch.js';
import { openStore, type StoreConfig } from './store/open.js';
import { scopeStore } from './store/scoped.js';
import type { Store } from './store/store.js';
import { createFirewall } from './kernel/firewall/select.js';
import { createNoneDriver } from '../drivers/network/none/index.js';
import { BRIDGE_DRIVER_ALIASES, createBridgeDriver } from '../drivers/network/bridge/index.js';
import { createHostDriver, HOST_DRIVER_ALIASES } from '../drivers/network/host/index.js';
import { createMacvlanDriver, MACVLAN_DRIVER_ALIASES } from '../drivers/network/macvlan/index.js';
import { createNullIpam } from '../drivers/ipam/null/index.js';
import { createDefaultIpamDriver, DEFAULT_IPAM_ALIASES } from '../drivers/ipam/default/index.js';
import { createLocalVolumeDriver, LOCAL_VOLUME_DRIVER_ALIASES } from '../drivers/volume/local/local-driver.js';
import { createOverlay2Driver } from '../drivers/graph/overlay2/overlay2-driver.js';
import { createVfsDriver } from '../drivers/graph/vfs/vfs-driver.js';
import { PluginDriverSource, type RetryPolicy } from '../plugins/client/index.js';
import { servePlugin, type ServedDrivers, type ServedPlugin } from '../plugins/server/index.js';

/** How long a driver name that no socket answers to is retried before "not found". */
const PLUGIN_DISCOVERY_RETRY: RetryPolicy = { baseDelayMs: 200, maxDelayMs: 1000, giveUpAfterMs: 2000 };

export interface DaemonHandle {
  readonly config: TsdConfig;
  readonly socketPath: string;
  readonly services: Services;
  readonly log: Logger;
  /** Graceful shutdown; idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Where log lines go (default stderr). */
  logSink?: LogSink;
}

/** Register every built-in driver this build has. Each gets its own context. */
/**
 * Register every built-in driver this build has. Each gets its own context. Returns the startup
 * reconcile steps of the drivers that keep kernel state (links, rules, mounts), run before the
 * services reconcile their records.
 */
function registerBuiltinDrivers(
  registry: DriverRegistry, ctx: (name: string) => DriverContext, config: TsdConfig, onShutdown: (f: () => Promise<void>) => void,
): Array<[string, () => Promise<unknown>]> {
  const bridge = createBridgeDriver(ctx('tsd-bridge'));
  onShutdown(() => bridge.close()); // its in-process [::1] port listeners
  const macvlan = createMacvlanDriver(ctx('tsd-macvlan'));
  const local = createLocalVolumeDriver(ctx('tsd-local'));
  registry.register('NetworkDriver', bridge, BRIDGE_DRIVER_ALIASES);
  registry.register('NetworkDriver', createHostDriver(ctx('tsd-host')), HOST_DRIVER_ALIASES);
  registry.register('NetworkDriver', macvlan, MACVLAN_DRIVER_ALIASES);
  registry.register('NetworkDriver', createNoneDriver(), ['null']);
  registry.register('IpamDriver', createNullIpam());
  registry.register('IpamDriver', createDefaultIpamDriver(ctx('tsd-ipam'), { defaultPools: config.defaultAddressPools }), DEFAULT_IPAM_ALIASES);
  registry.register('VolumeDriver', local, LOCAL_VOLUME_DRIVER_ALIASES);
  // Graph drivers keep their layers in tsd's own dataDir (<data-root>/drivers/tsd-overlay2), not in
  // the Home dockerd's GraphDriver.Init sends (<dockerd data-root>/tsd-overlay2): one tree, one
  // mount refcount table and one lock serve dockerd and tsd's own layers (tsctl layer), and it
  // does not move when a dockerd restarts with another --data-root. See the driver headers.
  registry.register('GraphDriver', createOverlay2Driver(ctx('tsd-overlay2')));
  registry.register('GraphDriver', createVfsDriver(ctx('tsd-vfs')));
  return [
    ['tsd-bridge', () => bridge.restore()],
    ['tsd-macvlan', () => macvlan.reconcile()],
    ['tsd-local', () => local.reconcile()],
  ];
}

/** Initialise graph drivers for tsd's own use; one the kernel cannot run (no overlay) is only logged. */
async function initGraphDrivers(registry: DriverRegistry, log: Logger): Promise<void> {
  for (const d of registry.listBuiltins('GraphDriver')) {
    try {
      await d.init({ home: '', options: [], uidMaps: [], gidMaps: [] });
    } catch (e) {
      log.warn('graph driver unavailable', { driver: d.name, err: e });
    }
  }
}

/**
 * Serve every built-in tsd-* driver over Docker's plugin protocol in `socketDir`, so dockerd can
 * use them as remote drivers (`docker network create -d tsd-bridge --ipam-driver tsd-ipam`).
 */
async function serveBuiltinDrivers(registry: DriverRegistry, socketDir: string, log: Logger): Promise<ServedPlugin[]> {
  const byName = new Map<string, ServedDrivers>();
  const add = <K extends keyof ServedDrivers>(kind: K, d: NonNullable<ServedDrivers[K]>) => {
    if (!d.name.startsWith('tsd-')) return;
    const e = byName.get(d.name) ?? {};
    e[kind] = d;
    byName.set(d.name, e);
  };
  for (const d of registry.listBuiltins('NetworkDriver')) add('NetworkDriver', d);
  for (const d of registry.listBuiltins('IpamDriver')) add('IpamDriver', d);
  for (const d of registry.listBuiltins('VolumeDriver')) add('VolumeDriver', d);
  for (const d of registry.listBuiltins('GraphDriver')) add('GraphDriver', d);
  const served: ServedPlugin[] = [];
  try {
    for (const [name, drivers] of byName) served.push(await servePlugin(name, drivers, { socketDir, log: log.child({ plugin: name }) }));
  } catch (e) {
    await Promise.allSettled(served.map((p) => p.close()));
    throw e;
  }
  return served;
}

async function openConfiguredStore(config: TsdConfig, log: Logger): Promise<Store> {
  const s = config.store;
  const sc: StoreConfig =
    s.kind === 'embedded' ? { kind: 'embedded', path: path.join(config.dataRoot, 'store') }
    : s.kind === 'etcd' ? { kind: 'etcd', endpoints: s.endpoints, prefix: s.prefix, ...(s.dialTimeoutMs ? { dialTimeoutMs: s.dialTimeoutMs } : {}) }
    : { kind: 'memory' };
  const store = await openStore(sc);
  log.info('store opened', { store: sc.kind });
  return store;
}

export async function startDaemon(config: TsdConfig, opts: StartOptions = {}): Promise<DaemonHandle> {
  const log = createLogger({ level: config.logLevel, ...(opts.logSink ? { sink: opts.logSink } : {}), fields: { pid: process.pid } });
  const cleanup: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const f of cleanup.reverse()) {
      try { await f(); } catch (e) { log.error('shutdown step failed', { err: e }); }
    }
    cleanup.length = 0;
  };
  try {
    fs.mkdirSync(config.dataRoot, { recursive: true, mode: 0o700 });
    // Two daemons must never share a state dir (or a run dir: the second would steal the socket).
    const locks: FileLock[] = [lockFile(path.join(config.dataRoot, 'tsd.lock'), `data root ${config.dataRoot}`)];
    cleanup.push(() => locks[0]!.release());
    if (path.resolve(config.execRoot) !== path.resolve(config.dataRoot)) {
      fs.mkdirSync(config.execRoot, { recursive: true, mode: 0o700 });
      locks.push(lockFile(path.join(config.execRoot, 'tsd.lock'), `exec root ${config.execRoot}`));
      cleanup.push(() => locks[1]!.release());
    }

    // Stamped on what this daemon makes: daemons sharing one etcd recover only their own.
    const daemonId = loadDaemonId(config.dataRoot);
    const store = await openConfiguredStore(config, log);
    cleanup.push(() => store.close());
    const firewall = await createFirewall({ backend: config.firewallBackend }, { log: log.child({ component: 'firewall' }) });
    const kernel: Kernel = createKernel({ firewall });
    const servedNames = (name: string) => name.startsWith('tsd-');
    const registry = new DriverRegistry(new PluginDriverSource({
      exclude: servedNames, discovery: { socketDir: config.pluginDir }, log,
      // dockerd waits ~15 s for an unknown plugin name; a mistyped -d should fail in seconds.
      discoveryRetry: PLUGIN_DISCOVERY_RETRY,
    }));
    const driverCtx = (name: string): DriverContext => {
      const dataDir = path.join(config.dataRoot, 'drivers', name);
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      return { log: log.child({ driver: name }), store: scopeStore(store, `drivers/${name}/`), kernel, dataDir, config: config.drivers[name] ?? {} };
    };
    for (const [driver, reconcile] of registerBuiltinDrivers(registry, driverCtx, config, (f) => cleanup.push(f))) {
      try {
        log.info('driver reconciled', { driver, report: await reconcile() });
      } catch (e) {
        // One driver's broken state must not keep the daemon (and every other network) down.
        log.error('driver reconcile failed', { driver, err: e });
      }
    }

    let dns: DnsRegistry = noopDnsRegistry;
    if (config.dns) {
      const embedded = createEmbeddedDns({
        log: log.child({ component: 'dns' }),
        maxInFlight: config.dnsMaxInFlight,
        // Sandbox UDP sockets served by worker threads with recvmmsg/sendmmsg (docs/benchmarks.md ## dns):
        // two where there are two cores (aardvark-dns runs two tokio workers), each serving every socket.
        udpBatchModule: new URL('./kernel/udp-batch.js', import.meta.url).href,
        udpThreads: Math.min(2, os.availableParallelism()),
        // Host names of com.tsd.network.host_dns networks, for tools pointed at it (never /etc/hosts).
        hostsFile: path.join(config.execRoot, 'hosts'),
        openSocket: (netnsPath, o) => {
          const ns = kernel.netns.open({ path: netnsPath });
          try { return kernel.netns.bindSocket(ns, o); } finally { kernel.netns.release(ns); }
        },
      });
      cleanup.push(() => embedded.close());
      dns = createEmbeddedDnsRegistry(embedded, kernel, log.child({ component: 'dns' }), { hostDnsPort: config.hostDnsPort });
    }
    await initGraphDrivers(registry, log);

    const exitWatch = createKernelProcessExitWatch(log.child({ component: 'exit-watch' }));
    if (exitWatch) cleanup.push(() => exitWatch.close());
    const services = createServices({
      store, registry, log, netns: createKernelNetnsProvider(), daemonId, ...(exitWatch ? { exitWatch } : {}),
      sandboxNetworking: createKernelSandboxNetworking(kernel), dns,
      dataRoot: config.dataRoot, execRoot: config.execRoot, embeddedDns: config.dns,
    });
    await services.reconcile();

    // After the startup reload (drivers' restore): from here on a flush is repaired by itself.
    let fwWatch: FirewallWatch | undefined;
    if (config.firewallWatch && firewall.watch) {
      try {
        const watch = firewall.watch.bind(firewall);
        fwWatch = startFirewallWatch({
          watch: (onDamage) => watch(onDamage, { checkIntervalMs: config.sweepInterval * 1000 }),
          ...(firewall.check ? { check: firewall.check.bind(firewall) } : {}),
          repair: () => services.firewall.reload(),
          log: log.child({ component: 'firewall-watch' }),
        });
        const w = fwWatch;
        cleanup.push(() => w.stop());
      } catch (e) {
        log.warn('firewall watch unavailable: a flush is repaired only by tsctl firewall reload', { err: e });
      }
    }

    const api: ApiServer = await listenApi({
      services, log: log.child({ component: 'api' }), socketPath: config.apiSocket,
      info: {
        storeKind: store.kind,
        dataRoot: config.dataRoot,
        firewall: () => ({ Backend: firewall.backend, Watch: fwWatch?.status() ?? firewallWatchOff() }),
        drivers: async () => ({
          network: registry.listBuiltins('NetworkDriver').map((d) => d.name),
          ipam: registry.listBuiltins('IpamDriver').map((d) => d.name),
          volume: registry.listBuiltins('VolumeDriver').map((d) => d.name),
        }),
      },
    });
    cleanup.push(() => api.close());
    // Pushed after the store and the API: stopped first at shutdown, before either closes.
    const sweep = startSandboxSweep({ sandboxes: services.sandboxes, intervalMs: config.sweepInterval * 1000, log: log.child({ component: 'sweep' }) });
    cleanup.push(() => sweep.stop());
    // Stopped first (pushed last): no exit report starts a removal once the API and store close.
    cleanup.push(() => services.sandboxes.stopExitWatch());
    if (config.servePlugins) {
      const served = await serveBuiltinDrivers(registry, config.pluginDir, log);
      cleanup.push(() => Promise.allSettled(served.map((p) => p.close())).then(() => undefined));
      log.info('serving drivers over the plugin protocol', { dir: config.pluginDir, plugins: served.map((p) => p.name) });
    }
    log.info('tsd started', { dataRoot: config.dataRoot, socket: config.apiSocket, store: store.kind, daemonId });

    let stopping: Promise<void> | undefined;
    return {
      config, socketPath: config.apiSocket, services, log,
      stop() {
        stopping ??= (async () => {
          log.info('tsd stopping');
          await unwind();
          log.info('tsd stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}
