// bin/tsd.ts — the tsd daemon's entry point: parse flags, read the config file, start the
// daemon, and stop it gracefully on SIGTERM/SIGINT (a second signal exits at once).

import { Command, Option } from 'commander';
import { readConfigFile, parseConfigObject, resolveConfig, type ConfigFile } from '../core/config.js';
import { startDaemon, type DaemonHandle } from '../core/daemon.js';
import { messageOf } from '../core/errors.js';
import { TSD_VERSION } from '../core/api/version.js';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

const program = new Command('tsd')
  .description('tsd: container networking and layered storage daemon')
  .version(TSD_VERSION)
  .option('--config <file>', 'config file (JSON or YAML); flags override it', process.env.TSD_CONFIG)
  .option('--data-root <dir>', 'persistent state (default /var/lib/tsd)')
  .option('--exec-root <dir>', 'runtime state: sockets, pinned namespaces (default /run/tsd)')
  .option('-H, --api-socket <path>', 'API unix socket (default <exec-root>/tsd.sock)')
  .option('--plugin-dir <dir>', 'plugin socket directory (default /run/docker/plugins)')
  .addOption(new Option('--store <kind>', 'state store').choices(['embedded', 'etcd', 'memory']))
  .option('--etcd-endpoints <urls>', 'comma-separated etcd endpoints (with --store etcd)')
  .option('--etcd-prefix <prefix>', 'key prefix in etcd', '/tsd/')
  .addOption(new Option('--firewall-backend <backend>', 'firewall backend').choices(['auto', 'nftables', 'iptables', 'none']))
  .option('--no-firewall-watch', 'do not re-apply tsd\'s firewall by itself when someone flushes it')
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']))
  .option('--default-address-pool <base=CIDR,size=N>', 'default address pool (repeatable)', collect)
  .option('--no-dns', 'do not point sandboxes at the embedded DNS resolver')
  .option('--dns-max-in-flight <n>', 'most DNS queries forwarded upstream at once (default 1024)')
  .option('--host-dns-port <port>', 'port of the host DNS listeners of com.tsd.network.host_dns networks (default 53)')
  .option('--sweep-interval <seconds>', 'seconds between sweeps of sandboxes whose netns or process is gone; 0 disables (default 30)')
  .option('--no-serve-plugins', 'do not serve the built-in drivers over the plugin protocol')
  .showHelpAfterError();

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{
    config?: string; dataRoot?: string; execRoot?: string; apiSocket?: string; pluginDir?: string; store?: string;
    etcdEndpoints?: string; etcdPrefix: string; firewallBackend?: string; firewallWatch: boolean; logLevel?: string; defaultAddressPool?: string[]; dns: boolean; dnsMaxInFlight?: string; hostDnsPort?: string; sweepInterval?: string; servePlugins: boolean;
  }>();
  const file = o.config ? readConfigFile(o.config) : undefined;
  const rawFlags: Record<string, unknown> = {
    'data-root': o.dataRoot,
    'exec-root': o.execRoot,
    'api-socket': o.apiSocket,
    'plugin-dir': o.pluginDir,
    'firewall-backend': o.firewallBackend,
    'firewall-watch': program.getOptionValueSource('firewallWatch') === 'cli' ? o.firewallWatch : undefined,
    'log-level': o.logLevel,
    // --no-dns only overrides when given (commander's default is true).
    dns: program.getOptionValueSource('dns') === 'cli' ? o.dns : undefined,
    // A non-number stays a string so the schema names the flag.
    'dns-max-in-flight': o.dnsMaxInFlight === undefined ? undefined : /^\d+$/.test(o.dnsMaxInFlight) ? Number(o.dnsMaxInFlight) : o.dnsMaxInFlight,
    'host-dns-port': o.hostDnsPort === undefined ? undefined : /^\d+$/.test(o.hostDnsPort) ? Number(o.hostDnsPort) : o.hostDnsPort,
    'sweep-interval': o.sweepInterval === undefined ? undefined : /^\d+(\.\d+)?$/.test(o.sweepInterval) ? Number(o.sweepInterval) : o.sweepInterval,
    'serve-plugins': program.getOptionValueSource('servePlugins') === 'cli' ? o.servePlugins : undefined,
  };
  if (o.store) {
    rawFlags.store = o.store === 'etcd'
      ? { kind: 'etcd', endpoints: (o.etcdEndpoints ?? '').split(',').filter(Boolean), prefix: o.etcdPrefix }
      : { kind: o.store };
  }
  if (o.defaultAddressPool) {
    rawFlags['default-address-pools'] = o.defaultAddressPool.map((s) => {
      const kv = Object.fromEntries(s.split(',').map((p) => p.split('=', 2) as [string, string]));
      return { base: kv.base, size: kv.size === undefined ? undefined : Number(kv.size) };
    });
  }
  const flags: ConfigFile = parseConfigObject(
    Object.fromEntries(Object.entries(rawFlags).filter(([, v]) => v !== undefined)),
    'flags',
  );
  const config = resolveConfig(file, flags);
  // Signals are caught from the start: a SIGTERM during start-up waits for start-up to finish,
  // then shuts down what was started (the API socket may already accept connections).
  let signals = 0;
  let daemon: DaemonHandle | undefined;
  let pendingStop = false;
  const shutdown = (d: DaemonHandle) => {
    d.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        d.log.error('shutdown failed', { err: e });
        process.exit(1);
      },
    );
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      daemon?.log.warn('second signal: exiting now', { signal: sig });
      process.exit(130);
    }
    if (!daemon) { pendingStop = true; return; }
    daemon.log.info('signal received, shutting down', { signal: sig });
    shutdown(daemon);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  daemon = await startDaemon(config);
  if (pendingStop) {
    daemon.log.info('signal received during start-up, shutting down');
    shutdown(daemon);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`tsd: Error: ${messageOf(e)}\n`);
  process.exit(1);
});
