// core/service/networks.ts — NetworkService: create, inspect, list, remove and prune networks,
// and connect/disconnect sandboxes (endpoints). It resolves drivers through the DriverRegistry,
// asks IPAM for pools and addresses, calls the network driver, hands the join result to
// SandboxNetworking, registers DNS names, and persists — each step pushing its undo, so a
// failure anywhere leaves the store and the kernel as they were.
//
// Teardown (disconnect, rm) runs every step even when one fails, and reports them all. Without
// `force` a failed teardown keeps the record (steps are idempotent, a retry finishes the job);
// with `force` the record goes regardless (peers.md #29: "disconnect -f does not help").

import { ConflictError, ForbiddenError, InvalidArgumentError, MultiError, NotFoundError, messageOf, withContext } from '../errors.js';
import type { DriverRegistry } from '../driver/registry.js';
import { GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE, hasLeaseLister, type IpamDriver } from '../driver/ipam-driver.js';
import { hasEndpointLister, hasExternalConnectivity, hasGatewayAllocationChecker, type EndpointOptions, type ExposedPort, type IpamData, type NetworkDriver, type PortBinding } from '../driver/network-driver.js';
import type { Logger } from '../log.js';
import { ipOf, isIp, isV6, parseCidr, withPrefixOf } from '../model/addr.js';
import type { EndpointRecord } from '../model/endpoint.js';
import type { ConnectIntent, DisconnectIntent, Intent, NetworkCreateIntent, NetworkRemoveIntent } from '../model/intent.js';
import { checkFilterKeys, matchLabels, matchNotLabels, parseUntil, type Filters } from '../model/filters.js';
import { nameProblem, newId } from '../model/ids.js';
import type { ApiNetwork, NetworkRecord, StoredIpamPool } from '../model/network.js';
import type { SandboxRecord } from '../model/sandbox.js';
import { UndoStack } from '../undo.js';
import { aliasKey } from '../dns/records.js';
import type { DnsRegistry, SandboxNetworking } from './hooks.js';
import { HOST_DNS_OPTION, checkHostDns, hostDnsAddresses, hostDnsOn, hostDnsOption } from './host-dns-option.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Records } from './records.js';
import type { SandboxFiles } from './sandbox-files.js';

export interface IpamConfigInput {
  subnet?: string;
  ipRange?: string;
  gateway?: string;
  auxAddresses?: Record<string, string>;
}

export interface CreateNetworkInput {
  name: string;
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  ingress?: boolean;
  enableIpv6?: boolean;
  configOnly?: boolean;
  configFrom?: string;
  ipam?: { driver?: string; options?: Record<string, string>; config?: IpamConfigInput[] };
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

export interface ConnectInput {
  network: string;
  sandbox: string;
  ipv4?: string;
  ipv6?: string;
  aliases?: string[];
  macAddress?: string;
  driverOpts?: Record<string, string>;
  /** Ports to publish (Docker's com.docker.network.portmap), handed to ProgramExternalConnectivity. */
  portBindings?: PortBinding[];
  exposedPorts?: ExposedPort[];
}

export interface NetworkServiceDeps {
  records: Records;
  registry: DriverRegistry;
  sandboxNetworking: SandboxNetworking;
  dns: DnsRegistry;
  files: SandboxFiles;
  log: Logger;
  /** Used when a network is created without --driver. */
  defaultDriver?: string;
  /**
   * Remove those of these sandboxes whose netns is gone (the adopted process exited), with their
   * endpoints; returns how many. Lets `network rm` clear stale endpoints without a restart.
   */
  reapVanishedSandboxes?: (sandboxIds: readonly string[]) => Promise<number>;
}

export const DEFAULT_IPAM_DRIVER = 'default';
export const NETWORK_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;
export const NETWORK_PRUNE_FILTERS = ['until', 'label', 'label!'] as const;

function now(): string {
  return new Date().toISOString();
}

/** One spelling per address (IPv6 has many), so IPAM's list and the records compare. */
function canonicalIp(ip: string): string {
  return isV6(ip) ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/** What an IPAM holds of a pool, against tsd's records (see heldPools). */
interface HeldPool {
  subnet: string;
  /** More references than tsd's other networks account for: one is this operation's. */
  ours: boolean;
  /** No other tsd network claims the pool. */
  exclusive: boolean;
}

/** Order of the startup pass: endpoints before the networks they sit on. */
const INTENT_ORDER: Record<Intent['kind'], number> = { connect: 0, disconnect: 1, 'network-rm': 2, 'network-create': 3, 'sandbox-rm': 4, 'layer-import': 5, 'layer-rm': 6 };

export class NetworkService {
  private readonly lock = new KeyedMutex();
  /** Sandboxes being removed: a connect that gets their lock afterwards is refused. */
  private readonly removingSandboxes = new Set<string>();
  readonly defaultDriver: string;

  constructor(private readonly d: NetworkServiceDeps) {
    this.defaultDriver = d.defaultDriver ?? 'bridge';
  }

  // ---------------------------------------------------------------- create

  async create(input: CreateNetworkInput): Promise<{ record: NetworkRecord; warning: string }> {
    const bad = nameProblem(input.name);
    if (bad) throw new InvalidArgumentError(`network name ${JSON.stringify(input.name)}: ${bad}`);
    // Serialise creates by name so two racing creates of one name cannot both plumb a driver.
    return this.lock.run(`name:${input.name}`, () => this.createLocked(input));
  }

  private async createLocked(input: CreateNetworkInput): Promise<{ record: NetworkRecord; warning: string }> {
    if (await this.d.records.networkNameTaken(input.name)) throw new ConflictError(`network with name ${input.name} already exists`);
    let ipam = input.ipam ?? {};
    let options = input.options ?? {};
    let configFrom = '';
    if (input.configFrom) {
      if (input.configOnly) throw new InvalidArgumentError('config-only network cannot be created from another config-only network (ConfigFrom)');
      const src = await this.d.records.findNetwork(input.configFrom);
      if (!src.configOnly) throw new InvalidArgumentError(`ConfigFrom: network ${src.name} is not a config-only network`);
      if (input.ipam?.config?.length || Object.keys(input.options ?? {}).length) {
        throw new InvalidArgumentError('ConfigFrom: a network created from a config-only network cannot set its own IPAM config or options');
      }
      ipam = { driver: src.ipamDriver, options: src.ipamOptions, config: src.pools.map((p) => ({ subnet: p.subnet, ipRange: p.ipRange, gateway: p.gateway, auxAddresses: p.auxAddresses })) };
      options = src.options;
      configFrom = src.name;
    }
    const configs = ipam.config ?? [];
    configs.forEach((c, i) => this.checkIpamConfig(c, i));
    const hostDns = hostDnsOption(options);
    const enableIpv6 = input.enableIpv6 ?? configs.some((c) => c.subnet && isV6(c.subnet));
    if (!enableIpv6 && configs.some((c) => c.subnet && isV6(c.subnet))) {
      throw new InvalidArgumentError('IPAM.Config: an IPv6 subnet was given but EnableIPv6 is false');
    }

    const record: NetworkRecord = {
      id: newId(),
      name: input.name,
      driver: input.configOnly ? 'null' : (input.driver || this.defaultDriver),
      ipamDriver: ipam.driver || DEFAULT_IPAM_DRIVER,
      ipamOptions: ipam.options ?? {},
      scope: 'local',
      created: now(),
      enableIpv6,
      internal: input.internal ?? false,
      attachable: input.attachable ?? false,
      ingress: input.ingress ?? false,
      configOnly: input.configOnly ?? false,
      configFrom,
      options,
      labels: input.labels ?? {},
      pools: [],
    };

    if (record.configOnly) {
      // A config-only network is a stored template: no driver, no IPAM allocation (as Docker).
      record.pools = configs.map((c) => ({
        poolId: '', addressSpace: '', subnet: c.subnet ?? '', ipRange: c.ipRange ?? '', gateway: c.gateway ?? '',
        gatewayReserved: false, auxAddresses: c.auxAddresses ?? {}, v6: !!c.subnet && isV6(c.subnet),
      }));
      await this.d.records.createNetwork(record);
      this.d.log.info('network created', { network: record.name, id: record.id, configOnly: true });
      return { record, warning: '' };
    }

    const driver = await this.d.registry.get('NetworkDriver', record.driver);
    const ipamDriver = await this.d.registry.get('IpamDriver', record.ipamDriver);
    const caps = await driver.getCapabilities();
    record.scope = caps.scope;
    if (hostDns) checkHostDns(record, caps, !!this.d.dns.addHostDns);

    // Stored before the first IPAM or driver step, retired by the commit that writes the record:
    // after a crash the startup reconcile rolls back whatever it names (peers.md #34).
    const intent: NetworkCreateIntent = {
      kind: 'network-create', id: record.id, name: record.name, driver: record.driver, ipamDriver: record.ipamDriver,
      subnets: configs.map((c) => c.subnet ?? ''), pools: [], created: record.created,
    };
    await UndoStack.run(async (undo) => {
      await this.d.records.putIntent(intent);
      const spaces = await ipamDriver.getDefaultAddressSpaces();
      const space = caps.scope === 'global' ? spaces.global : spaces.local;
      let skip = { skipIpv4: false, skipIpv6: false };
      if (hasGatewayAllocationChecker(driver)) {
        skip = await driver.gwAllocCheck({ generic: options, enableIpv4: true, enableIpv6, internal: record.internal });
      }
      const v4 = configs.filter((c) => !c.subnet || !isV6(c.subnet));
      const v6 = configs.filter((c) => c.subnet && isV6(c.subnet));
      // Docker always gives a network an IPv4 pool; IPv6 only when enabled.
      const wanted: Array<{ c: IpamConfigInput; v6: boolean }> = [
        ...(v4.length ? v4 : [{}]).map((c) => ({ c, v6: false })),
        ...(enableIpv6 ? (v6.length ? v6 : [{}]) : []).map((c) => ({ c, v6: true })),
      ];
      for (const w of wanted) {
        record.pools.push(await this.allocatePool(ipamDriver, space, record, w.c, w.v6, w.v6 ? skip.skipIpv6 : skip.skipIpv4, undo));
      }
      await this.d.records.putIntent({ ...intent, pools: record.pools });
      const toData = (p: StoredIpamPool): IpamData => ({
        addressSpace: p.addressSpace,
        pool: p.subnet,
        ...(p.gateway ? { gateway: withPrefixOf(p.gateway, p.subnet) } : {}),
        ...(Object.keys(p.auxAddresses).length
          ? { auxAddresses: Object.fromEntries(Object.entries(p.auxAddresses).map(([k, v]) => [k, withPrefixOf(v, p.subnet)])) }
          : {}),
      });
      await driver.createNetwork({
        networkId: record.id,
        options: {
          generic: options,
          enableIpv4: true,
          enableIpv6,
          internal: record.internal,
          extra: { name: record.name, labels: record.labels, attachable: record.attachable, ingress: record.ingress },
        },
        ipv4Data: record.pools.filter((p) => !p.v6).map(toData),
        ipv6Data: record.pools.filter((p) => p.v6).map(toData),
      });
      undo.push(`delete network ${record.name} in driver ${driver.name}`, () => driver.deleteNetwork(record.id));
      if (hostDns) {
        // Refused and rolled back when the listener cannot bind (a port in use): a network that
        // says host_dns=true always has it, and nothing is left half-made.
        const addresses = hostDnsAddresses(record.pools);
        if (!addresses.length) throw new InvalidArgumentError(`option ${HOST_DNS_OPTION}: network ${record.name} has no gateway address to listen on`);
        undo.push('remove host DNS listener', () => this.d.dns.removeHostDns!(record.id));
        await this.d.dns.addHostDns!({ networkId: record.id, name: record.name, addresses });
      }
      await this.d.records.createNetwork(record, intent);
    }).catch(async (e: unknown) => {
      await this.dropIntentAfterRollback(intent, e);
      throw this.contextual(`create network ${record.name}`, e);
    });
    this.d.log.info('network created', { network: record.name, id: record.id, driver: record.driver });
    return { record, warning: '' };
  }

  private checkIpamConfig(c: IpamConfigInput, i: number): void {
    const at = `IPAM.Config[${i}]`;
    const sub = c.subnet ? parseCidr(c.subnet) : undefined;
    if (c.subnet && !sub) throw new InvalidArgumentError(`${at}.Subnet: ${JSON.stringify(c.subnet)} is not a valid CIDR`);
    if (c.ipRange) {
      const r = parseCidr(c.ipRange);
      if (!r) throw new InvalidArgumentError(`${at}.IPRange: ${JSON.stringify(c.ipRange)} is not a valid CIDR`);
      if (!sub) throw new InvalidArgumentError(`${at}.IPRange: needs a Subnet`);
      if (r.v6 !== sub.v6) throw new InvalidArgumentError(`${at}.IPRange: ${c.ipRange} is not of the subnet's family`);
    }
    if (c.gateway) {
      if (!isIp(c.gateway)) throw new InvalidArgumentError(`${at}.Gateway: ${JSON.stringify(c.gateway)} is not a valid IP address`);
      if (!sub) throw new InvalidArgumentError(`${at}.Gateway: needs a Subnet`);
    }
    for (const [k, v] of Object.entries(c.auxAddresses ?? {})) {
      if (!isIp(v)) throw new InvalidArgumentError(`${at}.AuxiliaryAddresses.${k}: ${JSON.stringify(v)} is not a valid IP address`);
      if (!sub) throw new InvalidArgumentError(`${at}.AuxiliaryAddresses: needs a Subnet`);
    }
  }

  private async allocatePool(
    ipam: IpamDriver, space: string, net: NetworkRecord, c: IpamConfigInput, v6: boolean, skipGateway: boolean, undo: UndoStack,
  ): Promise<StoredIpamPool> {
    const pool = await ipam.requestPool({ addressSpace: space, pool: c.subnet ?? '', subPool: c.ipRange ?? '', options: net.ipamOptions, v6 });
    undo.push(`release pool ${pool.pool}`, () => ipam.releasePool(pool.poolId));
    const stored: StoredIpamPool = {
      poolId: pool.poolId, addressSpace: space, subnet: pool.pool, ipRange: c.ipRange ?? '', gateway: '',
      gatewayReserved: false, auxAddresses: {}, v6,
    };
    const fromPool = pool.data[GATEWAY_ADDRESS_TYPE];
    // A driver that skips gateway allocation (macvlan: the gateway is an external router) still
    // gets the gateway the user configured, reserved so no endpoint takes it (as Docker).
    if (!skipGateway || c.gateway) {
      if (!c.gateway && fromPool) {
        stored.gateway = ipOf(fromPool); // IPAM chose and reserved it already (Docker's semantics)
      } else {
        const gw = await ipam.requestAddress({ poolId: pool.poolId, address: c.gateway ?? '', options: { [REQUEST_ADDRESS_TYPE]: GATEWAY_ADDRESS_TYPE } });
        if (gw.address) {
          stored.gateway = ipOf(gw.address);
          stored.gatewayReserved = true;
          undo.push(`release gateway ${stored.gateway}`, () => ipam.releaseAddress(pool.poolId, stored.gateway));
        }
      }
    }
    for (const [k, v] of Object.entries(c.auxAddresses ?? {})) {
      const a = await ipam.requestAddress({ poolId: pool.poolId, address: v, options: {} });
      const ip = ipOf(a.address || v);
      stored.auxAddresses[k] = ip;
      undo.push(`release aux address ${k}=${ip}`, () => ipam.releaseAddress(pool.poolId, ip));
    }
    return stored;
  }

  // ---------------------------------------------------------------- read

  inspectRecord(ref: string): Promise<NetworkRecord> {
    return this.d.records.findNetwork(ref);
  }

  async inspect(ref: string): Promise<ApiNetwork> {
    const n = await this.d.records.findNetwork(ref);
    return this.toApi(n, await this.d.records.networkEndpoints(n.id));
  }

  async toApi(n: NetworkRecord, endpoints: readonly EndpointRecord[]): Promise<ApiNetwork> {
    const containers: ApiNetwork['Containers'] = {};
    for (const ep of endpoints) {
      containers[ep.sandboxId] = { Name: ep.name, EndpointID: ep.id, MacAddress: ep.macAddress, IPv4Address: ep.ipv4, IPv6Address: ep.ipv6 };
    }
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: n.scope,
      Driver: n.driver,
      EnableIPv6: n.enableIpv6,
      IPAM: {
        Driver: n.ipamDriver,
        Options: Object.keys(n.ipamOptions).length ? n.ipamOptions : null,
        Config: n.pools.map((p) => ({
          ...(p.subnet ? { Subnet: p.subnet } : {}),
          ...(p.ipRange ? { IPRange: p.ipRange } : {}),
          ...(p.gateway ? { Gateway: p.gateway } : {}),
          ...(Object.keys(p.auxAddresses).length ? { AuxiliaryAddresses: p.auxAddresses } : {}),
        })),
      },
      Internal: n.internal,
      Attachable: n.attachable,
      Ingress: n.ingress,
      ConfigFrom: { Network: n.configFrom },
      ConfigOnly: n.configOnly,
      Containers: containers,
      Options: n.options,
      Labels: n.labels,
      // tsd's own field: where the host can ask for this network's names (com.tsd.network.host_dns).
      ...(!n.configOnly && hostDnsOn(n.options) ? { HostDNS: this.d.dns.hostDnsAddresses?.(n.id) ?? [] } : {}),
    };
  }

  async list(filters: Filters = new Map()): Promise<ApiNetwork[]> {
    const bad = checkFilterKeys(filters, NETWORK_FILTERS);
    if (bad) throw new InvalidArgumentError(bad);
    const type = filters.get('type');
    if (type?.some((t) => t !== 'custom' && t !== 'builtin')) throw new InvalidArgumentError(`invalid filter: 'type'='${type.join(',')}' (must be custom or builtin)`);
    const dangling = filters.get('dangling');
    if (dangling?.some((v) => !['true', 'false', '1', '0'].includes(v))) throw new InvalidArgumentError(`invalid filter 'dangling=${dangling.join(',')}'`);
    const out: ApiNetwork[] = [];
    const any = (k: string, pred: (v: string) => boolean) => {
      const vs = filters.get(k);
      return !vs || vs.length === 0 || vs.some(pred);
    };
    for (const n of await this.d.records.listNetworks()) {
      if (!any('name', (v) => n.name.includes(v))) continue; // Docker: substring match
      if (!any('id', (v) => n.id.startsWith(v))) continue;
      if (!any('driver', (v) => n.driver === v)) continue;
      if (!any('scope', (v) => n.scope === v)) continue;
      if (!any('type', (v) => v === 'custom')) continue; // tsd has no predefined networks
      if (!matchLabels(n.labels, filters.get('label'))) continue;
      const eps = await this.d.records.networkEndpoints(n.id);
      if (!any('dangling', (v) => (v === 'true' || v === '1') === (eps.length === 0))) continue;
      out.push(await this.toApi(n, eps));
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  // ---------------------------------------------------------------- remove

  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const n = await this.d.records.findNetwork(ref);
    if (!opts.force && this.d.reapVanishedSandboxes) {
      // An endpoint of a sandbox whose process is gone is not "active" (moby/moby#17217): remove
      // it before refusing. Outside the network lock: sandbox removal takes it per endpoint.
      const stale = await this.d.records.networkEndpoints(n.id);
      if (stale.length) await this.d.reapVanishedSandboxes([...new Set(stale.map((e) => e.sandboxId))]);
    }
    // Forced with endpoints: the sandboxes' locks are held too, as disconnect holds them, so the
    // default route each one loses is handed on (handOverGateway) with no connect or disconnect
    // of the same sandbox in between. The set is read before locking; a connect that slipped in
    // meanwhile adds a sandbox, so the locks are taken again with it.
    let sandboxIds = opts.force ? await this.endpointSandboxes(n.id) : [];
    for (;;) {
      const done = await this.lock.runAll([n.id, ...sandboxIds.map((id) => `sandbox:${id}`)], async () => {
        const eps = await this.d.records.networkEndpoints(n.id);
        if (eps.length && !opts.force) {
          throw new ForbiddenError(`error while removing network: network ${n.name} id ${n.id} has active endpoints (${eps.map((e) => e.name).join(', ')})`);
        }
        const held = new Set(sandboxIds);
        if (eps.some((e) => !held.has(e.sandboxId))) {
          sandboxIds = [...new Set([...sandboxIds, ...eps.map((e) => e.sandboxId)])];
          return false;
        }
        // Forced with endpoints: the intent covers the endpoint loop too (finished after a crash).
        if (eps.length && !n.configOnly) await this.d.records.putIntent({ kind: 'network-rm', id: n.id, created: now() });
        await this.teardownEndpointsOfNetwork(n, eps);
        await this.teardownNetwork(n, !!opts.force);
        return true;
      });
      if (done) return;
    }
  }

  private async endpointSandboxes(networkId: string): Promise<string[]> {
    return [...new Set((await this.d.records.networkEndpoints(networkId)).map((e) => e.sandboxId))];
  }

  /**
   * Forced removal of every endpoint of a network (network rm -f, or its crash recovery): each is
   * torn down, then its sandbox's default route moves to the next network with a gateway, as on
   * disconnect, and its hosts file is rewritten. A sandbox whose record is gone gets neither.
   */
  private async teardownEndpointsOfNetwork(n: NetworkRecord, eps: readonly EndpointRecord[]): Promise<void> {
    const sandboxes = new Map<string, SandboxRecord | undefined>();
    for (const ep of eps) {
      if (!sandboxes.has(ep.sandboxId)) sandboxes.set(ep.sandboxId, await this.d.records.findSandbox(ep.sandboxId).catch(() => undefined));
      await this.teardownEndpoint(n, ep, true, sandboxes.get(ep.sandboxId) ?? ({ netnsPath: '' } as SandboxRecord));
    }
    for (const ep of eps) {
      const sb = sandboxes.get(ep.sandboxId);
      if (!sb) continue;
      const rest = await this.d.records.sandboxEndpoints(sb.id);
      await this.handOverGateway(sb, ep, rest);
      this.d.files.updateHosts(sb, rest);
    }
  }

  /**
   * `recovering`: finishing an rm a crash interrupted — a pool or address is given back only if
   * the IPAM still holds it for this network (a second release could take another's reference).
   */
  private async teardownNetwork(n: NetworkRecord, force: boolean, recovering = false): Promise<void> {
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try { await fn(); } catch (e) { errors.push(new Error(`${what}: ${messageOf(e)}`, { cause: e })); }
    };
    const intent: NetworkRemoveIntent = { kind: 'network-rm', id: n.id, created: now() };
    if (!n.configOnly) await this.d.records.putIntent(intent);
    if (!n.configOnly) {
      let driver: NetworkDriver | undefined;
      let ipam: IpamDriver | undefined;
      await step(`driver ${n.driver}`, async () => { driver = await this.d.registry.get('NetworkDriver', n.driver); });
      await step(`ipam driver ${n.ipamDriver}`, async () => { ipam = await this.d.registry.get('IpamDriver', n.ipamDriver); });
      if (driver) await step('delete network in driver', () => driver!.deleteNetwork(n.id));
      if (ipam) {
        const held = recovering ? await this.heldPools(ipam, n.id) : undefined;
        for (const p of n.pools) {
          const h = held?.get(p.poolId);
          if (held && !h?.ours) continue; // released before the crash
          const addrs = h?.exclusive && hasLeaseLister(ipam) ? new Set((await ipam.listAddresses(p.poolId)).map(canonicalIp)) : undefined;
          const has = (ip: string) => !held || (!!addrs && addrs.has(canonicalIp(ip)));
          if (p.gatewayReserved && has(p.gateway)) await step(`release gateway ${p.gateway}`, () => ipam!.releaseAddress(p.poolId, p.gateway));
          for (const [k, ip] of Object.entries(p.auxAddresses)) if (has(ip)) await step(`release aux address ${k}`, () => ipam!.releaseAddress(p.poolId, ip));
          await step(`release pool ${p.subnet}`, () => ipam!.releasePool(p.poolId));
        }
      }
    }
    if (errors.length && !force) throw new MultiError(`remove network ${n.name}`, errors);
    if (errors.length) this.d.log.warn('network removed with errors (forced)', { network: n.name, err: new MultiError('teardown', errors) });
    await this.d.records.deleteNetwork(n, n.configOnly ? undefined : intent);
    await this.d.dns.removeNetwork?.(n.id);
    this.d.log.info('network removed', { network: n.name, id: n.id });
  }

  async prune(filters: Filters = new Map()): Promise<string[]> {
    const bad = checkFilterKeys(filters, NETWORK_PRUNE_FILTERS);
    if (bad) throw new InvalidArgumentError(bad);
    let until = Infinity;
    for (const u of filters.get('until') ?? []) {
      try { until = Math.min(until, parseUntil(u)); } catch (e) { throw new InvalidArgumentError(messageOf(e)); }
    }
    const deleted: string[] = [];
    for (const n of await this.d.records.listNetworks()) {
      if (Date.parse(n.created) >= until) continue;
      if (!matchLabels(n.labels, filters.get('label')) || !matchNotLabels(n.labels, filters.get('label!'))) continue;
      try {
        await this.lock.run(n.id, async () => {
          if ((await this.d.records.networkEndpoints(n.id)).length) return;
          await this.teardownNetwork(n, false);
          deleted.push(n.name);
        });
      } catch (e) {
        this.d.log.warn('prune: network not removed', { network: n.name, err: e });
      }
    }
    return deleted;
  }

  // ---------------------------------------------------------------- connect / disconnect

  async connect(input: ConnectInput): Promise<EndpointRecord> {
    const n = await this.d.records.findNetwork(input.network);
    const sb = await this.d.records.findSandbox(input.sandbox);
    if (n.configOnly) throw new ForbiddenError(`network ${n.name}: a config-only network cannot be connected to`);
    if (input.ipv4 && (!isIp(input.ipv4) || isV6(input.ipv4))) throw new InvalidArgumentError(`IPv4Address: ${JSON.stringify(input.ipv4)} is not a valid IPv4 address`);
    if (input.ipv6 && (!isIp(input.ipv6) || !isV6(input.ipv6))) throw new InvalidArgumentError(`IPv6Address: ${JSON.stringify(input.ipv6)} is not a valid IPv6 address`);
    if (input.ipv6 && !n.enableIpv6) throw new InvalidArgumentError(`IPv6Address: network ${n.name} does not have IPv6 enabled`);
    if (input.macAddress && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(input.macAddress)) {
      throw new InvalidArgumentError(`MacAddress: ${JSON.stringify(input.macAddress)} is not a valid MAC address`);
    }
    // The resolver's own rules (dots, a leftmost "*" wildcard label): refused here, before any step.
    (input.aliases ?? []).forEach((a, i) => aliasKey(a, `Aliases[${i}]`));
    return this.lock.runAll([n.id, `sandbox:${sb.id}`], () => this.connectLocked(n, sb, input));
  }

  private async connectLocked(n: NetworkRecord, sb: SandboxRecord, input: ConnectInput): Promise<EndpointRecord> {
    if (this.removingSandboxes.has(sb.id)) throw new ConflictError(`sandbox ${sb.name} is being removed`);
    // Removed (and unfenced) while this connect waited for a lock: NotFound, not an endpoint
    // for a sandbox that no longer exists. One store read by full id.
    await this.d.records.findSandbox(sb.id);
    const existing = await this.d.records.sandboxEndpoints(sb.id);
    if (existing.some((e) => e.networkId === n.id)) {
      throw new ForbiddenError(`endpoint with name ${sb.name} already exists in network ${n.name}`);
    }
    const driver = await this.d.registry.get('NetworkDriver', n.driver);
    const ipam = await this.d.registry.get('IpamDriver', n.ipamDriver);
    const ep: EndpointRecord = {
      id: newId(), name: sb.name, networkId: n.id, sandboxId: sb.id, ipv4: '', ipv4PoolId: '', ipv6: '', ipv6PoolId: '',
      macAddress: input.macAddress ?? '', ifname: '', aliases: input.aliases ?? [], gateway: '', gatewayIpv6: '',
      driverOpts: input.driverOpts ?? {}, created: now(),
      ...(this.d.records.owner ? { owner: this.d.records.owner } : {}),
    };
    const options: EndpointOptions = {
      generic: ep.driverOpts,
      ...(input.portBindings?.length ? { portBindings: input.portBindings } : {}),
      ...(input.exposedPorts?.length ? { exposedPorts: input.exposedPorts } : {}),
    };
    // The name the driver is offered for the interface inside the sandbox.
    const sandboxIfname = this.nextIfname('eth', existing);
    const intent: ConnectIntent = { kind: 'connect', id: ep.id, networkId: n.id, sandboxId: sb.id, ifname: sandboxIfname, created: ep.created };
    await UndoStack.run(async (undo) => {
      const v4 = n.pools.filter((p) => !p.v6);
      const v6 = n.pools.filter((p) => p.v6);
      // The intent is written alongside the address (the embedded store puts the writes of one
      // event turn in one transaction: one sync for both, bench/crash-intents.ts) and is durable
      // before the first driver step; putEndpoint retires it in the commit it makes anyway. An
      // address taken just before a crash is given back by the startup lease sweep, so the
      // intent need not name it.
      //
      // A shared store (etcd, other daemons): the intent goes first, so another daemon's lease
      // sweep that sees the address also sees the intent (sweepUnclaimed reads intents after
      // leases). One more round trip.
      if (this.d.records.shared) await this.d.records.putIntent(intent);
      const [written, reserved] = await Promise.allSettled([
        this.d.records.shared ? Promise.resolve() : this.d.records.putIntent(intent),
        (async () => {
          ep.ipv4 = await this.reserveAddress(ipam, v4, input.ipv4, (poolId) => (ep.ipv4PoolId = poolId), undo);
          if (n.enableIpv6) ep.ipv6 = await this.reserveAddress(ipam, v6, input.ipv6, (poolId) => (ep.ipv6PoolId = poolId), undo);
        })(),
      ]);
      if (written.status === 'rejected') throw written.reason;
      if (reserved.status === 'rejected') throw reserved.reason;
      // Shared store: the intent then names the addresses, alongside the driver's first step (until
      // it lands, another daemon's lease sweep keeps every address of the network; it must land
      // before putEndpoint retires the intent, or it would bring it back).
      const [created, named] = await Promise.allSettled([
        driver.createEndpoint({
          networkId: n.id, endpointId: ep.id,
          interface: { ...(ep.ipv4 ? { address: ep.ipv4 } : {}), ...(ep.ipv6 ? { addressIpv6: ep.ipv6 } : {}), ...(ep.macAddress ? { macAddress: ep.macAddress } : {}) },
          options,
        }),
        this.d.records.shared
          ? this.d.records.putIntent({ ...intent, addresses: [ep.ipv4, ep.ipv6].filter(Boolean).map((a) => canonicalIp(ipOf(a))) })
          : Promise.resolve(),
      ]);
      if (created.status === 'rejected') throw created.reason;
      undo.push('delete endpoint in driver', () => driver.deleteEndpoint(n.id, ep.id));
      if (named.status === 'rejected') throw named.reason;
      const chosen = created.value;
      if (chosen?.macAddress && !ep.macAddress) ep.macAddress = chosen.macAddress;
      if (chosen?.address && !ep.ipv4) ep.ipv4 = chosen.address;
      if (chosen?.addressIpv6 && !ep.ipv6) ep.ipv6 = chosen.addressIpv6;
      // Offer the driver the final name so it can create the interface inside the sandbox.
      const join = await driver.join({ networkId: n.id, endpointId: ep.id, sandboxKey: sb.netnsPath, options, sandboxIfname });
      undo.push('leave', () => driver.leave(n.id, ep.id));
      ep.gateway = join.gateway ?? '';
      ep.gatewayIpv6 = join.gatewayIpv6 ?? '';
      // No interface (none, host): no name, so detach can never remove someone else's.
      ep.ifname = !join.interfaceName.srcName ? ''
        : join.interfaceName.inSandbox ? sandboxIfname
        : this.nextIfname(join.interfaceName.dstPrefix || 'eth', existing);
      if (hasExternalConnectivity(driver)) {
        await driver.programExternalConnectivity({ networkId: n.id, endpointId: ep.id, options });
        undo.push('revoke external connectivity', () => driver.revokeExternalConnectivity(n.id, ep.id));
      }
      // One default route per sandbox and family, as Docker: the earliest endpoint whose network
      // has a gateway holds it; later ones get their gateway recorded but install no route
      // (a second default route is EEXIST). disconnect hands the route on (handOverGateway).
      const routed = { ...join };
      if (existing.some((e) => e.gateway)) delete routed.gateway;
      if (existing.some((e) => e.gatewayIpv6)) delete routed.gatewayIpv6;
      await this.d.sandboxNetworking.attach({
        netnsPath: sb.netnsPath, sandboxId: sb.id, networkId: n.id, endpointId: ep.id, join: routed,
        ifname: ep.ifname, ipv4: ep.ipv4, ipv6: ep.ipv6, macAddress: ep.macAddress,
      });
      undo.push(`detach ${ep.ifname} from sandbox`, () => this.d.sandboxNetworking.detach({ netnsPath: sb.netnsPath, ifname: ep.ifname, networkId: n.id, endpointId: ep.id }));
      await this.d.dns.add({
        networkId: n.id, endpointId: ep.id, sandboxId: sb.id, netnsPath: sb.netnsPath, internal: n.internal, names: [sb.name, ...ep.aliases],
        ipv4: ep.ipv4 ? [ipOf(ep.ipv4)] : [], ipv6: ep.ipv6 ? [ipOf(ep.ipv6)] : [],
      });
      undo.push('remove DNS records', () => this.d.dns.remove(n.id, ep.id));
      await this.d.records.putEndpoint(ep, intent);
    }).catch(async (e: unknown) => {
      await this.dropIntentAfterRollback(intent, e);
      throw this.contextual(`connect ${sb.name} to network ${n.name}`, e);
    });
    this.d.files.updateHosts(sb, [...existing, ep]);
    this.d.log.debug('endpoint attached', { network: n.name, sandbox: sb.name, endpoint: ep.id, ipv4: ep.ipv4 });
    return ep;
  }

  /** Reserve an address in the first pool (static when `wanted` is given: the pool containing it). */
  private async reserveAddress(
    ipam: IpamDriver, pools: StoredIpamPool[], wanted: string | undefined, setPool: (poolId: string) => void, undo: UndoStack,
  ): Promise<string> {
    if (pools.length === 0) {
      if (wanted) throw new InvalidArgumentError(`address ${wanted}: the network has no pool of that family`);
      return '';
    }
    let lastErr: unknown;
    for (const p of pools) {
      try {
        const a = await ipam.requestAddress({ poolId: p.poolId, address: wanted ?? '', options: {} });
        if (!a.address) return ''; // null IPAM: no addresses
        const cidr = a.address.includes('/') ? a.address : withPrefixOf(a.address, p.subnet);
        setPool(p.poolId);
        undo.push(`release address ${cidr}`, () => ipam.releaseAddress(p.poolId, ipOf(cidr)));
        return cidr;
      } catch (e) {
        lastErr = e;
      }
    }
    throw lastErr;
  }

  private nextIfname(prefix: string, existing: readonly EndpointRecord[]): string {
    const used = new Set(existing.map((e) => e.ifname));
    for (let i = 0; ; i++) if (!used.has(`${prefix}${i}`)) return `${prefix}${i}`;
  }

  /**
   * Fence a sandbox before removing it: waits for the connect or disconnect running on it (they
   * hold its lock), then refuses every later connect, so the removal's list of endpoints is
   * final. false: a removal of it is already under way. Undone by unfenceSandbox.
   */
  async fenceSandbox(sandboxId: string): Promise<boolean> {
    return this.lock.run(`sandbox:${sandboxId}`, async () => {
      if (this.removingSandboxes.has(sandboxId)) return false;
      this.removingSandboxes.add(sandboxId);
      return true;
    });
  }

  unfenceSandbox(sandboxId: string): void {
    this.removingSandboxes.delete(sandboxId);
  }

  async disconnect(networkRef: string, sandboxRef: string, opts: { force?: boolean } = {}): Promise<void> {
    const n = await this.d.records.findNetwork(networkRef);
    let sb: SandboxRecord;
    try {
      sb = await this.d.records.findSandbox(sandboxRef);
    } catch (e) {
      if (!(opts.force && e instanceof NotFoundError)) throw e;
      return this.disconnectOrphan(n, sandboxRef, e);
    }
    await this.lock.runAll([n.id, `sandbox:${sb.id}`], async () => {
      const eps = await this.d.records.sandboxEndpoints(sb.id);
      const ep = eps.find((e) => e.networkId === n.id);
      if (!ep) throw new ForbiddenError(`sandbox ${sb.name} is not connected to network ${n.name}`);
      await this.teardownEndpoint(n, ep, !!opts.force, sb);
      const rest = eps.filter((e) => e !== ep);
      await this.handOverGateway(sb, ep, rest);
      this.d.files.updateHosts(sb, rest);
    });
  }

  /**
   * An endpoint with a gateway left: the earliest remaining endpoint with a gateway (per family)
   * holds the sandbox's default route from now on. Set with replace, so it is the same route
   * again when the one that left was not the holder. Best effort — the endpoint is already gone; a
   * failure is logged, not thrown.
   */
  private async handOverGateway(sb: SandboxRecord, gone: EndpointRecord, rest: EndpointRecord[]): Promise<void> {
    if (!this.d.sandboxNetworking.setDefaultGateway || !sb.netnsPath) return;
    const byAge = [...rest].sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
    const req: { netnsPath: string; gateway?: string; gatewayIpv6?: string } = { netnsPath: sb.netnsPath };
    const next4 = gone.gateway ? byAge.find((e) => e.gateway) : undefined;
    const next6 = gone.gatewayIpv6 ? byAge.find((e) => e.gatewayIpv6) : undefined;
    if (next4) req.gateway = next4.gateway;
    if (next6) req.gatewayIpv6 = next6.gatewayIpv6;
    if (!req.gateway && !req.gatewayIpv6) return;
    try {
      await this.d.sandboxNetworking.setDefaultGateway(req);
    } catch (e) {
      this.d.log.warn('could not move the default route to the next network', { sandbox: sb.name, left: gone.networkId.slice(0, 12), err: e });
    }
  }

  /**
   * `disconnect -f` for an endpoint whose sandbox record is gone (moby/moby#17217: "network has
   * active endpoints" that disconnect -f cannot clear). Matched by the sandbox name the endpoint
   * was made for, or the sandbox id or an id prefix; every host-side step is attempted.
   */
  private async disconnectOrphan(n: NetworkRecord, sandboxRef: string, notFound: NotFoundError): Promise<void> {
    await this.lock.run(n.id, async () => {
      const eps = await this.d.records.networkEndpoints(n.id);
      const byPrefix = sandboxRef ? eps.filter((e) => e.sandboxId.startsWith(sandboxRef)) : [];
      const ep = eps.find((e) => e.name === sandboxRef || e.sandboxId === sandboxRef) ?? (byPrefix.length === 1 ? byPrefix[0] : undefined);
      if (!ep) throw notFound;
      await this.teardownEndpoint(n, ep, true, { netnsPath: '' } as SandboxRecord);
      this.d.log.warn('disconnect -f: removed an endpoint whose sandbox is gone', { network: n.name, endpoint: ep.id, sandbox: sandboxRef });
    });
  }

  /** Every host-side step runs even when an earlier one fails (netavark #1451). */
  private async teardownEndpoint(n: NetworkRecord, ep: EndpointRecord, force: boolean, sbKnown?: SandboxRecord): Promise<void> {
    // Stored before the first step and retired with the record: a crash halfway leaves an intent
    // the startup reconcile finishes, never a half-torn endpoint that looks attached.
    const intent: DisconnectIntent = { kind: 'disconnect', id: ep.id, networkId: n.id, sandboxId: ep.sandboxId, created: now() };
    await this.d.records.putIntent(intent);
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try { await fn(); } catch (e) { errors.push(new Error(`${what}: ${messageOf(e)}`, { cause: e })); }
    };
    let netnsPath = sbKnown?.netnsPath ?? '';
    if (!sbKnown) await step('find sandbox', async () => { netnsPath = (await this.d.records.findSandbox(ep.sandboxId)).netnsPath; });
    // DNS first: a removed name must stop resolving before its address can be handed out again.
    await step('remove DNS records', () => this.d.dns.remove(n.id, ep.id));
    let driver: NetworkDriver | undefined;
    let ipam: IpamDriver | undefined;
    await step(`driver ${n.driver}`, async () => { driver = await this.d.registry.get('NetworkDriver', n.driver); });
    await step(`ipam driver ${n.ipamDriver}`, async () => { ipam = await this.d.registry.get('IpamDriver', n.ipamDriver); });
    // Published ports go before the interface (netavark#1482: between the two, DNAT'ed traffic
    // for the vanished address would follow the default route out of the host).
    if (driver && hasExternalConnectivity(driver)) {
      const dr = driver;
      await step('revoke external connectivity', () => dr.revokeExternalConnectivity(n.id, ep.id));
    }
    await step(`detach ${ep.ifname} from sandbox`, () => this.d.sandboxNetworking.detach({ netnsPath, ifname: ep.ifname, networkId: n.id, endpointId: ep.id }));
    if (driver) {
      const dr = driver;
      await step('leave', () => dr.leave(n.id, ep.id));
      await step('delete endpoint in driver', () => dr.deleteEndpoint(n.id, ep.id));
    }
    if (ipam) {
      const ip = ipam;
      if (ep.ipv4 && ep.ipv4PoolId) await step(`release ${ep.ipv4}`, () => ip.releaseAddress(ep.ipv4PoolId, ipOf(ep.ipv4)));
      if (ep.ipv6 && ep.ipv6PoolId) await step(`release ${ep.ipv6}`, () => ip.releaseAddress(ep.ipv6PoolId, ipOf(ep.ipv6)));
    }
    if (errors.length && !force) throw new MultiError(`disconnect ${ep.name} from network ${n.name}`, errors);
    if (errors.length) this.d.log.warn('endpoint removed with errors (forced)', { network: n.name, endpoint: ep.id, err: new MultiError('teardown', errors) });
    await this.d.records.deleteEndpoint(ep, intent);
    this.d.log.debug('endpoint detached', { network: n.name, sandbox: ep.name, endpoint: ep.id });
  }

  // ---------------------------------------------------------------- startup

  /**
   * Startup repair: endpoints whose sandbox record is gone are torn down (forced), networks
   * whose driver cannot be resolved are reported. Called once before the API starts.
   */
  async reconcile(): Promise<{ staleEndpoints: number }> {
    let staleEndpoints = 0;
    const sandboxes = new Map((await this.d.records.listSandboxes()).map((s) => [s.id, s] as const));
    for (const n of await this.d.records.listNetworks()) {
      if (!n.configOnly) {
        try {
          await this.d.registry.get('NetworkDriver', n.driver);
        } catch (e) {
          this.d.log.warn('reconcile: network driver unavailable', { network: n.name, driver: n.driver, err: e });
        }
        await this.restoreHostDns(n);
      }
      for (const ep of await this.d.records.networkEndpoints(n.id)) {
        // Another daemon's endpoint (shared store): its sandbox and interface are on that host.
        if (!this.d.records.owns(ep)) continue;
        const sb = sandboxes.get(ep.sandboxId);
        if (sb) {
          // Name records live in memory: put them back so names resolve again after a restart.
          try {
            await this.d.dns.add({
              networkId: n.id, endpointId: ep.id, sandboxId: sb.id, netnsPath: sb.netnsPath, internal: n.internal,
              names: [sb.name, ...ep.aliases], ipv4: ep.ipv4 ? [ipOf(ep.ipv4)] : [], ipv6: ep.ipv6 ? [ipOf(ep.ipv6)] : [],
            });
          } catch (e) {
            this.d.log.warn('reconcile: DNS records not restored', { network: n.name, sandbox: sb.name, err: e });
          }
          continue;
        }
        staleEndpoints++;
        await this.lock.run(n.id, () => this.teardownEndpoint(n, ep, true, { netnsPath: '' } as SandboxRecord));
        this.d.log.warn('reconcile: removed endpoint of a vanished sandbox', { network: n.name, endpoint: ep.id });
      }
    }
    return { staleEndpoints };
  }

  /**
   * Listeners live in memory: put a host_dns network's back at start-up. A port taken meanwhile
   * cannot refuse a network that exists: logged, and inspect shows HostDNS: [].
   */
  private async restoreHostDns(n: NetworkRecord): Promise<void> {
    if (!hostDnsOn(n.options) || !this.d.dns.addHostDns) return;
    try {
      await this.d.dns.addHostDns({ networkId: n.id, name: n.name, addresses: hostDnsAddresses(n.pools) });
    } catch (e) {
      this.d.log.warn('reconcile: host DNS listener not restored', { network: n.name, err: e });
    }
  }

  // ---------------------------------------------------------------- crash recovery (peers.md #34)

  /**
   * Drop an intent once its operation rolled back cleanly. When an undo failed, the intent stays:
   * the startup reconcile finishes the rollback.
   */
  private async dropIntentAfterRollback(intent: Intent, e: unknown): Promise<void> {
    if (e && typeof e === 'object' && 'rollbackError' in e) {
      this.d.log.warn('rollback incomplete; the intent stays for the startup reconcile', { intent: intent.kind, id: intent.id });
      return;
    }
    await this.d.records.deleteIntent(intent).catch((err: unknown) => this.d.log.warn('intent not dropped', { intent: intent.kind, id: intent.id, err }));
  }

  /**
   * Startup, before anything else touches networks: every intent still stored names an operation
   * a crash interrupted. Connect and network create are rolled back, disconnect and network rm
   * finished. Each step is idempotent and the intent goes last, so a pass interrupted by another
   * crash is completed by the next start. An intent whose recovery fails is kept and logged.
   */
  async recoverIntents(): Promise<{ recovered: number; kept: number }> {
    let recovered = 0;
    let kept = 0;
    const intents = (await this.d.records.listIntents()).sort((a, b) => INTENT_ORDER[a.kind] - INTENT_ORDER[b.kind]);
    for (const i of intents) {
      try {
        switch (i.kind) {
          case 'connect': await this.rollbackConnect(i); break;
          case 'disconnect': await this.finishDisconnect(i); break;
          case 'network-rm': await this.finishNetworkRemove(i); break;
          case 'network-create': await this.rollbackNetworkCreate(i); break;
          default: continue; // sandbox intents: SandboxService; layer intents: LayerService
        }
        recovered++;
        this.d.log.warn('reconcile: finished an operation a crash interrupted', { intent: i.kind, id: i.id });
      } catch (e) {
        kept++;
        this.d.log.error('reconcile: intent kept, its recovery failed', { intent: i.kind, id: i.id, err: e });
      }
    }
    return { recovered, kept };
  }

  private async rollbackConnect(i: ConnectIntent): Promise<void> {
    const n = await this.d.records.findNetwork(i.networkId).catch(() => undefined);
    // No network record: its rm deleted the driver's network with every endpoint in it.
    if (n && !(await this.d.records.getEndpoint(n.id, i.id))) {
      const sb = await this.d.records.findSandbox(i.sandboxId).catch(() => undefined);
      const held = sb ? (await this.d.records.sandboxEndpoints(sb.id)).map((e) => e.ifname) : [];
      const errors: unknown[] = [];
      const step = async (what: string, fn: () => Promise<void>) => {
        try { await fn(); } catch (e) { errors.push(new Error(`${what}: ${messageOf(e)}`, { cause: e })); }
      };
      await step('remove DNS records', () => this.d.dns.remove(n.id, i.id));
      let driver: NetworkDriver | undefined;
      await step(`driver ${n.driver}`, async () => { driver = await this.d.registry.get('NetworkDriver', n.driver); });
      if (driver && hasExternalConnectivity(driver)) {
        const dr = driver;
        await step('revoke external connectivity', () => dr.revokeExternalConnectivity(n.id, i.id));
      }
      // The planned name, unless another endpoint's record holds it.
      if (sb && i.ifname && !held.includes(i.ifname)) {
        await step(`detach ${i.ifname} from sandbox`, () => this.d.sandboxNetworking.detach({ netnsPath: sb.netnsPath, ifname: i.ifname, networkId: n.id, endpointId: i.id }));
      }
      if (driver) {
        const dr = driver;
        await step('leave', () => dr.leave(n.id, i.id));
        await step('delete endpoint in driver', () => dr.deleteEndpoint(n.id, i.id));
      }
      // The address: sweepUnclaimed gives back every lease no record claims.
      if (errors.length) throw new MultiError(`roll back connect of endpoint ${i.id.slice(0, 12)} to network ${n.name}`, errors);
    }
    await this.d.records.deleteIntent(i);
  }

  private async finishDisconnect(i: DisconnectIntent): Promise<void> {
    const n = await this.d.records.findNetwork(i.networkId).catch(() => undefined);
    const ep = n && (await this.d.records.getEndpoint(n.id, i.id));
    if (!n || !ep) return this.d.records.deleteIntent(i);
    // Forced when the sandbox record is gone (nothing left to keep the endpoint for).
    const sb = await this.d.records.findSandbox(ep.sandboxId).catch(() => undefined);
    await this.lock.run(n.id, () => this.teardownEndpoint(n, ep, !sb, sb ?? ({ netnsPath: '' } as SandboxRecord)));
  }

  private async finishNetworkRemove(i: NetworkRemoveIntent): Promise<void> {
    const n = await this.d.records.findNetwork(i.id).catch(() => undefined);
    if (!n) return this.d.records.deleteIntent(i);
    await this.lock.run(n.id, async () => {
      await this.teardownEndpointsOfNetwork(n, await this.d.records.networkEndpoints(n.id));
      await this.teardownNetwork(n, false, true);
    });
    await this.d.dns.removeNetwork?.(n.id);
  }

  private async rollbackNetworkCreate(i: NetworkCreateIntent): Promise<void> {
    if (await this.d.records.findNetwork(i.id).catch(() => undefined)) return this.d.records.deleteIntent(i);
    const driver = await this.d.registry.get('NetworkDriver', i.driver);
    await driver.deleteNetwork(i.id);
    const ipam = await this.d.registry.get('IpamDriver', i.ipamDriver);
    const held = await this.heldPools(ipam, i.id);
    const norm = (cidr: string) => {
      const c = parseCidr(cidr);
      return c ? `${canonicalIp(c.ip)}/${c.prefix}` : cidr;
    };
    const todo: StoredIpamPool[] = [...i.pools];
    // A pool taken after the intent's last write: found by the subnet asked for. (One the IPAM
    // chose itself cannot be told from another client's: logged, not released.)
    const recorded = new Set(i.pools.map((p) => norm(p.subnet)));
    for (const s of i.subnets.filter((x) => x && !recorded.has(norm(x)))) {
      const hit = held && [...held].find(([, h]) => norm(h.subnet) === norm(s));
      if (hit) todo.push({ poolId: hit[0], addressSpace: '', subnet: hit[1].subnet, ipRange: '', gateway: '', gatewayReserved: false, auxAddresses: {}, v6: isV6(s) });
    }
    if (i.subnets.some((x) => !x) && i.pools.length < i.subnets.length) {
      this.d.log.warn('reconcile: a pool the IPAM chose for an interrupted network create may still be held', { network: i.name, id: i.id });
    }
    let left = { ...i };
    for (const p of todo) {
      const h = held?.get(p.poolId);
      if (!held || h?.ours) {
        const addrs = h?.exclusive && hasLeaseLister(ipam) ? new Set((await ipam.listAddresses(p.poolId)).map(canonicalIp)) : undefined;
        const has = (ip: string) => !held || (!!addrs && addrs.has(canonicalIp(ip)));
        if (p.gatewayReserved && has(p.gateway)) await ipam.releaseAddress(p.poolId, p.gateway);
        for (const ip of Object.values(p.auxAddresses)) if (has(ip)) await ipam.releaseAddress(p.poolId, ip);
        await ipam.releasePool(p.poolId).catch((e: unknown) => { if (!(e instanceof NotFoundError)) throw e; });
      }
      // Progress is stored: a second pass must not release a reference twice.
      left = { ...left, pools: left.pools.filter((x) => x.poolId !== p.poolId), subnets: left.subnets.filter((x) => !x || norm(x) !== norm(p.subnet)) };
      await this.d.records.putIntent(left);
    }
    await this.d.records.deleteIntent(i);
  }

  /**
   * The pools `ipam` holds, each against the tsd networks (other than `excluding`) using it; undefined
   * when the IPAM cannot list (then releases are made blindly, as before).
   */
  private async heldPools(ipam: IpamDriver, excluding: string): Promise<Map<string, HeldPool> | undefined> {
    if (!hasLeaseLister(ipam)) return undefined;
    const claims = new Map<string, number>();
    for (const m of await this.networksOfIpam(ipam)) {
      if (m.id === excluding) continue;
      for (const p of m.pools) if (p.poolId) claims.set(p.poolId, (claims.get(p.poolId) ?? 0) + 1);
    }
    const out = new Map<string, HeldPool>();
    for (const p of await ipam.listPools()) {
      const others = claims.get(p.poolId) ?? 0;
      out.set(p.poolId, { subnet: p.subnet, ours: p.refs > others, exclusive: others === 0 });
    }
    return out;
  }

  private async networksOfIpam(ipam: IpamDriver): Promise<NetworkRecord[]> {
    const out: NetworkRecord[] = [];
    for (const n of await this.d.records.listNetworks()) {
      if (n.configOnly) continue;
      const d = await this.d.registry.get('IpamDriver', n.ipamDriver).catch(() => undefined);
      if (d === ipam) out.push(n);
    }
    return out;
  }

  /**
   * Startup, after the intents: give back what drivers and IPAM hold for tsd's networks that no
   * record claims — driver endpoints (their veths, published ports) and addresses. Only pools no
   * other client shares (their references all tsd's networks) are swept, and only networks tsd
   * has records of, so what a dockerd made through tsd's plugin sockets is never touched.
   *
   * Other daemons sharing the store (etcd) may be connecting right now: what a connect holds
   * before its record is claimed by its intent (the endpoint id, the addresses it names), and a
   * network with another daemon's connect that has not named its addresses yet keeps every
   * address. The claims are read after what the drivers and IPAM hold, so a connect that
   * finishes between the two reads is seen by its record.
   */
  async sweepUnclaimed(): Promise<{ endpoints: number; addresses: number }> {
    let endpoints = 0;
    let addresses = 0;
    const nets = (await this.d.records.listNetworks()).filter((n) => !n.configOnly);
    const held: Array<{ n: NetworkRecord; driver: NetworkDriver; ids: string[] }> = [];
    for (const n of nets) {
      const driver = await this.d.registry.get('NetworkDriver', n.driver).catch(() => undefined);
      if (!driver || !hasEndpointLister(driver)) continue;
      held.push({ n, driver, ids: await driver.listEndpoints(n.id) });
    }
    let claims = await this.claims();
    for (const { n, driver, ids } of held) {
      for (const id of ids) {
        if (claims.endpoints.has(id)) continue;
        try {
          if (hasExternalConnectivity(driver)) await driver.revokeExternalConnectivity(n.id, id);
          await driver.leave(n.id, id);
          await driver.deleteEndpoint(n.id, id);
          endpoints++;
          this.d.log.warn('reconcile: removed a driver endpoint no record claims', { network: n.name, endpoint: id });
        } catch (e) {
          this.d.log.error('reconcile: driver endpoint no record claims not removed', { network: n.name, endpoint: id, err: e });
        }
      }
    }
    const byIpam = new Map<IpamDriver, NetworkRecord[]>();
    for (const n of nets) {
      const ipam = await this.d.registry.get('IpamDriver', n.ipamDriver).catch(() => undefined);
      if (ipam) byIpam.set(ipam, [...(byIpam.get(ipam) ?? []), n]);
    }
    const leases: Array<{ ipam: IpamDriver; ns: NetworkRecord[]; poolId: string; ips: string[] }> = [];
    for (const [ipam, ns] of byIpam) {
      if (!hasLeaseLister(ipam)) continue;
      const refs = new Map<string, number>();
      for (const n of ns) for (const p of n.pools) refs.set(p.poolId, (refs.get(p.poolId) ?? 0) + 1);
      for (const pool of await ipam.listPools()) {
        if (!refs.has(pool.poolId) || refs.get(pool.poolId) !== pool.refs) continue; // not tsd's alone
        leases.push({ ipam, ns: ns.filter((n) => n.pools.some((p) => p.poolId === pool.poolId)), poolId: pool.poolId, ips: await ipam.listAddresses(pool.poolId) });
      }
    }
    claims = await this.claims();
    for (const { ipam, ns, poolId, ips } of leases) {
      const busy = ns.find((n) => claims.connecting.has(n.id));
      if (busy) {
        this.d.log.info('reconcile: addresses not swept; a connect to the network has not recorded its address yet', { network: busy.name, pool: poolId });
        continue;
      }
      const mine = new Set<string>();
      const claim = (pool: string, ip: string) => { if (pool === poolId && ip) mine.add(canonicalIp(ipOf(ip))); };
      for (const n of ns) {
        for (const p of n.pools) {
          claim(p.poolId, p.gateway);
          for (const ip of Object.values(p.auxAddresses)) claim(p.poolId, ip);
        }
      }
      for (const e of claims.endpointRecords) {
        claim(e.ipv4PoolId, e.ipv4);
        claim(e.ipv6PoolId, e.ipv6);
      }
      for (const ip of ips) {
        if (mine.has(canonicalIp(ip)) || claims.addresses.has(canonicalIp(ip))) continue;
        try {
          await ipam.releaseAddress(poolId, ip);
          addresses++;
          this.d.log.warn('reconcile: released an address no record claims', { pool: poolId, address: ip });
        } catch (e) {
          this.d.log.error('reconcile: address no record claims not released', { pool: poolId, address: ip, err: e });
        }
      }
    }
    return { endpoints, addresses };
  }

  /**
   * What the records claim now: every endpoint record (any daemon's), the endpoint ids and
   * addresses of every intent still stored (this daemon's were recovered already: they are other
   * daemons' operations in flight), and the networks with a connect whose addresses are not
   * recorded yet.
   */
  private async claims(): Promise<{ endpointRecords: EndpointRecord[]; endpoints: Set<string>; addresses: Set<string>; connecting: Set<string> }> {
    const endpointRecords = await this.d.records.allEndpoints();
    const endpoints = new Set(endpointRecords.map((e) => e.id));
    const addresses = new Set<string>();
    const connecting = new Set<string>();
    for (const i of await this.d.records.listAllIntents()) {
      if (i.kind === 'connect' || i.kind === 'disconnect') endpoints.add(i.id);
      if (i.kind !== 'connect') continue;
      if (i.addresses) for (const a of i.addresses) addresses.add(a);
      else connecting.add(i.networkId);
    }
    return { endpointRecords, endpoints, addresses, connecting };
  }

  private contextual(context: string, e: unknown): Error {
    return withContext(context, e);
  }
}
