// core/kernel/firewall/firewall.ts — the one firewall contract (moby's firewaller, netavark's
// FirewallDriver without backend-specific parameters). Backends: nftables/, iptables/, none/;
// chosen once by select.ts. Every call is one kernel transaction and is idempotent.

import type {
  FirewallBackendName, FirewallDamage, FirewallDesired, FirewallNetwork, FirewallState, FirewallWatcher, FirewallWatchOptions, PortMapping,
} from './types.js';

export interface Firewall {
  readonly backend: FirewallBackendName;
  /**
   * Install a network's policy (masquerade, internal, icc, isolation, hairpin). Re-adding the
   * same id replaces its policy. Undone by removeNetwork(net.id).
   */
  addNetwork(net: FirewallNetwork): Promise<void>;
  /** Remove a network's policy and every port still published on it. Idempotent. */
  removeNetwork(id: string): Promise<void>;
  /**
   * Publish ports (DNAT from the host, hairpin included) in one transaction: all or none.
   * Publishing an identical mapping again is a no-op; a host port taken by a different mapping
   * is a ConflictError. Undone by unpublishPorts(mappings).
   */
  publishPorts(mappings: readonly PortMapping[]): Promise<void>;
  /** Remove published ports in one transaction. Unknown mappings are ignored (idempotent). */
  unpublishPorts(mappings: readonly PortMapping[]): Promise<void>;
  /**
   * Rebuild everything tsd owns from `desired` (the store) in one transaction: `tsctl firewall
   * reload` and the repair at startup. Replaces the backend's model.
   */
  reload(desired: FirewallDesired): Promise<void>;
  /** Remove tsd's tables/chains entirely (backend switch, uninstall). Idempotent. */
  purge(): Promise<void>;
  /** The backend's model of what is installed. */
  state(): FirewallState;
  /**
   * Optional: call `onDamage` when someone else removes what tsd installed (`nft flush ruleset`,
   * a firewalld / nftables.service reload, `iptables -F`): kernel events where the backend has
   * them (nftables, iptables-nft), else a cheap check every `checkIntervalMs` (iptables-legacy).
   * tsd's own transactions are never reported. Repairing (reload) is the caller's decision.
   */
  watch?(onDamage: (d: FirewallDamage) => void, opts: FirewallWatchOptions): FirewallWatcher;
  /** Optional: what of tsd's installed skeleton is missing now ([] = intact). */
  check?(): Promise<string[]>;
}
