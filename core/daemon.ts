// core/daemon.ts — the one place tsd is wired together: config → lock → store → kernel →
// built-in drivers → registry → services (reconciled) → API server. The only core file that
// names concrete drivers (moby's drivers_linux.go). startDaemon() returns a handle whose stop()
// shuts down gracefully: stop accepting, finish in-flight requests, close the store, remove the
// socket, release the locks. Networks, endpoints and sandboxes stay; the next start reconciles.

import fs from 'node:fs';
import path from 'node:path';
import { listenApi, type ApiServer } from './api/server.js';
import { EMBEDDED_STORE_FALLBACK_TO_MEMORY, type TsdConfig } from './config.js';
import type { DriverContext } from './driver/context.js';
import { DriverRegistry } from './driver/registry.js';
import { NotImplementedError } from './errors.js';
import { lockFile, type FileLock } from './kernel/flock.js';
import { createKernel, type Kernel } from './kernel/index.js';
import { netnsPins } from './kernel/netns-pin.js';
import { createLogger, type Logger, type LogSink } from './log.js';
import { noopDnsRegistry, noopSandboxNetworking } from './service/hooks.js';
import { createServices, type Services } from './service/index.js';
import { openStore, type StoreConfig } from './store/open.js';
import { scopeStore } from './store/scoped.js';
import type { Store } from './store/store.js';
import { createNoneDriver } from '../drivers/network/none/index.js';
import { createNullIpam } from '../drivers/ipam/null/index.js';

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
function registerBuiltinDrivers(registry: DriverRegistry, ctx: (name: string) => DriverContext): void {
  void ctx; // drivers that touch the kernel or the store take ctx(name); none/null need nothing
  registry.register('NetworkDriver', createNoneDriver(), ['null']);
  registry.register('IpamDriver', createNullIpam());
}

async function openConfiguredStore(config: TsdConfig, log: Logger): Promise<Store> {
  const s = config.store;
  const sc: StoreConfig =
    s.kind === 'embedded' ? { kind: 'embedded', path: path.join(config.dataRoot, 'store') }
    : s.kind === 'etcd' ? { kind: 'etcd', endpoints: s.endpoints, prefix: s.prefix, ...(s.dialTimeoutMs ? { dialTimeoutMs: s.dialTimeoutMs } : {}) }
    : { kind: 'memory' };
  try {
    const store = await openStore(sc);
    log.info('store opened', { store: sc.kind });
    return store;
  } catch (e) {
    if (e instanceof NotImplementedError && sc.kind === 'embedded' && EMBEDDED_STORE_FALLBACK_TO_MEMORY) {
      log.warn('store embedded is not built yet; using the memory store (state is lost at exit)', { store: 'memory' });
      return openStore({ kind: 'memory' });
    }
    throw e;
  }
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

    const store = await openConfiguredStore(config, log);
    cleanup.push(() => store.close());
    const kernel: Kernel = createKernel();
    const registry = new DriverRegistry();
    const driverCtx = (name: string): DriverContext => {
      const dataDir = path.join(config.dataRoot, 'drivers', name);
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      return { log: log.child({ driver: name }), store: scopeStore(store, `drivers/${name}/`), kernel, dataDir, config: config.drivers[name] ?? {} };
    };
    registerBuiltinDrivers(registry, driverCtx);

    const services = createServices({
      store, registry, log, netns: netnsPins,
      // TODO(#4): the kernel layer's SandboxNetworking (move/rename/address/route) and core/dns's registry.
      sandboxNetworking: noopSandboxNetworking, dns: noopDnsRegistry,
      dataRoot: config.dataRoot, execRoot: config.execRoot, embeddedDns: config.dns,
    });
    await services.reconcile();

    const api: ApiServer = await listenApi({
      services, log: log.child({ component: 'api' }), socketPath: config.apiSocket,
      info: {
        storeKind: store.kind,
        dataRoot: config.dataRoot,
        drivers: async () => ({
          network: registry.listBuiltins('NetworkDriver').map((d) => d.name),
          ipam: registry.listBuiltins('IpamDriver').map((d) => d.name),
          volume: registry.listBuiltins('VolumeDriver').map((d) => d.name),
        }),
      },
    });
    cleanup.push(() => api.close());
    log.info('tsd started', { dataRoot: config.dataRoot, socket: config.apiSocket, store: store.kind });

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
