// cli/main.ts — tsctl: parse argv with commander, run one command against tsd's HTTP API, and
// turn every failure into one line "Error: …" and an exit code (1 = the command failed,
// 2 = usage). The one exit point, so commands never print errors or exit themselves.

import { Command, CommanderError } from 'commander';
import { ApiError, ConnectError, socketFromHost } from './api-client.js';
import { sandboxCommand } from './commands/sandbox.js';
import { networkCommand } from './commands/network.js';
import { volumeCommand } from './commands/volume.js';
import { layerCommand } from './commands/layer.js';
import { firewallCommand } from './commands/firewall.js';
import { CliContext, UsageError, type CliIo } from './context.js';

export const TSCTL_VERSION = '0.1.0';

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const ctx = new CliContext(io);
  const program = new Command('tsctl')
    .description('tsctl: the command line of tsd (container networking and volumes)')
    .version(TSCTL_VERSION)
    .option('-H, --host <socket>', 'tsd API socket, unix:///path or /path (env TSD_HOST)')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (s, write) => write(s.replace(/^error: /, 'Error: ')) })
    .hook('preAction', () => {
      ctx.socketPath = socketFromHost(program.opts<{ host?: string }>().host ?? io.env.TSD_HOST);
    });
  for (const sub of [networkCommand(ctx), volumeCommand(ctx), sandboxCommand(ctx), layerCommand(ctx), firewallCommand(ctx)]) {
    program.addCommand(sub);
    sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (s, write) => write(s.replace(/^error: /, 'Error: ')) });
    for (const c of sub.commands) {
      c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (s, write) => write(s.replace(/^error: /, 'Error: ')) });
    }
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not failures; a group without a subcommand shows its help (exit 0 like docker's 0? docker exits 0)
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'commander.executeSubCommandAsync') return 0;
      return 2;
    }
    if (e instanceof UsageError) {
      io.stderr(`Error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ApiError || e instanceof ConnectError) {
      io.stderr(`Error: ${e.message}\n`);
      return 1;
    }
    io.stderr(`Error: ${(e as Error).message ?? String(e)}\n`);
    return 1;
  }
}
