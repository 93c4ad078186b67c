// core/api/schemas.ts — the request bodies tsd's API accepts, as zod schemas (Docker's field
// names). Unknown fields are rejected; fields the docker CLI sends that tsd ignores are listed.

import { z } from 'zod';
import { strList, strMap } from './validate.js';

export const IpamConfigSchema = z.strictObject({
  Subnet: z.string().nullish(),
  IPRange: z.string().nullish(),
  Gateway: z.string().nullish(),
  AuxiliaryAddresses: strMap,
  AuxAddress: strMap, // older docker CLIs
});

export const NetworkCreateSchema = z.strictObject({
  Name: z.string(),
  CheckDuplicate: z.boolean().nullish(), // always true since Docker 23; accepted, ignored
  Driver: z.string().nullish(),
  Scope: z.string().nullish(),
  EnableIPv4: z.boolean().nullish(),
  EnableIPv6: z.boolean().nullish(),
  IPAM: z
    .strictObject({ Driver: z.string().nullish(), Config: z.array(IpamConfigSchema).nullish(), Options: strMap })
    .nullish(),
  Internal: z.boolean().nullish(),
  Attachable: z.boolean().nullish(),
  Ingress: z.boolean().nullish(),
  ConfigOnly: z.boolean().nullish(),
  ConfigFrom: z.strictObject({ Network: z.string() }).nullish(),
  Options: strMap,
  Labels: strMap,
});

export const EndpointSettingsSchema = z.strictObject({
  IPAMConfig: z
    .strictObject({ IPv4Address: z.string().nullish(), IPv6Address: z.string().nullish(), LinkLocalIPs: strList })
    .nullish(),
  Links: strList,
  Aliases: strList,
  DNSNames: strList,
  MacAddress: z.string().nullish(),
  DriverOpts: strMap,
  GwPriority: z.number().int().nullish(),
  // Output-only fields the docker CLI echoes back; ignored.
  NetworkID: z.string().nullish(),
  EndpointID: z.string().nullish(),
  Gateway: z.string().nullish(),
  IPAddress: z.string().nullish(),
  IPPrefixLen: z.number().nullish(),
  IPv6Gateway: z.string().nullish(),
  GlobalIPv6Address: z.string().nullish(),
  GlobalIPv6PrefixLen: z.number().nullish(),
});

export const NetworkConnectSchema = z.strictObject({
  Container: z.string().min(1, 'must name a sandbox'),
  EndpointConfig: EndpointSettingsSchema.nullish(),
  // tsd-only: ports to publish for this endpoint, in Docker's HostConfig.PortBindings shape.
  PortBindings: z.record(z.string(), z.array(z.strictObject({ HostIp: z.string().nullish(), HostPort: z.string().nullish() })).nullish()).nullish(),
});

export const NetworkDisconnectSchema = z.strictObject({
  Container: z.string().min(1, 'must name a sandbox'),
  Force: z.boolean().nullish(),
});

export const VolumeCreateSchema = z.strictObject({
  Name: z.string().nullish(),
  Driver: z.string().nullish(),
  DriverOpts: strMap,
  Labels: strMap,
});

export const SandboxCreateSchema = z.strictObject({
  Name: z.string(),
  NetnsPath: z.string().nullish(),
  Pid: z.number().int().positive().nullish(),
  Hostname: z.string().nullish(),
  Dns: strList,
  DnsSearch: strList,
  DnsOptions: strList,
  Labels: strMap,
  // A layer id: the sandbox gets a read-write root filesystem on top of it.
  RootFs: z.string().nullish(),
  // "NAME:/path[:ro|rw]" named volumes bound inside the root.
  Volumes: strList,
});

/** Bodies of POST routes that take none: anything but an empty object is a mistake. */
export const EmptySchema = z.strictObject({});
