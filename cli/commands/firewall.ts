// cli/commands/firewall.ts — `tsctl firewall reload` (tsd-only): rebuild tsd's firewall rules
// (network policy, published ports) from tsd's store, e.g. after `nft flush ruleset`.

import { Command } from 'commander';
import type { ApiFirewallReload } from '../../core/service/firewall.js';
import type { CliContext } from '../context.js';

export function firewallCommand(ctx: CliContext): Command {
  const cmd = new Command('firewall').description('Manage tsd\'s firewall rules');
  cmd
    .command('reload')
    .description('Rebuild tsd\'s firewall rules from its store (network policy and published ports)')
    .action(async () => {
      const r = await ctx.client.call<ApiFirewallReload>('POST', '/firewall/reload', {});
      if (r.Drivers.length === 0) return ctx.out('No driver owns firewall rules\n');
      for (const d of r.Drivers) ctx.out(`Reloaded ${d.Driver} (${d.Backend}): ${d.Networks} network(s), ${d.Ports} published port(s)\n`);
    });
  return cmd;
}
