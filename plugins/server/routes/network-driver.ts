// plugins/server/routes/network-driver.ts — NetworkDriver.* → a core NetworkDriver. Optional
// capabilities the driver lacks answer 404, which dockerd reads as "not implemented" (§2.5).

import { NotImplementedError } from '../../../core/errors.js';
import {
  hasEndpointInfo,
  hasExternalConnectivity,
  hasGatewayAllocationChecker,
  isClusterAware,
  type NetworkDriver,
} from '../../../core/driver/network-driver.js';
import {
  endpointOptionsFromWire,
  ipamDataFromWire,
  NetworkMethod as M,
  NetworkRequest as Q,
  networkOptionsFromWire,
} from '../../protocol/network-driver.js';
import { omitEmpty, parseWire } from '../../protocol/wire.js';
import type { Route, RouteTable } from './route.js';

function route(handle: (body: unknown) => Promise<Record<string, unknown>>): Route {
  return { subsystem: 'NetworkDriver', handle: ({ body }) => handle(body) };
}

const notImplemented = (method: string) => new NotImplementedError(`${method}: not implemented by this driver`);

export function networkRoutes(d: NetworkDriver): RouteTable {
  return new Map<string, Route>([
    [M.GetCapabilities, route(async (b) => {
      parseWire(Q.GetCapabilities, b, '');
      const c = await d.getCapabilities();
      return { Scope: c.scope, ConnectivityScope: c.connectivityScope, GwAllocChecker: !!c.gwAllocChecker && hasGatewayAllocationChecker(d) };
    })],
    [M.GwAllocCheck, route(async (b) => {
      const r = parseWire(Q.GwAllocCheck, b, '');
      if (!hasGatewayAllocationChecker(d)) throw notImplemented(M.GwAllocCheck);
      const s = await d.gwAllocCheck(networkOptionsFromWire(r.Options, ''));
      return { SkipIPv4: s.skipIpv4, SkipIPv6: s.skipIpv6 };
    })],
    [M.CreateNetwork, route(async (b) => {
      const r = parseWire(Q.CreateNetwork, b, '');
      await d.createNetwork({
        networkId: r.NetworkID,
        options: networkOptionsFromWire(r.Options, ''),
        ipv4Data: (r.IPv4Data ?? []).map(ipamDataFromWire),
        ipv6Data: (r.IPv6Data ?? []).map(ipamDataFromWire),
      });
      return {};
    })],
    [M.DeleteNetwork, route(async (b) => {
      await d.deleteNetwork(parseWire(Q.DeleteNetwork, b, '').NetworkID);
      return {};
    })],
    [M.AllocateNetwork, route(async (b) => {
      const r = parseWire(Q.AllocateNetwork, b, '');
      if (!isClusterAware(d) || !d.allocateNetwork) throw notImplemented(M.AllocateNetwork);
      const options = await d.allocateNetwork({
        networkId: r.NetworkID,
        options: r.Options ?? {},
        ipv4Data: (r.IPv4Data ?? []).map(ipamDataFromWire),
        ipv6Data: (r.IPv6Data ?? []).map(ipamDataFromWire),
      });
      return { Options: options };
    })],
    [M.FreeNetwork, route(async (b) => {
      const r = parseWire(Q.FreeNetwork, b, '');
      if (!isClusterAware(d) || !d.freeNetwork) throw notImplemented(M.FreeNetwork);
      await d.freeNetwork(r.NetworkID);
      return {};
    })],
    [M.CreateEndpoint, route(async (b) => {
      const r = parseWire(Q.CreateEndpoint, b, '');
      const i = r.Interface ?? {};
      const iface = omitEmpty({ address: i.Address, addressIpv6: i.AddressIPv6, macAddress: i.MacAddress });
      const out = await d.createEndpoint({
        networkId: r.NetworkID,
        endpointId: r.EndpointID,
        interface: iface,
        options: endpointOptionsFromWire(r.Options, ''),
      });
      if (!out) return {};
      const reply = omitEmpty({ Address: out.address, AddressIPv6: out.addressIpv6, MacAddress: out.macAddress });
      return Object.keys(reply).length ? { Interface: reply } : {};
    })],
    [M.EndpointOperInfo, route(async (b) => {
      const r = parseWire(Q.EndpointOperInfo, b, '');
      return { Value: hasEndpointInfo(d) ? await d.endpointOperInfo(r.NetworkID, r.EndpointID) : {} };
    })],
    [M.DeleteEndpoint, route(async (b) => {
      const r = parseWire(Q.DeleteEndpoint, b, '');
      await d.deleteEndpoint(r.NetworkID, r.EndpointID);
      return {};
    })],
    [M.Join, route(async (b) => {
      const r = parseWire(Q.Join, b, '');
      const j = await d.join({ networkId: r.NetworkID, endpointId: r.EndpointID, sandboxKey: r.SandboxKey, options: endpointOptionsFromWire(r.Options, '') });
      const reply: Record<string, unknown> = {
        InterfaceName: { SrcName: j.interfaceName.srcName, DstPrefix: j.interfaceName.dstPrefix },
        ...omitEmpty({ Gateway: j.gateway, GatewayIPv6: j.gatewayIpv6 }),
      };
      if (j.staticRoutes?.length) {
        reply.StaticRoutes = j.staticRoutes.map((s) => ({ Destination: s.destination, RouteType: s.routeType, ...omitEmpty({ NextHop: s.nextHop }) }));
      }
      if (j.disableGatewayService) reply.DisableGatewayService = true;
      return reply;
    })],
    [M.Leave, route(async (b) => {
      const r = parseWire(Q.Leave, b, '');
      await d.leave(r.NetworkID, r.EndpointID);
      return {};
    })],
    [M.ProgramExternalConnectivity, route(async (b) => {
      const r = parseWire(Q.ProgramExternalConnectivity, b, '');
      if (!hasExternalConnectivity(d)) throw notImplemented(M.ProgramExternalConnectivity);
      await d.programExternalConnectivity({ networkId: r.NetworkID, endpointId: r.EndpointID, options: endpointOptionsFromWire(r.Options, '') });
      return {};
    })],
    [M.RevokeExternalConnectivity, route(async (b) => {
      const r = parseWire(Q.RevokeExternalConnectivity, b, '');
      if (!hasExternalConnectivity(d)) throw notImplemented(M.RevokeExternalConnectivity);
      await d.revokeExternalConnectivity(r.NetworkID, r.EndpointID);
      return {};
    })],
    [M.DiscoverNew, route(async (b) => {
      const r = parseWire(Q.DiscoverNew, b, '');
      if (!isClusterAware(d)) throw notImplemented(M.DiscoverNew);
      await d.discoverNew(r.DiscoveryType, asRecord(r.DiscoveryData));
      return {};
    })],
    [M.DiscoverDelete, route(async (b) => {
      const r = parseWire(Q.DiscoverDelete, b, '');
      if (!isClusterAware(d)) throw notImplemented(M.DiscoverDelete);
      await d.discoverDelete(r.DiscoveryType, asRecord(r.DiscoveryData));
      return {};
    })],
  ]);
}

function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
