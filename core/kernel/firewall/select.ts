// core/kernel/firewall/select.ts — the one place a firewall backend is chosen (config
// `firewall.backend`): auto = nftables when libnftables loads (or a spawned `nft` works), else
// iptables; explicit choices fail loudly when their tools are missing.

import { runCommand } from '../exec.js';
import { InvalidArgumentError, UnavailableError, messageOf } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Firewall } from './firewall.js';
import { IptablesFirewall } from './iptables/backend.js';
import { detectIptablesMode } from './iptables/mode.js';
import { NoneFirewall } from './none/backend.js';
import { NftablesFirewall } from './nftables/backend.js';
import { ExecNftTransport } from './nftables/transport-exec.js';
import { LibnftablesTransport } from './nftables/transport-libnftables.js';
import type { NftTransport } from './nftables/transport.js';

export type FirewallBackendChoice = 'auto' | 'nftables' | 'iptables' | 'none';

export interface FirewallConfig {
  backend: FirewallBackendChoice;
}

async function nftTransport(log: Logger): Promise<NftTransport | undefined> {
  try {
    return new LibnftablesTransport();
  } catch (e) {
    log.debug('libnftables unavailable', { err: e });
  }
  const r = await runCommand('nft', ['--version']);
  if (r.exitCode === 0) return new ExecNftTransport();
  log.debug('nft binary unavailable', { err: messageOf(r.stderr || r.message) });
  return undefined;
}

export async function createFirewall(config: FirewallConfig, deps: { log: Logger }): Promise<Firewall> {
  const log = deps.log.child({ component: 'firewall' });
  const choice = config.backend;
  if (choice === 'none') {
    log.info('firewall backend none (configured)');
    return new NoneFirewall();
  }
  if (choice === 'nftables' || choice === 'auto') {
    const t = await nftTransport(log);
    if (t) {
      log.info(`firewall backend nftables (${choice === 'auto' ? 'auto' : 'configured'}) via ${t.kind}`);
      return new NftablesFirewall(t, log);
    }
    if (choice === 'nftables') throw new UnavailableError('firewall backend nftables: neither libnftables.so.1 nor the nft binary is usable');
  }
  if (choice === 'iptables' || choice === 'auto') {
    const mode = await detectIptablesMode();
    log.info(`firewall backend iptables (${choice === 'auto' ? 'auto' : 'configured'}), mode ${mode.mode}: ${mode.why}`);
    return new IptablesFirewall(mode.mode, log);
  }
  throw new InvalidArgumentError(`firewall.backend: ${JSON.stringify(choice)} is not one of auto, nftables, iptables, none`);
}
