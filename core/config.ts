// core/config.ts — tsd's configuration: built-in defaults < config file (JSON or YAML) < flags.
// Validated with zod; every error names the key and the file ("config /etc/tsd/tsd.yaml:
// store.endpoints[0]: …"). File keys are the flag names (Docker's daemon.json style).

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { InvalidArgumentError } from './errors.js';
import type { LogLevel } from './log.js';
import { parseCidr } from './model/addr.js';

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, { message: 'is not a valid CIDR' });
const absPath = z.string().refine((s) => path.isAbsolute(s), { message: 'must be an absolute path' });

const StoreSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('embedded') }),
  z.strictObject({ kind: z.literal('memory') }),
  z.strictObject({
    kind: z.literal('etcd'),
    endpoints: z.array(z.string().url()).min(1, 'needs at least one endpoint'),
    prefix: z.string().default('/tsd/'),
    'dial-timeout-ms': z.number().int().positive().optional(),
  }),
]);

export const ConfigFileSchema = z.strictObject({
  'data-root': absPath.optional(),
  'exec-root': absPath.optional(),
  'api-socket': absPath.optional(),
  'plugin-dir': absPath.optional(),
  store: StoreSchema.optional(),
  'firewall-backend': z.enum(['auto', 'nftables', 'iptables', 'none']).optional(),
  /** Re-apply tsd's firewall by itself when someone flushes it (default true; docs/firewall.md). */
  'firewall-watch': z.boolean().optional(),
  'log-level': z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).optional(),
  'default-address-pools': z.array(z.strictObject({ base: cidr, size: z.number().int().min(1).max(128) })).optional(),
  dns: z.boolean().optional(),
  /** Most queries the embedded DNS forwards upstream at once; the excess gets SERVFAIL at once (moby/libnetwork#2214). */
  'dns-max-in-flight': z.number().int().min(1).max(60_000).optional(),
  /** Port of the host DNS listeners of com.tsd.network.host_dns networks (default 53; move it off a port dnsmasq holds). */
  'host-dns-port': z.number().int().min(1).max(65_535).optional(),
  /** Seconds between passes of the sweep that removes sandboxes whose netns or process is gone (0: off). */
  'sweep-interval': z.number().min(0).max(86_400).optional(),
  /** Serve the built-in tsd-* drivers over Docker's plugin protocol in plugin-dir (default true). */
  'serve-plugins': z.boolean().optional(),
  /** Per-driver settings handed to each driver's DriverContext.config. */
  drivers: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

export type StoreSetting = { kind: 'embedded' } | { kind: 'memory' } | { kind: 'etcd'; endpoints: string[]; prefix: string; dialTimeoutMs?: number };

export interface TsdConfig {
  dataRoot: string;
  execRoot: string;
  apiSocket: string;
  pluginDir: string;
  store: StoreSetting;
  firewallBackend: 'auto' | 'nftables' | 'iptables' | 'none';
  /** Repair tsd's firewall by itself after a flush (nft events; iptables-legacy: every sweep interval). */
  firewallWatch: boolean;
  logLevel: LogLevel;
  defaultAddressPools: Array<{ base: string; size: number }>;
  dns: boolean;
  dnsMaxInFlight: number;
  /** Port of the host DNS listeners (com.tsd.network.host_dns). */
  hostDnsPort: number;
  /** Seconds between sweeps of vanished sandboxes; 0 disables the sweep. */
  sweepInterval: number;
  servePlugins: boolean;
  drivers: Record<string, Record<string, unknown>>;
}

/** Docker's default local pools: 172.17–172.31/16, then 192.168.0.0/16 in /20s. */
export const DEFAULT_ADDRESS_POOLS = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/15', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/13', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

export function defaultConfig(): TsdConfig {
  return {
    dataRoot: '/var/lib/tsd',
    execRoot: '/run/tsd',
    apiSocket: '/run/tsd/tsd.sock',
    pluginDir: '/run/docker/plugins',
    store: { kind: 'embedded' },
    firewallBackend: 'auto',
    firewallWatch: true,
    logLevel: 'info',
    defaultAddressPools: DEFAULT_ADDRESS_POOLS,
    dns: true,
    dnsMaxInFlight: 1024,
    hostDnsPort: 53,
    sweepInterval: 30,
    servePlugins: true,
    drivers: {},
  };
}

function pathText(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const s of p) out += typeof s === 'number' ? `[${s}]` : out ? `.${String(s)}` : String(s);
  return out;
}

/** Validate a parsed config object; `source` names it in errors. */
export function parseConfigObject(raw: unknown, source: string): ConfigFile {
  const r = ConfigFileSchema.safeParse(raw ?? {});
  if (!r.success) {
    const msgs = r.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? (i as { keys: string[] }).keys.map((k) => `${pathText([...i.path, k])}: unknown key`).join('; ')
        : `${pathText(i.path) || '(top level)'}: ${i.message}`,
    );
    throw new InvalidArgumentError(`config ${source}: ${msgs.join('; ')}`);
  }
  return r.data;
}

/** Read a JSON (.json) or YAML (anything else) config file. */
export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`config ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`config ${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseConfigObject(raw, file);
}

/** defaults < file < flags (flags use the same keys as the file). */
export function resolveConfig(file: ConfigFile | undefined, flags: ConfigFile = {}): TsdConfig {
  const d = defaultConfig();
  const m: ConfigFile = { ...(file ?? {}), ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
  const dataRoot = m['data-root'] ?? d.dataRoot;
  const execRoot = m['exec-root'] ?? d.execRoot;
  const st = m.store;
  const store: StoreSetting =
    st === undefined ? d.store
    : st.kind === 'etcd' ? { kind: 'etcd', endpoints: st.endpoints, prefix: st.prefix, ...(st['dial-timeout-ms'] ? { dialTimeoutMs: st['dial-timeout-ms'] } : {}) }
    : st;
  return {
    dataRoot,
    execRoot,
    // The socket follows a custom exec root unless set on its own.
    apiSocket: m['api-socket'] ?? path.join(execRoot, 'tsd.sock'),
    pluginDir: m['plugin-dir'] ?? d.pluginDir,
    store,
    firewallBackend: m['firewall-backend'] ?? d.firewallBackend,
    firewallWatch: m['firewall-watch'] ?? d.firewallWatch,
    logLevel: m['log-level'] ?? d.logLevel,
    defaultAddressPools: m['default-address-pools'] ?? d.defaultAddressPools,
    dns: m.dns ?? d.dns,
    dnsMaxInFlight: m['dns-max-in-flight'] ?? d.dnsMaxInFlight,
    hostDnsPort: m['host-dns-port'] ?? d.hostDnsPort,
    sweepInterval: m['sweep-interval'] ?? d.sweepInterval,
    servePlugins: m['serve-plugins'] ?? d.servePlugins,
    drivers: m.drivers ?? d.drivers,
  };
}
