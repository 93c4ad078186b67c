// plugins/client/driver-source.ts — PluginDriverSource: core's RemoteDriverSource backed by Docker
// plugins. lookup(kind, name) = discovery (retried with dockerd's backoff while the file is
// missing, §1.1) → /Plugin.Activate (cached manifest) → exact `Implements` check → a cached remote
// proxy (network drivers fetch GetCapabilities at that moment, as dockerd's registration does).
// scan(kind) activates every discovered plugin once, without retries, and skips the ones that
// fail — a stale socket must not slow every `volume ls` by 15 s as in dockerd (moby#22653).
// Names tsd serves itself are excluded so tsd never calls itself.
//
// Entry point: new PluginDriverSource({ discovery?, locator?, exclude?, log?, retry?, client? }).

import { NotFoundError } from '../../core/errors.js';
import type { DriverKind, DriverOfKind, RemoteDriverSource } from '../../core/driver/registry.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { implementsKind } from '../protocol/activate.js';
import { type DiscoveryOptions, LocalPluginDiscovery, type PluginLocator, type PluginSpec } from './discovery.js';
import { PluginClient, type PluginClientOptions } from './plugin-client.js';
import { RemoteGraphDriver } from './remote-graph-driver.js';
import { RemoteIpamDriver } from './remote-ipam-driver.js';
import { RemoteNetworkDriver } from './remote-network-driver.js';
import { RemoteVolumeDriver } from './remote-volume-driver.js';
import { DOCKER_RETRY, type RetryPolicy, withRetry } from './retry.js';

export interface PluginDriverSourceOptions {
  /** Directories to search (tests); ignored when `locator` is given. */
  discovery?: DiscoveryOptions;
  /** Where plugins come from (default: LocalPluginDiscovery). Managed bundles plug in here. */
  locator?: PluginLocator;
  /** Plugin names never looked up (tsd's own served names), or a predicate. */
  exclude?: Iterable<string> | ((name: string) => boolean);
  log?: Logger;
  /** Backoff for a plugin file that is not there yet (default dockerd's; NO_RETRY to fail fast). */
  discoveryRetry?: RetryPolicy;
  /** Options of every PluginClient (call retry, deadlines). */
  client?: PluginClientOptions;
}

type AnyProxy = RemoteNetworkDriver | RemoteIpamDriver | RemoteVolumeDriver | RemoteGraphDriver;

class PluginMissing extends Error {}

export class PluginDriverSource implements RemoteDriverSource {
  private readonly locator: PluginLocator;
  private readonly excluded: (name: string) => boolean;
  private readonly log: Logger;
  private readonly discoveryRetry: RetryPolicy;
  private readonly clientOpts: PluginClientOptions;
  private readonly clients = new Map<string, PluginClient>();
  private readonly proxies = new Map<string, Promise<AnyProxy>>();
  /** Names whose /Plugin.Activate succeeded (a failed activation is forgotten, as in dockerd). */
  private readonly activated = new Set<string>();

  constructor(opts: PluginDriverSourceOptions = {}) {
    this.locator = opts.locator ?? new LocalPluginDiscovery(opts.discovery);
    const ex = opts.exclude;
    if (typeof ex === 'function') this.excluded = ex;
    else {
      const set = new Set(ex ?? []);
      this.excluded = (n) => set.has(n);
    }
    this.log = (opts.log ?? silentLogger).child({ component: 'plugins' });
    this.discoveryRetry = opts.discoveryRetry ?? DOCKER_RETRY;
    this.clientOpts = { ...opts.client, log: opts.client?.log ?? this.log };
  }

  private clientFor(spec: PluginSpec): PluginClient {
    let c = this.clients.get(spec.name);
    if (!c || c.spec.addr !== spec.addr) {
      void c?.close();
      c = new PluginClient(spec, this.clientOpts);
      this.clients.set(spec.name, c);
    }
    return c;
  }

  private async proxyFor<K extends DriverKind>(kind: K, spec: PluginSpec, activateRetry: boolean): Promise<DriverOfKind[K]> {
    const key = `${kind}\u0000${spec.name}`;
    let p = this.proxies.get(key);
    if (!p) {
      const client = this.clientFor(spec);
      p = (async (): Promise<AnyProxy> => {
        const manifest = await client.activate({ retry: activateRetry });
        this.activated.add(spec.name);
        if (!implementsKind(manifest, kind)) {
          throw new NotFoundError(`plugin ${spec.name}: Plugin does not implement the requested driver ${kind} (implements ${manifest.implements.join(', ') || 'nothing'})`);
        }
        const log = this.log.child({ plugin: spec.name });
        switch (kind) {
          case 'NetworkDriver': return new RemoteNetworkDriver(client, log).init();
          case 'IpamDriver': return new RemoteIpamDriver(client, log);
          case 'VolumeDriver': return new RemoteVolumeDriver(client, log);
          default: return new RemoteGraphDriver(client, log);
        }
      })();
      this.proxies.set(key, p);
      // A failed activation/registration is forgotten so the next use tries again (dockerd).
      const mine = p;
      p.catch(() => {
        if (this.proxies.get(key) === mine) this.proxies.delete(key);
      });
    }
    return (await p) as unknown as DriverOfKind[K];
  }

  async lookup<K extends DriverKind>(kind: K, name: string): Promise<DriverOfKind[K] | undefined> {
    if (this.excluded(name)) return undefined;
    // An activated plugin stays known for the life of the source, as in dockerd: no new
    // discovery, even if its socket went away (calls then fail with a transport error).
    const known = this.activated.has(name) ? this.clients.get(name) : undefined;
    if (known) return this.proxyFor(kind, known.spec, true);
    let spec: PluginSpec;
    try {
      spec = await withRetry(
        this.discoveryRetry,
        async () => {
          const s = await this.locator.find(name);
          if (!s) throw new PluginMissing(name);
          return s;
        },
        (e) => e instanceof PluginMissing,
        { onRetry: (_e, ms) => this.log.info(`Unable to locate plugin: ${name}, retrying in ${ms} ms`, { plugin: name }) },
      );
    } catch (e) {
      if (e instanceof PluginMissing) return undefined;
      throw e;
    }
    return this.proxyFor(kind, spec, true);
  }

  async scan<K extends DriverKind>(kind: K): Promise<Array<DriverOfKind[K]>> {
    const out: Array<DriverOfKind[K]> = [];
    for (const spec of await this.locator.list()) {
      if (this.excluded(spec.name)) continue;
      try {
        out.push(await this.proxyFor(kind, spec, false));
      } catch (e) {
        // Not of this kind, or not answering: skipped; a later lookup by name tries again.
        this.log.debug('plugin skipped in scan', { plugin: spec.name, kind, err: e });
      }
    }
    return out;
  }

  /** Close every pooled connection. */
  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
    this.proxies.clear();
    this.activated.clear();
  }
}
