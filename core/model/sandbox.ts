// core/model/sandbox.ts — a sandbox (a network namespace endpoints join) as tsd stores it, and
// its API shape (tsd-only /sandboxes routes).

export interface SandboxRecord {
  id: string;
  name: string;
  /** Path of the network namespace (the sandbox key handed to drivers on join). */
  netnsPath: string;
  /** true: tsd created the namespace (or pinned a PID's) and removes it with the sandbox. */
  owned: boolean;
  /** Where it came from: created by tsd, an adopted path, or a process id. */
  origin: { kind: 'created' } | { kind: 'path'; path: string } | { kind: 'pid'; pid: number };
  hostname: string;
  /** Nameservers written to resolv.conf. */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  labels: Record<string, string>;
  created: string;
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
}
