// cli/commands/network.ts — `tsctl network create|ls|inspect|rm|prune|connect|disconnect`, with
// docker's verbs, flags and output.

import { Command } from 'commander';
import type { ApiNetwork } from '../../core/model/network.js';
import { ApiClient } from '../api-client.js';
import { contains } from '../cidr.js';
import { CliContext, UsageError, collect, filtersOf, keyValues, labelsText } from '../context.js';
import { checkTemplate, formatInspect, formatList } from '../output.js';

interface IpamConfig { Subnet: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }

/** Pair --ip-range/--gateway/--aux-address with the subnet containing each (docker CLI rule). */
export function ipamConfigs(subnets: string[], ranges: string[], gateways: string[], aux: Record<string, string>): IpamConfig[] {
  const cfgs: IpamConfig[] = subnets.map((s) => ({ Subnet: s }));
  const owner = (what: string, value: string) => {
    const c = cfgs.find((c) => contains(c.Subnet, value));
    if (!c) throw new UsageError(`no matching subnet for ${what} ${value}`);
    return c;
  };
  for (const r of ranges) {
    const c = owner('range', r);
    if (c.IPRange) throw new UsageError(`cannot configure multiple ranges (${r}, ${c.IPRange}) on the same subnet (${c.Subnet})`);
    c.IPRange = r;
  }
  for (const g of gateways) {
    const c = owner('gateway', g);
    if (c.Gateway) throw new UsageError(`cannot configure multiple gateways (${g}, ${c.Gateway}) for the same subnet (${c.Subnet})`);
    c.Gateway = g;
  }
  for (const [k, v] of Object.entries(aux)) (owner('aux-address', v).AuxiliaryAddresses ??= {})[k] = v;
  return cfgs;
}

const LS_COLUMNS = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE' };

export function networkCommand(ctx: CliContext): Command {
  const cmd = new Command('network').description('Manage networks');

  cmd
    .command('create')
    .description('Create a network')
    .argument('<name>', 'network name')
    .option('-d, --driver <driver>', 'driver to manage the network', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format (repeatable)', collect, [])
    .option('--ip-range <cidr>', 'allocate container IPs from a sub-range (repeatable)', collect, [])
    .option('--gateway <ip>', 'gateway for the subnet (repeatable)', collect, [])
    .option('--aux-address <name=ip>', 'auxiliary address reserved in the subnet (repeatable)', collect, [])
    .option('--ipam-driver <driver>', 'IP address management driver', 'default')
    .option('--ipam-opt <key=value>', 'IPAM driver option (repeatable)', collect, [])
    .option('--ipv6', 'enable IPv6 networking')
    .option('--internal', 'restrict external access to the network')
    .option('--attachable', 'enable manual attachment')
    .option('-o, --opt <key=value>', 'driver option (repeatable)', collect, [])
    .option('--label <key=value>', 'set metadata (repeatable)', collect, [])
    .option('--config-only', 'create a configuration-only network')
    .option('--config-from <network>', 'the network to copy the configuration from')
    .action(async (name: string, o: {
      driver: string; subnet: string[]; ipRange: string[]; gateway: string[]; auxAddress: string[]; ipamDriver: string; ipamOpt: string[];
      ipv6?: boolean; internal?: boolean; attachable?: boolean; opt: string[]; label: string[]; configOnly?: boolean; configFrom?: string;
    }) => {
      const cfg = ipamConfigs(o.subnet, o.ipRange, o.gateway, keyValues(o.auxAddress, '--aux-address'));
      const body = {
        Name: name,
        Driver: o.driver,
        EnableIPv6: o.ipv6 ?? false,
        IPAM: { Driver: o.ipamDriver, Config: cfg, Options: keyValues(o.ipamOpt, '--ipam-opt') },
        Internal: o.internal ?? false,
        Attachable: o.attachable ?? false,
        ConfigOnly: o.configOnly ?? false,
        ...(o.configFrom ? { ConfigFrom: { Network: o.configFrom } } : {}),
        Options: keyValues(o.opt, '--opt'),
        Labels: keyValues(o.label, '--label', false),
      };
      const r = await ctx.client.call<{ Id: string; Warning: string }>('POST', '/networks/create', body);
      if (r.Warning) ctx.io.stderr(`WARNING: ${r.Warning}\n`);
      ctx.out(`${r.Id}\n`);
    });

  cmd
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-f, --filter <name=value>', 'filter output (repeatable): driver, id, label, name, scope, type, dangling', collect, [])
    .option('-q, --quiet', 'only display network IDs')
    .option('--no-trunc', 'do not truncate the output')
    .option('--format <format>', 'table, json, or a template like {{.Name}}')
    .action(async (o: { filter: string[]; quiet?: boolean; trunc: boolean; format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const nets = await ctx.client.call<ApiNetwork[]>('GET', `/networks${ApiClient.query({ filters: filtersOf(o.filter) })}`);
      const id = (n: ApiNetwork) => (o.trunc ? n.Id.slice(0, 12) : n.Id);
      if (o.quiet) return ctx.out(nets.map((n) => id(n) + '\n').join(''));
      const rows = nets.map((n) => ({
        CreatedAt: n.Created, Driver: n.Driver, ID: id(n), IPv6: n.EnableIPv6, Internal: n.Internal, Labels: labelsText(n.Labels), Name: n.Name, Scope: n.Scope,
      }));
      ctx.out(formatList(rows, LS_COLUMNS, o.format));
    });

  cmd
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>', 'network names or ids')
    .option('-f, --format <format>', 'json, or a template like {{.IPAM.Driver}}')
    .action(async (refs: string[], o: { format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const found: ApiNetwork[] = [];
      const errors: string[] = [];
      for (const r of refs) {
        try { found.push(await ctx.client.call<ApiNetwork>('GET', `/networks/${encodeURIComponent(r)}`)); } catch (e) { errors.push((e as Error).message); }
      }
      if (found.length || !errors.length) ctx.out(formatInspect(found, o.format));
      for (const e of errors) ctx.fail(e);
    });

  cmd
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>', 'network names or ids')
    .option('-f, --force', 'disconnect every sandbox first (tsd); do not fail when a network does not exist')
    .action(async (refs: string[], o: { force?: boolean }) => {
      for (const r of refs) {
        try {
          await ctx.client.call('DELETE', `/networks/${encodeURIComponent(r)}${ApiClient.query({ force: o.force })}`);
          ctx.out(`${r}\n`);
        } catch (e) {
          if (o.force && (e as { status?: number }).status === 404) continue;
          ctx.fail((e as Error).message);
        }
      }
    });

  cmd
    .command('prune')
    .description('Remove all unused networks')
    .option('--filter <name=value>', 'until=<timestamp>, label=<key>[=<value>], label!=…', collect, [])
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (o: { filter: string[]; force?: boolean }) => {
      if (!o.force && ctx.io.confirm && !(await ctx.io.confirm('WARNING! This will remove all custom networks not used by at least one sandbox.\nAre you sure you want to continue? [y/N] '))) return;
      const r = await ctx.client.call<{ NetworksDeleted: string[] | null }>('POST', `/networks/prune${ApiClient.query({ filters: filtersOf(o.filter) })}`);
      const del = r.NetworksDeleted ?? [];
      if (del.length) ctx.out(`Deleted Networks:\n${del.join('\n')}\n`);
    });

  cmd
    .command('connect')
    .description('Connect a sandbox to a network')
    .argument('<network>')
    .argument('<sandbox>')
    .option('--ip <address>', 'IPv4 address (e.g. 172.30.100.104)')
    .option('--ip6 <address>', 'IPv6 address (e.g. 2001:db8::33)')
    .option('--alias <name>', 'network-scoped alias (repeatable)', collect, [])
    .option('--driver-opt <key=value>', 'driver option for the endpoint (repeatable)', collect, [])
    .option('--mac-address <mac>', 'MAC address of the interface')
    .option('-p, --publish <[ip:]hostPort:port[/proto]>', 'publish a port of the sandbox on the host (repeatable, tsd)', collect, [])
    .action(async (network: string, sandbox: string, o: { ip?: string; ip6?: string; alias: string[]; driverOpt: string[]; macAddress?: string; publish: string[] }) => {
      await ctx.client.call('POST', `/networks/${encodeURIComponent(network)}/connect`, {
        Container: sandbox,
        EndpointConfig: {
          IPAMConfig: { ...(o.ip ? { IPv4Address: o.ip } : {}), ...(o.ip6 ? { IPv6Address: o.ip6 } : {}) },
          Aliases: o.alias,
          DriverOpts: keyValues(o.driverOpt, '--driver-opt'),
          ...(o.macAddress ? { MacAddress: o.macAddress } : {}),
        },
        ...(o.publish.length ? { PortBindings: publishFlags(o.publish) } : {}),
      });
    });

  cmd
    .command('disconnect')
    .description('Disconnect a sandbox from a network')
    .argument('<network>')
    .argument('<sandbox>')
    .option('-f, --force', 'remove the endpoint even if some teardown step fails')
    .action(async (network: string, sandbox: string, o: { force?: boolean }) => {
      await ctx.client.call('POST', `/networks/${encodeURIComponent(network)}/disconnect`, { Container: sandbox, Force: o.force ?? false });
    });

  return cmd;
}


/** `-p [ip:]hostPort[-end]:port[/proto]` (repeatable) → Docker's PortBindings map. */
export function publishFlags(list: string[]): Record<string, Array<{ HostIp: string; HostPort: string }>> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of list) {
    const m = /^(?:(\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(\d{1,5}(?:-\d{1,5})?)?:(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(p);
    if (!m) throw new UsageError(`invalid --publish ${JSON.stringify(p)}: expected [ip:]hostPort:port[/tcp|udp|sctp]`);
    const key = `${m[3]}/${m[4] ?? 'tcp'}`;
    (out[key] ??= []).push({ HostIp: (m[1] ?? '').replace(/^\[|\]$/g, ''), HostPort: m[2] ?? '' });
  }
  return out;
}
