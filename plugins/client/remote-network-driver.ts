// plugins/client/remote-network-driver.ts — a NetworkDriver that is an external plugin
// (libnetwork's drivers/remote). It implements every optional capability the wire has, with
// dockerd's semantics: GetCapabilities is fetched once at registration (init) and is mandatory;
// GwAllocCheck is sent only if advertised; Program/RevokeExternalConnectivity answered 404 are
// ignored; EndpointOperInfo and Discover* errors are only logged; a CreateEndpoint reply that sets
// an interface field the request already set is refused and rolled back with DeleteEndpoint;
// an invalid Join reply is refused and rolled back with Leave.

import net from 'node:net';
import { InternalError } from '../../core/errors.js';
import type {
  ClusterAware,
  CreateEndpointRequest,
  CreateNetworkRequest,
  EndpointInfoProvider,
  EndpointInterface,
  EndpointOptions,
  ExternalConnectivity,
  GatewayAllocationChecker,
  IpamData,
  JoinRequest,
  JoinResponse,
  NetworkDriver,
  NetworkDriverCapabilities,
  NetworkOptions,
  StaticRoute,
} from '../../core/driver/network-driver.js';
import type { Logger } from '../../core/log.js';
import { silentLogger } from '../../core/log.js';
import {
  endpointOptionsToWire,
  ipamDataToWire,
  NetworkMethod as M,
  NetworkReply as R,
  networkOptionsToWire,
} from '../protocol/network-driver.js';
import { isNotImplemented, type PluginClient } from './plugin-client.js';

const sub = { subsystem: 'NetworkDriver' } as const;

function isCidr(s: string): boolean {
  const [ip, len, ...rest] = s.split('/');
  if (rest.length || !ip || len === undefined || !/^\d{1,3}$/.test(len)) return false;
  const v = net.isIP(ip);
  return v !== 0 && Number(len) <= (v === 4 ? 32 : 128);
}

export class RemoteNetworkDriver implements NetworkDriver, ExternalConnectivity, GatewayAllocationChecker, EndpointInfoProvider, ClusterAware {
  readonly name: string;
  private caps?: NetworkDriverCapabilities;

  constructor(private readonly client: PluginClient, private readonly log: Logger = silentLogger) {
    this.name = client.name;
  }

  private async call(method: string, args: unknown): Promise<unknown> {
    return this.client.call(method, args, sub);
  }

  /** Registration: GetCapabilities is mandatory (dockerd: "could not resolve driver"). */
  async init(): Promise<this> {
    await this.getCapabilities();
    return this;
  }

  async getCapabilities(): Promise<NetworkDriverCapabilities> {
    if (this.caps) return this.caps;
    const r = this.client.parseReply(R.GetCapabilities, await this.client.call(M.GetCapabilities, undefined, sub), M.GetCapabilities);
    const caps: NetworkDriverCapabilities = { scope: r.Scope, connectivityScope: r.ConnectivityScope || r.Scope };
    if (r.GwAllocChecker) caps.gwAllocChecker = true;
    this.caps = caps;
    return caps;
  }

  async gwAllocCheck(options: NetworkOptions): Promise<{ skipIpv4: boolean; skipIpv6: boolean }> {
    if (!(await this.getCapabilities()).gwAllocChecker) return { skipIpv4: false, skipIpv6: false };
    const r = this.client.parseReply(R.GwAllocCheck, await this.call(M.GwAllocCheck, { Options: networkOptionsToWire(options) }), M.GwAllocCheck);
    return { skipIpv4: !!r.SkipIPv4, skipIpv6: !!r.SkipIPv6 };
  }

  async createNetwork(req: CreateNetworkRequest): Promise<void> {
    await this.call(M.CreateNetwork, {
      NetworkID: req.networkId,
      Options: networkOptionsToWire(req.options),
      IPv4Data: req.ipv4Data.map(ipamDataToWire),
      IPv6Data: req.ipv6Data.map(ipamDataToWire),
    });
  }

  async deleteNetwork(networkId: string): Promise<void> {
    await this.call(M.DeleteNetwork, { NetworkID: networkId });
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<EndpointInterface | undefined> {
    const i = req.interface;
    const body = await this.call(M.CreateEndpoint, {
      NetworkID: req.networkId,
      EndpointID: req.endpointId,
      Interface: { Address: i.address ?? '', AddressIPv6: i.addressIpv6 ?? '', MacAddress: i.macAddress ?? '' },
      Options: endpointOptionsToWire(req.options),
    });
    let out: EndpointInterface = {};
    try {
      const r = this.client.parseReply(R.CreateEndpoint, body, M.CreateEndpoint);
      const got = r.Interface ?? {};
      // Per field (§10.7): a value may fill only a field the request left empty; "" is ignored.
      const fields = [
        ['address', got.Address, 'address'],
        ['addressIpv6', got.AddressIPv6, 'IPv6 address'],
        ['macAddress', got.MacAddress, 'MAC address'],
      ] as const;
      for (const [key, value, what] of fields) {
        if (!value) continue;
        if (i[key]) throw new InternalError(`plugin ${this.name}: ${M.CreateEndpoint}: driver modified interface ${what}`);
        if (key !== 'macAddress' && !isCidr(value)) throw new InternalError(`plugin ${this.name}: ${M.CreateEndpoint}: Interface.${key === 'address' ? 'Address' : 'AddressIPv6'}: ${JSON.stringify(value)} is not a CIDR`);
        out = { ...out, [key]: value };
      }
    } catch (e) {
      await this.deleteEndpoint(req.networkId, req.endpointId).catch((re) => this.log.warn('roll back CreateEndpoint', { err: re }));
      throw e;
    }
    return Object.keys(out).length ? out : undefined;
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    await this.call(M.DeleteEndpoint, { NetworkID: networkId, EndpointID: endpointId });
  }

  async endpointOperInfo(networkId: string, endpointId: string): Promise<Record<string, unknown>> {
    // dockerd ignores any error here.
    try {
      const r = this.client.parseReply(R.EndpointOperInfo, await this.call(M.EndpointOperInfo, { NetworkID: networkId, EndpointID: endpointId }), M.EndpointOperInfo);
      return r.Value ?? {};
    } catch (e) {
      this.log.debug('EndpointOperInfo failed (ignored)', { err: e });
      return {};
    }
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const body = await this.call(M.Join, { NetworkID: req.networkId, EndpointID: req.endpointId, SandboxKey: req.sandboxKey, Options: endpointOptionsToWire(req.options) });
    try {
      return this.joinResponse(body);
    } catch (e) {
      await this.leave(req.networkId, req.endpointId).catch((re) => this.log.warn('roll back Join', { err: re }));
      throw e;
    }
  }

  private joinResponse(body: unknown): JoinResponse {
    const r = this.client.parseReply(R.Join, body, M.Join);
    const bad = (field: string, why: string) => new InternalError(`plugin ${this.name}: ${M.Join}: ${field}: ${why}`);
    if (!r.InterfaceName?.SrcName) throw bad('InterfaceName.SrcName', 'missing');
    const out: JoinResponse = { interfaceName: { srcName: r.InterfaceName.SrcName, dstPrefix: r.InterfaceName.DstPrefix } };
    if (r.Gateway) {
      if (net.isIP(r.Gateway) !== 4) throw bad('Gateway', `${JSON.stringify(r.Gateway)} is not an IPv4 address`);
      out.gateway = r.Gateway;
    }
    if (r.GatewayIPv6) {
      if (net.isIP(r.GatewayIPv6) !== 6) throw bad('GatewayIPv6', `${JSON.stringify(r.GatewayIPv6)} is not an IPv6 address`);
      out.gatewayIpv6 = r.GatewayIPv6;
    }
    if (r.StaticRoutes?.length) {
      out.staticRoutes = r.StaticRoutes.map((s, n): StaticRoute => {
        if (!isCidr(s.Destination)) throw bad(`StaticRoutes[${n}].Destination`, `${JSON.stringify(s.Destination)} is not a CIDR`);
        if (s.RouteType === 0 && (!s.NextHop || !net.isIP(s.NextHop))) throw bad(`StaticRoutes[${n}].NextHop`, 'required (an IP) for RouteType 0');
        const route: StaticRoute = { destination: s.Destination, routeType: s.RouteType };
        if (s.NextHop) route.nextHop = s.NextHop;
        return route;
      });
    }
    if (r.DisableGatewayService) out.disableGatewayService = true;
    return out;
  }

  async leave(networkId: string, endpointId: string): Promise<void> {
    await this.call(M.Leave, { NetworkID: networkId, EndpointID: endpointId });
  }

  async programExternalConnectivity(req: { networkId: string; endpointId: string; options: EndpointOptions }): Promise<void> {
    try {
      await this.call(M.ProgramExternalConnectivity, { NetworkID: req.networkId, EndpointID: req.endpointId, Options: endpointOptionsToWire(req.options) });
    } catch (e) {
      if (!isNotImplemented(e)) throw e;
    }
  }

  async revokeExternalConnectivity(networkId: string, endpointId: string): Promise<void> {
    try {
      await this.call(M.RevokeExternalConnectivity, { NetworkID: networkId, EndpointID: endpointId });
    } catch (e) {
      if (!isNotImplemented(e)) throw e;
    }
  }

  async discoverNew(type: number, data: Record<string, unknown>): Promise<void> {
    await this.call(M.DiscoverNew, { DiscoveryType: type, DiscoveryData: data }).catch((e) => this.log.warn('DiscoverNew failed (ignored)', { err: e }));
  }

  async discoverDelete(type: number, data: Record<string, unknown>): Promise<void> {
    await this.call(M.DiscoverDelete, { DiscoveryType: type, DiscoveryData: data }).catch((e) => this.log.warn('DiscoverDelete failed (ignored)', { err: e }));
  }

  async allocateNetwork(req: { networkId: string; options: Record<string, string>; ipv4Data: IpamData[]; ipv6Data: IpamData[] }): Promise<Record<string, string>> {
    const body = await this.call(M.AllocateNetwork, {
      NetworkID: req.networkId,
      Options: req.options,
      IPv4Data: req.ipv4Data.map(ipamDataToWire),
      IPv6Data: req.ipv6Data.length ? req.ipv6Data.map(ipamDataToWire) : null,
    });
    return this.client.parseReply(R.AllocateNetwork, body, M.AllocateNetwork).Options ?? {};
  }

  async freeNetwork(networkId: string): Promise<void> {
    await this.call(M.FreeNetwork, { NetworkID: networkId });
  }
}
