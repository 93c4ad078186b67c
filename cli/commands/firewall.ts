// cli/commands/firewall.ts — `tsctl firewall reload` (tsd-only): rebuild tsd's firewall rules
// (network policy, published ports) from tsd's store, e.g. after `nft flush ruleset`; `tsctl
// firewall status`: the backend and the watch that does that by itself (GET /info).

import { Command } from 'commander';
import type { ApiFirewallReload } from '../../core/service/firewall.js';
import type { FirewallWatchStatus } from '../../core/service/firewall-watch.js';
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
  cmd
    .command('status')
    .description('Show tsd\'s firewall backend and the watch that repairs a flush by itself')
    .action(async () => {
      const info = await ctx.client.call<{ TsdFirewall?: { Backend: string; Watch: FirewallWatchStatus } }>('GET', '/info');
      const f = info.TsdFirewall;
      if (!f) return ctx.out('tsd does not report its firewall (older daemon)\n');
      const w = f.Watch;
      ctx.out(`Backend: ${f.Backend}\n`);
      ctx.out(`Watch: ${w.Enabled ? `on (${w.Mode === 'events' ? 'kernel events' : 'periodic check'})` : 'off'}\n`);
      ctx.out(`Reports: ${w.Reports}  Repairs: ${w.Repairs}  Failures: ${w.RepairFailures}\n`);
      const l = w.LastRepair;
      if (l) ctx.out(`Last repair: ${l.At} in ${l.DurationMs} ms${l.By ? ` after ${l.By}` : ''}: ${l.Vanished.join('; ')}\n`);
    });
  return cmd;
}
