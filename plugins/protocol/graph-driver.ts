// plugins/protocol/graph-driver.ts — the GraphDriver wire (plugin-protocol.md §5). Removed from
// dockerd v28; served for dockerd ≤ 27 (experimental) and used by tsd's own core. Diff replies and
// ApplyDiff requests are raw tar streams; everything else is JSON. Shared by client and server.

import { z } from 'zod';
import type { IdMap } from '../../core/driver/graph-driver.js';
import { stringMap, wireReply, wireRequest } from './wire.js';

export const GraphMethod = {
  Init: 'GraphDriver.Init',
  Capabilities: 'GraphDriver.Capabilities',
  Create: 'GraphDriver.Create',
  CreateReadWrite: 'GraphDriver.CreateReadWrite',
  Remove: 'GraphDriver.Remove',
  Get: 'GraphDriver.Get',
  Put: 'GraphDriver.Put',
  Exists: 'GraphDriver.Exists',
  Status: 'GraphDriver.Status',
  GetMetadata: 'GraphDriver.GetMetadata',
  Cleanup: 'GraphDriver.Cleanup',
  Diff: 'GraphDriver.Diff',
  Changes: 'GraphDriver.Changes',
  ApplyDiff: 'GraphDriver.ApplyDiff',
  DiffSize: 'GraphDriver.DiffSize',
} as const;

/** UID/GID map entries use lower-snake keys on the wire (§10.9), not ContainerID/HostID/Size. */
const IdMapWire = wireRequest({ container_id: z.number().int(), host_id: z.number().int(), size: z.number().int() });

/** dockerd's one request struct for every ID-based call; all fields omitempty. */
const layerRequest = wireRequest({
  ID: z.string().min(1, 'must not be empty'),
  Parent: z.string().optional(),
  MountLabel: z.string().optional(),
  StorageOpt: stringMap,
});

export const GraphRequest = {
  Init: wireRequest({ Home: z.string().min(1, 'must not be empty'), Opts: z.array(z.string()).nullish(), UIDMaps: z.array(IdMapWire).nullish(), GIDMaps: z.array(IdMapWire).nullish() }),
  Empty: wireRequest({}),
  Layer: layerRequest,
  /** ApplyDiff's query string: `?id=<ID>&parent=<PARENT>` (parent may be empty). */
  ApplyDiffQuery: wireRequest({ id: z.string().min(1, 'must not be empty'), parent: z.string().optional() }),
} as const;

const err = z.string().optional();
const size = z.number().int().min(0);

export const GraphReply = {
  /** The flag is nested under "Capabilities" (§10.9); dockerd ignores a top-level one. */
  Capabilities: wireReply({ Capabilities: wireReply({ ReproducesExactDiffs: z.boolean().optional() }).nullish(), Err: err }),
  Get: wireReply({ Dir: z.string().min(1, 'must not be empty'), Err: err }),
  Exists: wireReply({ Exists: z.boolean().optional(), Err: err }),
  Status: wireReply({ Status: z.array(z.tuple([z.string(), z.string()])).nullish(), Err: err }),
  GetMetadata: wireReply({ Metadata: stringMap, Err: err }),
  Changes: wireReply({ Changes: z.array(wireReply({ Path: z.string(), Kind: z.union([z.literal(0), z.literal(1), z.literal(2)]) })).nullish(), Err: err }),
  Size: wireReply({ Size: size.optional(), Err: err }),
  Empty: wireReply({ Err: err }),
} as const;

export function idMapToWire(m: IdMap): { container_id: number; host_id: number; size: number } {
  return { container_id: m.containerId, host_id: m.hostId, size: m.size };
}

export function idMapFromWire(m: { container_id: number; host_id: number; size: number }): IdMap {
  return { containerId: m.container_id, hostId: m.host_id, size: m.size };
}
