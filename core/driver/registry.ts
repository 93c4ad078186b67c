// core/driver/registry.ts — the one place a driver name is resolved, to a built-in driver or to
// an external plugin reached over Docker's plugin protocol. Both come back behind the same
// interface; callers never know which they got.

import { InvalidArgumentError, NotFoundError } from '../errors.js';
import type { GraphDriver } from './graph-driver.js';
import type { IpamDriver } from './ipam-driver.js';
import type { NetworkDriver } from './network-driver.js';
import type { VolumeDriver } from './volume-driver.js';

/** Docker's `Implements` values for the kinds tsd resolves. */
export type DriverKind = 'NetworkDriver' | 'IpamDriver' | 'VolumeDriver' | 'GraphDriver';

export interface DriverOfKind {
  NetworkDriver: NetworkDriver;
  IpamDriver: IpamDriver;
  VolumeDriver: VolumeDriver;
  GraphDriver: GraphDriver;
}

export const DRIVER_KINDS: readonly DriverKind[] = ['NetworkDriver', 'IpamDriver', 'VolumeDriver', 'GraphDriver'];

/**
 * Where external drivers come from (plugins/client implements it; bin/tsd wires it in).
 * `lookup` resolves one name (discovery + activation); undefined = no such plugin.
 * `scan` lists every external plugin that implements `kind` (e.g. `volume ls` over all drivers).
 */
export interface RemoteDriverSource {
  lookup<K extends DriverKind>(kind: K, name: string): Promise<DriverOfKind[K] | undefined>;
  scan<K extends DriverKind>(kind: K): Promise<Array<DriverOfKind[K]>>;
}

export interface ResolvedDriver<K extends DriverKind> {
  driver: DriverOfKind[K];
  builtin: boolean;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.\-/:]{0,127}$/;

export class DriverRegistry {
  private readonly builtins = new Map<string, unknown>();
  private readonly aliases = new Map<string, string>();

  constructor(private readonly remote?: RemoteDriverSource) {}

  private key(kind: DriverKind, name: string): string {
    return `${kind}\u0000${name}`;
  }

  /** Register a built-in driver under its name (and optional aliases, e.g. "bridge" → "tsd-bridge"). */
  register<K extends DriverKind>(kind: K, driver: DriverOfKind[K], aliases: readonly string[] = []): void {
    const k = this.key(kind, driver.name);
    if (this.builtins.has(k)) throw new InvalidArgumentError(`${kind} ${driver.name}: already registered`);
    this.builtins.set(k, driver);
    for (const a of aliases) this.aliases.set(this.key(kind, a), driver.name);
  }

  /** The built-in driver `name` (or alias), without consulting external plugins. */
  builtin<K extends DriverKind>(kind: K, name: string): DriverOfKind[K] | undefined {
    const canonical = this.aliases.get(this.key(kind, name)) ?? name;
    return this.builtins.get(this.key(kind, canonical)) as DriverOfKind[K] | undefined;
  }

  /** Every built-in driver of `kind` (served by the plugin server, listed by `tsctl info`). */
  listBuiltins<K extends DriverKind>(kind: K): Array<DriverOfKind[K]> {
    const out: Array<DriverOfKind[K]> = [];
    for (const [k, d] of this.builtins) if (k.startsWith(`${kind}\u0000`)) out.push(d as DriverOfKind[K]);
    return out;
  }

  /** Resolve `name`: built-in first, then external plugins. NotFoundError if neither has it. */
  async resolve<K extends DriverKind>(kind: K, name: string): Promise<ResolvedDriver<K>> {
    if (!NAME_RE.test(name)) throw new InvalidArgumentError(`driver name ${JSON.stringify(name)}: invalid`);
    const b = this.builtin(kind, name);
    if (b) return { driver: b, builtin: true };
    if (this.remote) {
      const r = await this.remote.lookup(kind, name);
      if (r) return { driver: r, builtin: false };
    }
    throw new NotFoundError(`${kind} ${name}: not found (no built-in driver and no plugin of that name)`);
  }

  async get<K extends DriverKind>(kind: K, name: string): Promise<DriverOfKind[K]> {
    return (await this.resolve(kind, name)).driver;
  }

  /** Built-in drivers and every external plugin implementing `kind`. */
  async all<K extends DriverKind>(kind: K): Promise<Array<DriverOfKind[K]>> {
    const out = this.listBuiltins(kind);
    if (this.remote) {
      const seen = new Set(out.map((d) => d.name));
      for (const d of await this.remote.scan(kind)) if (!seen.has(d.name)) out.push(d);
    }
    return out;
  }
}
