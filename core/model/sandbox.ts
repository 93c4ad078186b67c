// core/model/sandbox.ts — a sandbox (a network namespace endpoints join) as tsd stores it, and
// its API shape (tsd-only /sandboxes routes).

import { nameProblem } from './ids.js';

/** A volume bound into a sandbox's root. */
export interface SandboxVolume {
  name: string;
  /** Absolute path inside the sandbox's root. */
  target: string;
  readonly: boolean;
  /** Host path of the volume's data (what the volume driver's Mount returned). */
  source: string;
  /** Host path of the bind mount inside the root. */
  mountPoint: string;
}

/** The root filesystem: a read-write layer on a layer chain, mounted at `path`. */
export interface SandboxRootfs {
  /** The layer the sandbox was created from. */
  layer: string;
  /** The read-write layer made on top of it for this sandbox. */
  rwLayer: string;
  driver: string;
  path: string;
}

export type VolumeSpec = Pick<SandboxVolume, 'name' | 'target' | 'readonly'>;

/** "NAME:/path[:ro|rw]" (docker run -v with a named volume). Throws with the reason. */
export function parseVolumeSpec(spec: string): VolumeSpec {
  const bad = (why: string) => new Error(`invalid volume specification ${JSON.stringify(spec)}: ${why}`);
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) throw bad('expected NAME:/PATH[:ro|rw]');
  const [name, target, mode] = parts as [string, string, string | undefined];
  const np = nameProblem(name);
  if (np) throw bad(`volume name ${JSON.stringify(name)}: ${np}`);
  if (!target.startsWith('/')) throw bad(`mount path ${JSON.stringify(target)} must be absolute`);
  if (target.split('/').some((c) => c === '..' || c === '.')) throw bad(`mount path ${JSON.stringify(target)} must not contain "." or ".."`);
  if (target.split('/').every((c) => c === '')) throw bad('cannot mount a volume over the root');
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw bad(`mode ${JSON.stringify(mode)} is not ro or rw`);
  return { name, target: '/' + target.split('/').filter(Boolean).join('/'), readonly: mode === 'ro' };
}

export interface SandboxRecord {
  id: string;
  name: string;
  /** Path of the network namespace (the sandbox key handed to drivers on join). */
  netnsPath: string;
  /** true: tsd created the namespace (or pinned a PID's) and removes it with the sandbox. */
  owned: boolean;
  /** Where it came from: created by tsd, an adopted path, or a process id. */
  origin: { kind: 'created' } | { kind: 'path'; path: string } | { kind: 'pid'; pid: number };
  /**
   * The namespace's identity when the sandbox was made ("net:[inode]"): a path that later holds
   * another namespace is a vanished sandbox. Absent in records written before it existed.
   */
  netnsId?: string;
  hostname: string;
  /** Nameservers written to resolv.conf. */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  labels: Record<string, string>;
  created: string;
  /** Absent: the sandbox is a network namespace only. */
  rootfs?: SandboxRootfs;
  volumes?: SandboxVolume[];
  /** Id of the daemon that made it (several daemons can share one etcd); absent: any daemon's. */
  owner?: string;
}

export interface ApiSandboxEndpoint {
  NetworkID: string;
  NetworkName: string;
  EndpointID: string;
  IfName: string;
  IPv4Address: string;
  IPv6Address: string;
  MacAddress: string;
  Gateway: string;
  Aliases: string[];
}

export interface ApiSandbox {
  Id: string;
  Name: string;
  NetnsPath: string;
  Owned: boolean;
  Origin: string;
  Hostname: string;
  Created: string;
  Labels: Record<string, string>;
  ResolvConfPath: string;
  HostsPath: string;
  Networks: Record<string, ApiSandboxEndpoint>;
  /** The root filesystem's host path ("" without one): `tsctl sandbox exec` chroots into it. */
  RootPath: string;
  RootFs: { Layer: string; RwLayer: string; Driver: string } | null;
  /** Docker-style mount list (volumes). */
  Mounts: Array<{ Type: 'volume'; Name: string; Source: string; Destination: string; RW: boolean }>;
}
