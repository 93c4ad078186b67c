// cli/commands/sandbox.ts — `tsctl sandbox create|ls|inspect|rm|exec` (tsd-only): named network
// namespaces for labs and tests, optionally with a root filesystem (--rootfs LAYER) and volumes
// (--volume NAME:/path[:ro]). `exec` runs argv inside the sandbox's netns, chrooted into its root
// when it has one, through the injected process seam (nsenter --net=PATH [--root=ROOT --wd=/]
// -- argv; never a shell).

import { Command } from 'commander';
import type { ApiSandbox } from '../../core/model/sandbox.js';
import { ApiClient } from '../api-client.js';
import { CliContext, UsageError, collect, filtersOf, keyValues } from '../context.js';
import { checkTemplate, formatInspect, formatList } from '../output.js';

const LS_COLUMNS = { ID: 'SANDBOX ID', Name: 'NAME', Netns: 'NETNS', Networks: 'NETWORKS' };

export function sandboxCommand(ctx: CliContext): Command {
  const cmd = new Command('sandbox').description('Manage sandboxes (network namespaces that endpoints join)').enablePositionalOptions();

  cmd
    .command('create')
    .description('Create a sandbox: a new netns, or adopt one by --netns path or --pid')
    .argument('<name>')
    .option('--netns <path>', 'adopt an existing network namespace file')
    .option('--pid <pid>', 'adopt the network namespace of a running process')
    .option('--hostname <name>', 'host name written to the sandbox hosts file')
    .option('--dns <ip>', 'nameserver for resolv.conf (repeatable)', collect, [])
    .option('--dns-search <domain>', 'search domain (repeatable)', collect, [])
    .option('--dns-option <option>', 'resolv.conf option (repeatable)', collect, [])
    .option('--label <key=value>', 'set metadata (repeatable)', collect, [])
    .option('--rootfs <layer>', 'give the sandbox a read-write root filesystem on top of this layer')
    .option('-v, --volume <name:/path[:ro]>', 'bind a named volume inside the root filesystem (repeatable, needs --rootfs)', collect, [])
    .action(async (name: string, o: { netns?: string; pid?: string; hostname?: string; dns: string[]; dnsSearch: string[]; dnsOption: string[]; label: string[]; rootfs?: string; volume: string[] }) => {
      let pid: number | undefined;
      if (o.pid !== undefined) {
        pid = Number(o.pid);
        if (!/^\d+$/.test(o.pid) || pid <= 0) throw new UsageError(`invalid --pid ${JSON.stringify(o.pid)}: expected a process id`);
      }
      if (o.rootfs !== undefined && o.rootfs === '') throw new UsageError('invalid --rootfs "": expected a layer id');
      for (const v of o.volume) {
        if (!/^[^:]+:\/[^:]*(:(ro|rw))?$/.test(v)) throw new UsageError(`invalid --volume ${JSON.stringify(v)}: expected NAME:/PATH[:ro|rw]`);
      }
      if (o.volume.length && o.rootfs === undefined) throw new UsageError('--volume needs --rootfs: volumes are mounted inside the sandbox\'s root filesystem');
      const r = await ctx.client.call<{ Id: string }>('POST', '/sandboxes/create', {
        Name: name,
        ...(o.netns ? { NetnsPath: o.netns } : {}),
        ...(pid !== undefined ? { Pid: pid } : {}),
        ...(o.hostname ? { Hostname: o.hostname } : {}),
        Dns: o.dns, DnsSearch: o.dnsSearch, DnsOptions: o.dnsOption,
        Labels: keyValues(o.label, '--label', false),
        ...(o.rootfs !== undefined ? { RootFs: o.rootfs } : {}),
        ...(o.volume.length ? { Volumes: o.volume } : {}),
      });
      ctx.out(`${r.Id}\n`);
    });

  cmd
    .command('ls')
    .alias('list')
    .description('List sandboxes')
    .option('-f, --filter <name=value>', 'filter output (repeatable): id, name, label', collect, [])
    .option('-q, --quiet', 'only display sandbox IDs')
    .option('--no-trunc', 'do not truncate the output')
    .option('--format <format>', 'table, json, or a template like {{.Name}}')
    .action(async (o: { filter: string[]; quiet?: boolean; trunc: boolean; format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const sbs = await ctx.client.call<ApiSandbox[]>('GET', `/sandboxes${ApiClient.query({ filters: filtersOf(o.filter) })}`);
      const id = (s: ApiSandbox) => (o.trunc ? s.Id.slice(0, 12) : s.Id);
      if (o.quiet) return ctx.out(sbs.map((s) => id(s) + '\n').join(''));
      const rows = sbs.map((s) => ({ ID: id(s), Name: s.Name, Netns: s.NetnsPath, Networks: Object.keys(s.Networks).join(','), Origin: s.Origin, CreatedAt: s.Created }));
      ctx.out(formatList(rows, LS_COLUMNS, o.format));
    });

  cmd
    .command('inspect')
    .description('Display detailed information on one or more sandboxes')
    .argument('<sandbox...>')
    .option('-f, --format <format>', 'json, or a template like {{.NetnsPath}}')
    .action(async (refs: string[], o: { format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const found: ApiSandbox[] = [];
      const errors: string[] = [];
      for (const r of refs) {
        try { found.push(await ctx.client.call<ApiSandbox>('GET', `/sandboxes/${encodeURIComponent(r)}`)); } catch (e) { errors.push((e as Error).message); }
      }
      if (found.length || !errors.length) ctx.out(formatInspect(found, o.format));
      for (const e of errors) ctx.fail(e);
    });

  cmd
    .command('rm')
    .alias('remove')
    .description('Remove one or more sandboxes (disconnecting them from every network first)')
    .argument('<sandbox...>')
    .action(async (refs: string[]) => {
      for (const r of refs) {
        try {
          await ctx.client.call('DELETE', `/sandboxes/${encodeURIComponent(r)}`);
          ctx.out(`${r}\n`);
        } catch (e) {
          ctx.fail((e as Error).message);
        }
      }
    });

  cmd
    .command('exec')
    .description('Run a command inside a sandbox\'s network namespace (and its root filesystem, if it has one)')
    .argument('<sandbox>')
    .argument('<command...>', 'command and its arguments (put -- before options meant for the command)')
    .passThroughOptions()
    .action(async (ref: string, argv: string[]) => {
      const sb = await ctx.client.call<ApiSandbox>('GET', `/sandboxes/${encodeURIComponent(ref)}`);
      if (!ctx.io.spawnInNetns) throw new UsageError('exec is not available in this build');
      ctx.exitCode = await ctx.io.spawnInNetns(sb.NetnsPath, argv, sb.RootPath ? { root: sb.RootPath } : { resolvConf: sb.ResolvConfPath, hosts: sb.HostsPath });
    });

  return cmd;
}
