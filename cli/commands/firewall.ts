// cli/commands/firewall.ts — `tsctl firewall reload`: write tsd's rules back into the kernel after
// someone else flushed them (nft flush ruleset, a firewalld or nftables.service restart).

import { Command } from 'commander';
import type { CliContext } from '../context.js';

export function firewallCommand(ctx: CliContext): Command {
  const cmd = new Command('firewall').description("Manage tsd's firewall rules");
  cmd
    .command('reload')
    .description("Re-apply tsd's rules (networks and published ports) in one transaction")
    .action(async () => {
      const r = await ctx.client.call<{ Backend: string; Networks: number; Ports: number }>('POST', '/firewall/reload');
      ctx.out(`firewall reloaded (${r.Backend}): ${r.Networks} network(s), ${r.Ports} published port(s)\n`);
    });
  return cmd;
}
