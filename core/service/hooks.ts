// core/service/hooks.ts — the seams the services call out through, implemented elsewhere:
//  - SandboxNetworking: after a driver's Join, move the driver's interface into the sandbox's
//    netns, rename it, set addresses/MAC/routes/gateway (dockerd's job; built on core/kernel).
//  - DnsRegistry: name records of attached endpoints (core/dns). Records are added before
//    connect returns and removed before disconnect returns.
//  - NetnsProvider: create, pin and remove network namespaces for sandboxes (core/kernel).
// No-op / fake implementations live here too, for tests and for builds without those layers.

import type { JoinResponse } from '../driver/network-driver.js';

export interface SandboxAttachRequest {
  /** Path of the sandbox's network namespace. */
  netnsPath: string;
  sandboxId: string;
  networkId: string;
  endpointId: string;
  /** What the driver's Join returned (interface name, gateway, static routes). */
  join: JoinResponse;
  /** Interface name to give it inside the sandbox, e.g. "eth0". */
  ifname: string;
  /** CIDRs, "" when none. */
  ipv4: string;
  ipv6: string;
  macAddress: string;
}

export interface SandboxNetworking {
  /**
   * Move `join.interfaceName.srcName` into the sandbox as `ifname` and configure it. Undone by
   * detach. An empty srcName (drivers with no interface, e.g. none) means nothing to move.
   */
  attach(req: SandboxAttachRequest): Promise<void>;
  /**
   * Undo attach: remove the interface from the sandbox. Idempotent; succeeds when the netns or
   * the interface is already gone (host-side cleanup must never depend on the netns).
   */
  detach(req: { netnsPath: string; ifname: string; networkId: string; endpointId: string }): Promise<void>;
  /**
   * Point the sandbox's default route (per family given) at `gateway` / `gatewayIpv6`, replacing
   * any. Used when the endpoint that held the default route leaves and another one with a gateway
   * remains (Docker moves the sandbox's gateway the same way).
   */
  setDefaultGateway?(req: { netnsPath: string; gateway?: string; gatewayIpv6?: string }): Promise<void>;
}

export interface DnsRecord {
  networkId: string;
  endpointId: string;
  sandboxId: string;
  /** Where the sandbox's resolver sockets live (127.0.0.11:53 inside this netns). */
  netnsPath: string;
  /** Internal networks never forward to upstreams. */
  internal: boolean;
  /** Per-network upstream servers (the network's dns option), if any. */
  upstreams?: string[];
  /** Primary name (the sandbox name) and any aliases. */
  names: string[];
  /** Plain IPs. */
  ipv4: string[];
  ipv6: string[];
}

export interface DnsRegistry {
  /** Make `names` resolvable on the network; resolves only once they answer. Undone by remove. */
  add(record: DnsRecord): Promise<void>;
  /** Idempotent. */
  remove(networkId: string, endpointId: string): Promise<void>;
  /** The sandbox is going away: close its resolver sockets. Idempotent. */
  removeSandbox?(sandboxId: string): Promise<void>;
  /** The network is going away: forget its table (and close its host listeners). Idempotent. */
  removeNetwork?(networkId: string): Promise<void>;
  /**
   * Serve the network's names to the host on its gateway addresses (com.tsd.network.host_dns);
   * returns what is served ("10.1.0.1:53"). Undone by removeHostDns. Absent: no embedded DNS.
   */
  addHostDns?(n: { networkId: string; name: string; addresses: string[] }): Promise<string[]>;
  /** Idempotent. */
  removeHostDns?(networkId: string): Promise<void>;
  /** What addHostDns serves now for the network ([] when nothing). */
  hostDnsAddresses?(networkId: string): string[];
}

export interface NetnsProvider {
  /** Create a new, empty network namespace pinned at `path` (lo up). Undone by remove. */
  create(path: string): Promise<void>;
  /** Pin the network namespace of process `pid` at `path` (so it outlives a PID reuse check). */
  pinPid(pid: number, path: string): Promise<void>;
  /** Unpin and delete the file at `path`. Idempotent. */
  remove(path: string): Promise<void>;
  /** Whether `path` is a network namespace file. */
  isNetns(path: string): Promise<boolean>;
  /**
   * The namespace's identity at `path` ("net:[inode]"), undefined when it is not a namespace
   * (gone, unpinned, a process exited). Cheap (a stat): the background sandbox sweep calls it for
   * every sandbox. Optional: without it the sweep falls back to isNetns.
   */
  identity?(path: string): Promise<string | undefined>;
}

/**
 * Tells when a process exits, as it happens (pidfd): a sandbox adopted by PID goes at its
 * process's exit, not at the next sweep. Optional: without it only the sweep notices.
 */
export interface ProcessExitWatch {
  /** `onExit` is called once after `pid` exits (soon, if it is gone already). Returns a cancel function. */
  watch(pid: number, onExit: () => void): () => void;
  /** Cancel every watch and release what the watch holds. Idempotent. */
  close(): Promise<void>;
}

export const noopSandboxNetworking: SandboxNetworking = {
  async attach() {},
  async detach() {},
};

export const noopDnsRegistry: DnsRegistry = {
  async add() {},
  async remove() {},
};

/** A DnsRegistry that keeps records in memory (tests assert what was registered and when). */
export class MemoryDnsRegistry implements DnsRegistry {
  readonly records = new Map<string, DnsRecord>();
  async add(record: DnsRecord): Promise<void> {
    this.records.set(`${record.networkId}/${record.endpointId}`, record);
  }
  async remove(networkId: string, endpointId: string): Promise<void> {
    this.records.delete(`${networkId}/${endpointId}`);
  }
  /** networkId → what addHostDns was given */
  readonly hostDns = new Map<string, { name: string; addresses: string[] }>();
  /** Make addHostDns fail (a port in use). */
  failHostDns: Error | undefined;
  async addHostDns(n: { networkId: string; name: string; addresses: string[] }): Promise<string[]> {
    if (this.failHostDns) throw this.failHostDns;
    this.hostDns.set(n.networkId, { name: n.name, addresses: n.addresses });
    return this.hostDnsAddresses(n.networkId);
  }
  async removeHostDns(networkId: string): Promise<void> {
    this.hostDns.delete(networkId);
  }
  async removeNetwork(networkId: string): Promise<void> {
    this.hostDns.delete(networkId);
  }
  hostDnsAddresses(networkId: string): string[] {
    return (this.hostDns.get(networkId)?.addresses ?? []).map((a) => `${a}:53`);
  }
  lookup(networkId: string, name: string): string[] {
    const out: string[] = [];
    for (const r of this.records.values()) if (r.networkId === networkId && r.names.includes(name)) out.push(...r.ipv4, ...r.ipv6);
    return out;
  }
}

/** Bind mounts inside a sandbox's root filesystem (volumes). Implemented on core/kernel. */
export interface SandboxMounts {
  /**
   * Bind `source` at `target` (absolute, inside `root`), creating missing directories; refuses a
   * target that escapes the root through ".." or a symlink. Returns the mount point's host path.
   * Undone by unmount.
   */
  bindInRoot(source: string, root: string, target: string, readonly: boolean): Promise<string>;
  /** Idempotent. */
  unmount(hostPath: string): Promise<void>;
  isMountPoint(hostPath: string): Promise<boolean>;
}
