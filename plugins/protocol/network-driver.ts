// plugins/protocol/network-driver.ts — the NetworkDriver wire (libnetwork's remote driver API,
// plugin-protocol.md §3): method names, request/reply schemas, and the translation between the
// wire's option maps and core's typed NetworkOptions / EndpointOptions. Shared by client and server.

import { z } from 'zod';
import { InvalidArgumentError } from '../../core/errors.js';
import type {
  EndpointOptions,
  ExposedPort,
  IpamData,
  NetworkOptions,
  PortBinding,
  PortProtocol,
} from '../../core/driver/network-driver.js';
import { anyMap, label, parseWire, stringMap, wireReply, wireRequest } from './wire.js';

export const NetworkMethod = {
  GetCapabilities: 'NetworkDriver.GetCapabilities',
  GwAllocCheck: 'NetworkDriver.GwAllocCheck',
  CreateNetwork: 'NetworkDriver.CreateNetwork',
  DeleteNetwork: 'NetworkDriver.DeleteNetwork',
  AllocateNetwork: 'NetworkDriver.AllocateNetwork',
  FreeNetwork: 'NetworkDriver.FreeNetwork',
  CreateEndpoint: 'NetworkDriver.CreateEndpoint',
  EndpointOperInfo: 'NetworkDriver.EndpointOperInfo',
  DeleteEndpoint: 'NetworkDriver.DeleteEndpoint',
  Join: 'NetworkDriver.Join',
  Leave: 'NetworkDriver.Leave',
  ProgramExternalConnectivity: 'NetworkDriver.ProgramExternalConnectivity',
  RevokeExternalConnectivity: 'NetworkDriver.RevokeExternalConnectivity',
  DiscoverNew: 'NetworkDriver.DiscoverNew',
  DiscoverDelete: 'NetworkDriver.DiscoverDelete',
} as const;

/** Option keys dockerd uses (libnetwork netlabel). */
export const NetLabel = {
  generic: 'com.docker.network.generic',
  enableIpv4: 'com.docker.network.enable_ipv4',
  enableIpv6: 'com.docker.network.enable_ipv6',
  internal: 'com.docker.network.internal',
  macAddress: 'com.docker.network.endpoint.macaddress',
  exposedPorts: 'com.docker.network.endpoint.exposedports',
  portMap: 'com.docker.network.portmap',
  dnsServers: 'com.docker.network.endpoint.dnsservers',
  ifname: 'com.docker.network.endpoint.ifname',
} as const;

const id = z.string().min(1, 'must not be empty');
const err = z.string().optional();

/** IPAMData: Gateway and AuxAddresses are CIDR strings (§10.7), absent when unset. */
export const IpamDataWire = wireRequest({
  AddressSpace: z.string(),
  Pool: z.string(),
  Gateway: z.string().optional(),
  AuxAddresses: stringMap,
});
export type IpamDataWire = z.output<typeof IpamDataWire>;
const ipamList = z.array(IpamDataWire).nullish();

const netEp = { NetworkID: id, EndpointID: id };
const ifaceShape = { Address: z.string().optional(), AddressIPv6: z.string().optional(), MacAddress: z.string().optional() };

export const NetworkRequest = {
  GetCapabilities: wireRequest({}),
  GwAllocCheck: wireRequest({ Options: anyMap }),
  CreateNetwork: wireRequest({ NetworkID: id, Options: anyMap, IPv4Data: ipamList, IPv6Data: ipamList }),
  DeleteNetwork: wireRequest({ NetworkID: id }),
  AllocateNetwork: wireRequest({ NetworkID: id, Options: stringMap, IPv4Data: ipamList, IPv6Data: ipamList }),
  FreeNetwork: wireRequest({ NetworkID: id }),
  CreateEndpoint: wireRequest({ ...netEp, Interface: wireRequest(ifaceShape).nullish(), Options: anyMap }),
  EndpointOperInfo: wireRequest(netEp),
  DeleteEndpoint: wireRequest(netEp),
  Join: wireRequest({ ...netEp, SandboxKey: z.string(), Options: anyMap }),
  Leave: wireRequest(netEp),
  ProgramExternalConnectivity: wireRequest({ ...netEp, Options: anyMap }),
  RevokeExternalConnectivity: wireRequest(netEp),
  DiscoverNew: wireRequest({ DiscoveryType: z.number().int(), DiscoveryData: z.unknown() }),
  DiscoverDelete: wireRequest({ DiscoveryType: z.number().int(), DiscoveryData: z.unknown() }),
} as const;

const scope = z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(['local', 'global']));

export const NetworkReply = {
  GetCapabilities: wireReply({
    Scope: scope,
    // Empty ConnectivityScope means "same as Scope" (§3.3).
    ConnectivityScope: z.union([z.literal(''), scope]).optional(),
    GwAllocChecker: z.boolean().optional(),
    Err: err,
  }),
  GwAllocCheck: wireReply({ SkipIPv4: z.boolean().optional(), SkipIPv6: z.boolean().optional(), Err: err }),
  AllocateNetwork: wireReply({ Options: stringMap, Err: err }),
  CreateEndpoint: wireReply({ Interface: wireReply(ifaceShape).nullish(), Err: err }),
  EndpointOperInfo: wireReply({ Value: anyMap, Err: err }),
  Join: wireReply({
    InterfaceName: wireReply({ SrcName: z.string(), DstPrefix: z.string(), DstName: z.string().optional() }).nullish(),
    Gateway: z.string().optional(),
    GatewayIPv6: z.string().optional(),
    StaticRoutes: z
      .array(wireReply({ Destination: z.string(), RouteType: z.union([z.literal(0), z.literal(1)]), NextHop: z.string().optional() }))
      .nullish(),
    DisableGatewayService: z.boolean().optional(),
    Err: err,
  }),
  /** Every call whose reply carries nothing but the error field. */
  Empty: wireReply({ Err: err }),
} as const;

// ---- translation: IPAMData -------------------------------------------------------------------

export function ipamDataToWire(d: IpamData): IpamDataWire {
  const out: IpamDataWire = { AddressSpace: d.addressSpace, Pool: d.pool };
  if (d.gateway) out.Gateway = d.gateway;
  if (d.auxAddresses && Object.keys(d.auxAddresses).length) out.AuxAddresses = d.auxAddresses;
  return out;
}

export function ipamDataFromWire(d: IpamDataWire): IpamData {
  const out: IpamData = { addressSpace: d.AddressSpace, pool: d.Pool };
  if (d.Gateway) out.gateway = d.Gateway;
  if (d.AuxAddresses && Object.keys(d.AuxAddresses).length) out.auxAddresses = d.AuxAddresses;
  return out;
}

// ---- translation: network options ------------------------------------------------------------

export function networkOptionsToWire(o: NetworkOptions): Record<string, unknown> {
  return {
    ...(o.extra ?? {}),
    [NetLabel.generic]: o.generic,
    [NetLabel.enableIpv4]: o.enableIpv4,
    [NetLabel.enableIpv6]: o.enableIpv6,
    [NetLabel.internal]: o.internal,
  };
}

const boolOption = z.boolean().optional();

export function networkOptionsFromWire(wire: Record<string, unknown> | null | undefined, what: string): NetworkOptions {
  const w = wire ?? {};
  const known = parseWire(
    z.object({
      [NetLabel.generic]: z.record(z.string(), z.string()).nullish(),
      [NetLabel.enableIpv4]: boolOption,
      [NetLabel.enableIpv6]: boolOption,
      [NetLabel.internal]: boolOption,
    }),
    w,
    label(what, 'Options'),
  );
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(w)) if (!(k in known)) extra[k] = v;
  const out: NetworkOptions = {
    generic: known[NetLabel.generic] ?? {},
    enableIpv4: known[NetLabel.enableIpv4] ?? true,
    enableIpv6: known[NetLabel.enableIpv6] ?? false,
    internal: known[NetLabel.internal] ?? false,
  };
  if (Object.keys(extra).length) out.extra = extra;
  return out;
}

// ---- translation: endpoint / sandbox options --------------------------------------------------

const protoByNumber: Record<number, PortProtocol> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const numberByProto: Record<PortProtocol, number> = { tcp: 6, udp: 17, sctp: 132 };

const protoNumber = z.number().int().refine((n) => n in protoByNumber, 'protocol must be 6 (tcp), 17 (udp) or 132 (sctp)');
const port = z.number().int().min(0).max(65535);
const ExposedPortWire = wireRequest({ Proto: protoNumber, Port: port });
const PortBindingWire = wireRequest({
  Proto: protoNumber,
  IP: z.string().optional(),
  Port: port,
  HostIP: z.string().optional(),
  HostPort: port.optional(),
  HostPortEnd: port.optional(),
});

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * dockerd marshals a requested MAC (net.HardwareAddr) as base64 of the 6 bytes; Go issue 29678
 * moves it to "aa:bb:…" text. Accept both, return the text form.
 */
export function macFromWire(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new InvalidArgumentError(`${what}: expected string, got ${v === null ? 'null' : typeof v}`);
  if (MAC_RE.test(v)) return v.toLowerCase();
  const bytes = /^[A-Za-z0-9+/]{8}$/.test(v) ? Buffer.from(v, 'base64') : undefined;
  if (bytes?.length === 6) return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
  throw new InvalidArgumentError(`${what}: ${JSON.stringify(v)} is not a MAC address (aa:bb:cc:dd:ee:ff or base64 of 6 bytes)`);
}

export function endpointOptionsToWire(o: EndpointOptions): Record<string, unknown> {
  const w: Record<string, unknown> = { ...(o.extra ?? {}), ...(o.generic ?? {}) };
  if (o.exposedPorts) w[NetLabel.exposedPorts] = o.exposedPorts.map((p) => ({ Proto: numberByProto[p.proto], Port: p.port }));
  if (o.portBindings) {
    w[NetLabel.portMap] = o.portBindings.map((b) => ({
      Proto: numberByProto[b.proto], IP: b.ip, Port: b.port, HostIP: b.hostIp, HostPort: b.hostPort, HostPortEnd: b.hostPortEnd,
    }));
  }
  if (o.dnsServers) w[NetLabel.dnsServers] = o.dnsServers;
  if (o.ifname) w[NetLabel.ifname] = o.ifname;
  if (o.macAddress) w[NetLabel.macAddress] = o.macAddress;
  return w;
}

const endpointKnown = new Set<string>([NetLabel.exposedPorts, NetLabel.portMap, NetLabel.dnsServers, NetLabel.ifname, NetLabel.macAddress]);

/**
 * Options of CreateEndpoint / Join / ProgramExternalConnectivity. Known keys are typed; other
 * string values are the user's `--driver-opt` (generic), anything else is kept in `extra`.
 */
export function endpointOptionsFromWire(wire: Record<string, unknown> | null | undefined, what: string): EndpointOptions {
  const w = wire ?? {};
  const out: EndpointOptions = {};
  const at = (k: string) => label(what, `Options["${k}"]`);
  const exposed = w[NetLabel.exposedPorts];
  if (exposed !== undefined && exposed !== null) {
    out.exposedPorts = parseWire(z.array(ExposedPortWire), exposed, at(NetLabel.exposedPorts)).map(
      (p): ExposedPort => ({ proto: protoByNumber[p.Proto]!, port: p.Port }),
    );
  }
  const portMap = w[NetLabel.portMap];
  if (portMap !== undefined && portMap !== null) {
    out.portBindings = parseWire(z.array(PortBindingWire), portMap, at(NetLabel.portMap)).map(
      (b): PortBinding => ({
        proto: protoByNumber[b.Proto]!,
        ip: b.IP ?? '',
        port: b.Port,
        hostIp: b.HostIP ?? '',
        hostPort: b.HostPort ?? 0,
        hostPortEnd: b.HostPortEnd || b.HostPort || 0,
      }),
    );
  }
  const dns = w[NetLabel.dnsServers];
  if (dns !== undefined && dns !== null) out.dnsServers = parseWire(z.array(z.string()), dns, at(NetLabel.dnsServers));
  const ifname = w[NetLabel.ifname];
  if (ifname !== undefined && ifname !== null && ifname !== '') out.ifname = parseWire(z.string(), ifname, at(NetLabel.ifname));
  const mac = w[NetLabel.macAddress];
  if (mac !== undefined && mac !== null && mac !== '') out.macAddress = macFromWire(mac, at(NetLabel.macAddress));
  const generic: Record<string, string> = {};
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(w)) {
    if (endpointKnown.has(k)) continue;
    if (typeof v === 'string') generic[k] = v;
    else extra[k] = v;
  }
  if (Object.keys(generic).length) out.generic = generic;
  if (Object.keys(extra).length) out.extra = extra;
  return out;
}
