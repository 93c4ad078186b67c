// test/fakes/drivers.ts — small in-memory drivers and hooks for service/API tests: a network
// driver that records calls and can be told to fail, an IPAM that never hands out an address
// twice, a volume driver, and a netns provider backed by plain files.

import fs from 'node:fs';
import { ConflictError, InternalError, InvalidArgumentError, NotFoundError } from '../../core/errors.js';
import type { IpamDriver, RequestAddressRequest, RequestPoolRequest } from '../../core/driver/ipam-driver.js';
import type { CreateEndpointRequest, CreateNetworkRequest, JoinRequest, NetworkDriver } from '../../core/driver/network-driver.js';
import type { VolumeDriver, VolumeInfo } from '../../core/driver/volume-driver.js';
import type { NetnsProvider, SandboxAttachRequest, SandboxNetworking } from '../../core/service/hooks.js';
import { DriverRegistry } from '../../core/driver/registry.js';

export class FakeNetworkDriver implements NetworkDriver {
  readonly calls: string[] = [];
  readonly networks = new Map<string, CreateNetworkRequest>();
  readonly endpoints = new Map<string, CreateEndpointRequest>();
  failOn = new Set<string>();
  /** Calls that never return (a daemon killed in the middle of them). */
  hangOn = new Set<string>();
  constructor(readonly name = 'fake') {}
  /** Calls that wait for a promise the test settles (an operation caught in flight). */
  holdOn = new Map<string, Promise<void>>();
  private async maybeHang(m: string): Promise<void> {
    if (this.hangOn.has(m)) await new Promise(() => undefined);
    await this.holdOn.get(m);
  }
  private maybeFail(m: string): void {
    this.calls.push(m);
    if (this.failOn.has(m)) throw new InternalError(`${m} failed (injected)`);
  }
  /** Says its gateway is on the host, as tsd-bridge (com.tsd.network.host_dns). */
  gatewayOnHost = true;
  async getCapabilities() { return { scope: 'local' as const, connectivityScope: 'local' as const, gatewayOnHost: this.gatewayOnHost }; }
  async createNetwork(req: CreateNetworkRequest) { this.maybeFail('createNetwork'); this.networks.set(req.networkId, req); await this.maybeHang('createNetwork'); }
  async deleteNetwork(id: string) { this.maybeFail('deleteNetwork'); await this.maybeHang('deleteNetwork'); this.networks.delete(id); }
  async listEndpoints(networkId: string) { return [...this.endpoints].filter(([, r]) => r.networkId === networkId).map(([id]) => id); }
  async createEndpoint(req: CreateEndpointRequest) {
    this.maybeFail('createEndpoint');
    this.endpoints.set(req.endpointId, req);
    return req.interface.macAddress ? undefined : { macAddress: '02:42:00:00:00:' + (this.endpoints.size % 256).toString(16).padStart(2, '0') };
  }
  async deleteEndpoint(_n: string, ep: string) { this.maybeFail('deleteEndpoint'); this.endpoints.delete(ep); }
  async join(_req: JoinRequest) { this.maybeFail('join'); await this.maybeHang('join'); return { interfaceName: { srcName: 'veth-fake', dstPrefix: 'eth' }, gateway: '10.0.0.1' }; }
  async leave() { this.maybeFail('leave'); await this.maybeHang('leave'); }
}

function v4ToInt(ip: string): number { return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0); }
function intToV4(n: number): string { return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.'); }

/** IPv4-only IPAM over /24s: default pools 10.99.N.0/24, gateway .1. */
export class FakeIpam implements IpamDriver {
  readonly pools = new Map<string, { base: number; size: number; used: Set<number>; refs: number }>();
  private next = 0;
  constructor(readonly name = 'fake-ipam') {}
  async getCapabilities() { return { requiresMacAddress: false, requiresRequestReplay: false }; }
  async getDefaultAddressSpaces() { return { local: 'LocalDefault', global: 'GlobalDefault' }; }
  async requestPool(req: RequestPoolRequest) {
    if (req.v6) throw new InvalidArgumentError('fake ipam: no IPv6');
    const pool = req.pool || `10.99.${this.next++}.0/24`;
    const [ip, len] = pool.split('/');
    if (this.pools.has(pool)) throw new ConflictError(`pool ${pool} overlaps`);
    this.pools.set(pool, { base: v4ToInt(ip!), size: 2 ** (32 - Number(len)), used: new Set(), refs: 1 });
    return { poolId: pool, pool, data: {} };
  }
  async releasePool(poolId: string) {
    if (!this.pools.delete(poolId)) throw new NotFoundError(`pool ${poolId} not found`);
  }
  async requestAddress(req: RequestAddressRequest) {
    const p = this.pools.get(req.poolId);
    if (!p) throw new NotFoundError(`pool ${req.poolId} not found`);
    const len = req.poolId.split('/')[1];
    if (req.address) {
      const n = v4ToInt(req.address) - p.base;
      if (n <= 0 || n >= p.size - 1) throw new InvalidArgumentError(`address ${req.address} is not in ${req.poolId}`);
      if (p.used.has(n)) throw new ConflictError(`address ${req.address} already in use`);
      p.used.add(n);
      return { address: `${req.address}/${len}`, data: {} };
    }
    for (let n = 1; n < p.size - 1; n++) {
      if (!p.used.has(n)) { p.used.add(n); return { address: `${intToV4(p.base + n)}/${len}`, data: {} }; }
    }
    throw new ConflictError(`pool ${req.poolId} exhausted`);
  }
  async releaseAddress(poolId: string, address: string) {
    const p = this.pools.get(poolId);
    if (!p) throw new NotFoundError(`pool ${poolId} not found`);
    p.used.delete(v4ToInt(address) - p.base);
  }
  async listPools() { return [...this.pools].map(([poolId, p]) => ({ poolId, subnet: poolId, refs: p.refs })); }
  async listAddresses(poolId: string) { const p = this.pools.get(poolId); return p ? [...p.used].map((n) => intToV4(p.base + n)) : []; }
  /** Addresses still reserved across all pools (leak check). */
  reserved(): number { let n = 0; for (const p of this.pools.values()) n += p.used.size; return n; }
}

export class FakeVolumeDriver implements VolumeDriver {
  readonly volumes = new Map<string, { options: Record<string, string>; mounts: Set<string> }>();
  constructor(readonly name = 'fake-local', private readonly root = '/fake/volumes') {}
  async create(name: string, options: Record<string, string>) {
    if (options.bad) throw new InvalidArgumentError(`option bad: not supported`);
    this.volumes.set(name, { options, mounts: new Set() });
  }
  async remove(name: string) {
    const v = this.volumes.get(name);
    if (!v) throw new NotFoundError(`volume ${name} not found`);
    if (v.mounts.size) throw new ConflictError(`volume ${name} is mounted`);
    this.volumes.delete(name);
  }
  async mount(name: string, caller: string) { this.must(name).mounts.add(caller); return `${this.root}/${name}`; }
  async unmount(name: string, caller: string) { this.must(name).mounts.delete(caller); }
  async path(name: string) { this.must(name); return `${this.root}/${name}`; }
  async get(name: string): Promise<VolumeInfo> { this.must(name); return { name, mountpoint: `${this.root}/${name}` }; }
  async list(): Promise<VolumeInfo[]> { return [...this.volumes.keys()].map((name) => ({ name, mountpoint: `${this.root}/${name}` })); }
  async capabilities() { return { scope: 'local' as const }; }
  private must(name: string) {
    const v = this.volumes.get(name);
    if (!v) throw new NotFoundError(`volume ${name} not found`);
    return v;
  }
}

/** "Namespaces" are plain files; good enough for services that only pass paths around. */
export const fileNetns: NetnsProvider = {
  async create(p) { fs.writeFileSync(p, 'netns', { flag: 'wx' }); },
  async pinPid(pid, p) { if (!fs.existsSync(`/proc/${pid}`)) throw new NotFoundError(`process ${pid} not found`); fs.writeFileSync(p, `pid ${pid}`, { flag: 'wx' }); },
  async remove(p) { fs.rmSync(p, { force: true }); },
  async isNetns(p) { return fs.existsSync(p); },
  // A pinned "pid N" file and /proc/N/ns/net (while process N lives) share the identity "pid N".
  async identity(p) {
    const m = /^\/proc\/(\d+)\/ns\/net$/.exec(p);
    if (m) return fs.existsSync(`/proc/${m[1]}`) ? `pid ${m[1]}` : undefined;
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) return undefined;
    const text = fs.readFileSync(p, 'utf8');
    return text.startsWith('pid ') ? text : `file ${st.ino}`;
  },
};

export class RecordingSandboxNetworking implements SandboxNetworking {
  readonly attached = new Map<string, SandboxAttachRequest>();
  failAttach = false;
  async attach(req: SandboxAttachRequest) {
    if (this.failAttach) throw new InternalError('attach failed (injected)');
    this.attached.set(req.endpointId, req);
  }
  async detach(req: { endpointId: string }) { this.attached.delete(req.endpointId); }
  readonly defaultGateways: Array<{ netnsPath: string; gateway?: string; gatewayIpv6?: string }> = [];
  async setDefaultGateway(req: { netnsPath: string; gateway?: string; gatewayIpv6?: string }) { this.defaultGateways.push(req); }
}

export function fakeRegistry() {
  const net = new FakeNetworkDriver('fake');
  const ipam = new FakeIpam('fake-ipam');
  const vol = new FakeVolumeDriver('fake-local');
  const registry = new DriverRegistry();
  registry.register('NetworkDriver', net, ['bridge']);
  registry.register('IpamDriver', ipam, ['default']);
  registry.register('VolumeDriver', vol, ['local']);
  return { registry, net, ipam, vol };
}
