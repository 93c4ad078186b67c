// core/kernel/firewall/model.ts — the in-memory model every backend keeps of what it installed:
// networks by id, published host ports by key. It validates and plans each operation (which
// entries are new, which conflict, which are already gone) before the backend touches the
// kernel, and is updated only after the kernel transaction succeeded.

import { ConflictError } from '../../errors.js';
import {
  entryKey,
  entryToMapping,
  expandMapping,
  validateNetwork,
  type FirewallBackendName,
  type FirewallDesired,
  type FirewallNetwork,
  type FirewallState,
  type PortEntry,
  type PortMapping,
} from './types.js';

const sameEntry = (a: PortEntry, b: PortEntry) =>
  a.networkId === b.networkId && a.containerIp === b.containerIp && a.containerPort === b.containerPort;

export class FirewallModel {
  readonly networks = new Map<string, FirewallNetwork>();
  /** entryKey → entry. */
  readonly ports = new Map<string, PortEntry>();
  /** "family|proto|port" → number of entries on it (to catch any-address vs specific clashes). */
  private readonly portUse = new Map<string, number>();

  /** Validate a network; returns the previous definition when it replaces one. */
  planNetwork(n: FirewallNetwork): FirewallNetwork | undefined {
    validateNetwork(n);
    for (const other of this.networks.values()) {
      if (other.id !== n.id && other.bridge === n.bridge) {
        throw new ConflictError(`network ${n.id}: bridge ${n.bridge} is already used by network ${other.id}`);
      }
    }
    return this.networks.get(n.id);
  }

  /** Entries published on a network. */
  entriesOf(networkId: string): PortEntry[] {
    return [...this.ports.values()].filter((e) => e.networkId === networkId);
  }

  /**
   * Expand and check mappings to publish. Returns only the entries not yet installed; throws
   * ConflictError naming the port when a host port is held by something else.
   */
  planPublish(mappings: readonly PortMapping[]): PortEntry[] {
    const fresh: PortEntry[] = [];
    const batch = new Map<string, PortEntry>();
    const batchUse = new Map<string, number>();
    for (const m of mappings) {
      for (const e of expandMapping(m, this.networks.get(m.networkId))) {
        const key = entryKey(e);
        const have = this.ports.get(key) ?? batch.get(key);
        if (have) {
          if (sameEntry(have, e)) continue;
          throw new ConflictError(`publish ${describe(e)}: already published to ${have.containerIp}:${have.containerPort} (network ${have.networkId})`);
        }
        const use = `${e.family}|${e.proto}|${e.hostPort}`;
        const anyKey = entryKey({ ...e, hostIp: undefined });
        const taken = e.hostIp === undefined
          ? (this.portUse.get(use) ?? 0) + (batchUse.get(use) ?? 0) > 0
          : this.ports.has(anyKey) || batch.has(anyKey);
        if (taken) throw new ConflictError(`publish ${describe(e)}: port is already published on ${e.hostIp === undefined ? 'a specific host address' : 'every host address'}`);
        batch.set(key, e);
        batchUse.set(use, (batchUse.get(use) ?? 0) + 1);
        fresh.push(e);
      }
    }
    return fresh;
  }

  /** Installed entries matching the mappings (unknown ones are skipped: unpublish is idempotent). */
  planUnpublish(mappings: readonly PortMapping[]): PortEntry[] {
    const out: PortEntry[] = [];
    for (const m of mappings) {
      const n = this.networks.get(m.networkId);
      if (!n) continue;
      for (const e of expandMapping(m, n)) {
        const have = this.ports.get(entryKey(e));
        if (have && sameEntry(have, e)) out.push(have);
      }
    }
    return out;
  }

  commitNetwork(n: FirewallNetwork): void {
    this.networks.set(n.id, structuredClone(n));
  }

  commitRemoveNetwork(id: string): void {
    for (const e of this.entriesOf(id)) this.removeEntry(e);
    this.networks.delete(id);
  }

  commitPublish(entries: readonly PortEntry[]): void {
    for (const e of entries) {
      this.ports.set(entryKey(e), e);
      const use = `${e.family}|${e.proto}|${e.hostPort}`;
      this.portUse.set(use, (this.portUse.get(use) ?? 0) + 1);
    }
  }

  commitUnpublish(entries: readonly PortEntry[]): void {
    for (const e of entries) this.removeEntry(e);
  }

  private removeEntry(e: PortEntry): void {
    if (!this.ports.delete(entryKey(e))) return;
    const use = `${e.family}|${e.proto}|${e.hostPort}`;
    const n = (this.portUse.get(use) ?? 1) - 1;
    if (n > 0) this.portUse.set(use, n);
    else this.portUse.delete(use);
  }

  /** Build a fresh model from the store's desired state (validates everything first). */
  static fromDesired(d: FirewallDesired): FirewallModel {
    const m = new FirewallModel();
    for (const n of d.networks) {
      m.planNetwork(n);
      m.commitNetwork(n);
    }
    m.commitPublish(m.planPublish(d.ports));
    return m;
  }

  clear(): void {
    this.networks.clear();
    this.ports.clear();
    this.portUse.clear();
  }

  replaceWith(other: FirewallModel): void {
    this.clear();
    for (const [k, v] of other.networks) this.networks.set(k, v);
    this.commitPublish([...other.ports.values()]);
  }

  state(backend: FirewallBackendName): FirewallState {
    return {
      backend,
      networks: [...this.networks.values()].map((n) => structuredClone(n)),
      ports: [...this.ports.values()].map(entryToMapping),
    };
  }
}

export function describe(e: PortEntry): string {
  const host = e.hostIp === undefined ? (e.family === 4 ? '0.0.0.0' : '[::]') : e.family === 6 ? `[${e.hostIp}]` : e.hostIp;
  return `${e.proto} ${host}:${e.hostPort}`;
}
