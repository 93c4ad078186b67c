// cli/commands/volume.ts — `tsctl volume create|ls|inspect|rm|prune`, docker's flags and output.

import { Command } from 'commander';
import type { ApiVolume } from '../../core/model/volume.js';
import { ApiClient } from '../api-client.js';
import { CliContext, UsageError, collect, filtersOf, keyValues, labelsText } from '../context.js';
import { checkTemplate, formatInspect, formatList } from '../output.js';

const LS_COLUMNS = { Driver: 'DRIVER', Name: 'VOLUME NAME' };

export function volumeCommand(ctx: CliContext): Command {
  const cmd = new Command('volume').description('Manage volumes');

  cmd
    .command('create')
    .description('Create a volume')
    .argument('[name]', 'volume name (generated when omitted)')
    .option('-d, --driver <driver>', 'volume driver name', 'local')
    .option('-o, --opt <key=value>', 'driver option (repeatable)', collect, [])
    .option('--label <key=value>', 'set metadata (repeatable)', collect, [])
    .action(async (name: string | undefined, o: { driver: string; opt: string[]; label: string[] }) => {
      const v = await ctx.client.call<ApiVolume>('POST', '/volumes/create', {
        Name: name ?? '', Driver: o.driver, DriverOpts: keyValues(o.opt, '--opt'), Labels: keyValues(o.label, '--label', false),
      });
      ctx.out(`${v.Name}\n`);
    });

  cmd
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-f, --filter <name=value>', 'filter output (repeatable): dangling, driver, label, name', collect, [])
    .option('-q, --quiet', 'only display volume names')
    .option('--format <format>', 'table, json, or a template like {{.Name}}')
    .action(async (o: { filter: string[]; quiet?: boolean; format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const r = await ctx.client.call<{ Volumes: ApiVolume[] | null; Warnings: string[] | null }>('GET', `/volumes${ApiClient.query({ filters: filtersOf(o.filter) })}`);
      for (const w of r.Warnings ?? []) ctx.io.stderr(`WARNING: ${w}\n`);
      const vols = r.Volumes ?? [];
      if (o.quiet) return ctx.out(vols.map((v) => v.Name + '\n').join(''));
      const rows = vols.map((v) => ({ Driver: v.Driver, Labels: labelsText(v.Labels), Mountpoint: v.Mountpoint, Name: v.Name, Scope: v.Scope }));
      ctx.out(formatList(rows, LS_COLUMNS, o.format));
    });

  cmd
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <format>', 'json, or a template like {{.Mountpoint}}')
    .action(async (names: string[], o: { format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const found: ApiVolume[] = [];
      const errors: string[] = [];
      for (const n of names) {
        try { found.push(await ctx.client.call<ApiVolume>('GET', `/volumes/${encodeURIComponent(n)}`)); } catch (e) { errors.push((e as Error).message); }
      }
      if (found.length || !errors.length) ctx.out(formatInspect(found, o.format));
      for (const e of errors) ctx.fail(e);
    });

  cmd
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes')
    .argument('<volume...>')
    .option('-f, --force', 'remove even while mounted; no error when missing')
    .action(async (names: string[], o: { force?: boolean }) => {
      for (const n of names) {
        try {
          await ctx.client.call('DELETE', `/volumes/${encodeURIComponent(n)}${ApiClient.query({ force: o.force })}`);
          ctx.out(`${n}\n`);
        } catch (e) {
          ctx.fail((e as Error).message);
        }
      }
    });

  cmd
    .command('prune')
    .description('Remove unused anonymous volumes (all unused ones with --all)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('--filter <name=value>', 'label=<key>[=<value>], label!=…, until=…', collect, [])
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (o: { all?: boolean; filter: string[]; force?: boolean }) => {
      if (!o.force && ctx.io.confirm && !(await ctx.io.confirm('WARNING! This will remove unused volumes.\nAre you sure you want to continue? [y/N] '))) return;
      const filters = filtersOf(o.filter);
      if (o.all) filters.all = ['true'];
      const r = await ctx.client.call<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', `/volumes/prune${ApiClient.query({ filters })}`);
      const del = r.VolumesDeleted ?? [];
      if (del.length) ctx.out(`Deleted Volumes:\n${del.join('\n')}\n\n`);
      ctx.out(`Total reclaimed space: ${r.SpaceReclaimed}B\n`);
    });

  return cmd;
}
