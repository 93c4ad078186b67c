// plugins/protocol/volume-driver.ts — the VolumeDriver wire (plugin-protocol.md §6), including the
// per-call timeouts dockerd applies to volume calls. Shared by client and server.

import { z } from 'zod';
import type { VolumeInfo } from '../../core/driver/volume-driver.js';
import { anyMap, stringMap, wireReply, wireRequest } from './wire.js';

export const VolumeMethod = {
  Create: 'VolumeDriver.Create',
  Remove: 'VolumeDriver.Remove',
  Mount: 'VolumeDriver.Mount',
  Unmount: 'VolumeDriver.Unmount',
  Path: 'VolumeDriver.Path',
  Get: 'VolumeDriver.Get',
  List: 'VolumeDriver.List',
  Capabilities: 'VolumeDriver.Capabilities',
} as const;

/** dockerd's per-request contexts for volume calls (§2.6): Create and Mount 2 min, the rest 1 min. */
export const VOLUME_TIMEOUTS_MS: Record<string, number> = {
  [VolumeMethod.Create]: 120_000,
  [VolumeMethod.Mount]: 120_000,
  [VolumeMethod.Remove]: 60_000,
  [VolumeMethod.Unmount]: 60_000,
  [VolumeMethod.Path]: 60_000,
  [VolumeMethod.Get]: 60_000,
  [VolumeMethod.List]: 60_000,
  [VolumeMethod.Capabilities]: 60_000,
};

const name = z.string().min(1, 'must not be empty');
const err = z.string().optional();

export const VolumeRequest = {
  Create: wireRequest({ Name: name, Opts: stringMap }),
  Remove: wireRequest({ Name: name }),
  Mount: wireRequest({ Name: name, ID: z.string() }),
  Unmount: wireRequest({ Name: name, ID: z.string() }),
  Path: wireRequest({ Name: name }),
  Get: wireRequest({ Name: name }),
  List: wireRequest({}),
  Capabilities: wireRequest({}),
} as const;

/** CreatedAt must be omitted or RFC 3339: Go fails the whole reply on "" (§6, §10.10). */
const rfc3339 = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, 'must be an RFC 3339 timestamp or absent');

export const VolumeWire = wireReply({ Name: z.string(), Mountpoint: z.string().optional(), CreatedAt: rfc3339.optional(), Status: anyMap });
export type VolumeWire = z.output<typeof VolumeWire>;

export const VolumeReply = {
  Mount: wireReply({ Mountpoint: z.string(), Err: err }),
  Path: wireReply({ Mountpoint: z.string().optional(), Err: err }),
  Get: wireReply({ Volume: VolumeWire.nullish(), Err: err }),
  List: wireReply({ Volumes: z.array(VolumeWire).nullish(), Err: err }),
  Capabilities: wireReply({ Capabilities: wireReply({ Scope: z.string().optional() }).nullish(), Err: err }),
  Empty: wireReply({ Err: err }),
} as const;

/** Opts map to a plain record ({} for null). */
export function volumeOptsFromWire(o: z.output<typeof stringMap>): Record<string, string> {
  return o ?? {};
}

export function volumeToWire(v: VolumeInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { Name: v.name };
  if (v.mountpoint) out.Mountpoint = v.mountpoint;
  if (v.createdAt) out.CreatedAt = v.createdAt;
  if (v.status && Object.keys(v.status).length) out.Status = v.status;
  return out;
}

export function volumeFromWire(v: VolumeWire): VolumeInfo {
  const out: VolumeInfo = { name: v.Name };
  if (v.Mountpoint) out.mountpoint = v.Mountpoint;
  if (v.CreatedAt) out.createdAt = v.CreatedAt;
  if (v.Status && Object.keys(v.Status).length) out.status = v.Status;
  return out;
}

/** Empty or unknown scope reads as local (§6). */
export function volumeScopeFromWire(scope: string | undefined): 'local' | 'global' {
  return scope?.toLowerCase() === 'global' ? 'global' : 'local';
}
