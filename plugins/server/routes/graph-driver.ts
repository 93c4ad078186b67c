// plugins/server/routes/graph-driver.ts — GraphDriver.* → a core GraphDriver. Diff answers with the
// raw tar stream; ApplyDiff reads the raw (chunked) request body, with id/parent in the query.

import type { GraphDriver } from '../../../core/driver/graph-driver.js';
import { GraphMethod as M, GraphRequest as Q, idMapFromWire } from '../../protocol/graph-driver.js';
import { omitEmpty, parseWire } from '../../protocol/wire.js';
import type { Route, RouteResult, RouteTable } from './route.js';

function route(handle: (body: unknown) => Promise<RouteResult>): Route {
  return { subsystem: 'GraphDriver', handle: ({ body }) => handle(body) };
}

export function graphRoutes(d: GraphDriver): RouteTable {
  const layer = (b: unknown) => parseWire(Q.Layer, b, '');
  const createOpts = (r: ReturnType<typeof layer>) => omitEmpty({ mountLabel: r.MountLabel, storageOpt: r.StorageOpt ?? undefined });
  return new Map<string, Route>([
    [M.Init, route(async (b) => {
      const r = parseWire(Q.Init, b, '');
      await d.init({ home: r.Home, options: r.Opts ?? [], uidMaps: (r.UIDMaps ?? []).map(idMapFromWire), gidMaps: (r.GIDMaps ?? []).map(idMapFromWire) });
      return {};
    })],
    [M.Capabilities, route(async (b) => {
      parseWire(Q.Empty, b, '');
      return { Capabilities: { ReproducesExactDiffs: (await d.capabilities()).reproducesExactDiffs } };
    })],
    [M.Create, route(async (b) => {
      const r = layer(b);
      await d.create(r.ID, r.Parent ?? '', createOpts(r));
      return {};
    })],
    [M.CreateReadWrite, route(async (b) => {
      const r = layer(b);
      await d.createReadWrite(r.ID, r.Parent ?? '', createOpts(r));
      return {};
    })],
    [M.Remove, route(async (b) => {
      await d.remove(layer(b).ID);
      return {};
    })],
    [M.Get, route(async (b) => {
      const r = layer(b);
      return { Dir: await d.get(r.ID, r.MountLabel || undefined) };
    })],
    [M.Put, route(async (b) => {
      await d.put(layer(b).ID);
      return {};
    })],
    [M.Exists, route(async (b) => ({ Exists: await d.exists(layer(b).ID) }))],
    [M.Status, route(async (b) => {
      parseWire(Q.Empty, b, '');
      return { Status: await d.status() };
    })],
    [M.GetMetadata, route(async (b) => ({ Metadata: await d.getMetadata(layer(b).ID) }))],
    [M.Cleanup, route(async (b) => {
      parseWire(Q.Empty, b, '');
      await d.cleanup();
      return {};
    })],
    [M.Diff, route(async (b) => {
      const r = layer(b);
      return { stream: await d.diff(r.ID, r.Parent ?? ''), contentType: 'application/x-tar' };
    })],
    [M.Changes, route(async (b) => {
      const r = layer(b);
      return { Changes: (await d.changes(r.ID, r.Parent ?? '')).map((c) => ({ Path: c.path, Kind: c.kind })) };
    })],
    [M.DiffSize, route(async (b) => {
      const r = layer(b);
      return { Size: await d.diffSize(r.ID, r.Parent ?? '') };
    })],
    [M.ApplyDiff, {
      subsystem: 'GraphDriver',
      rawBody: true,
      async handle({ query, req }) {
        const q = parseWire(Q.ApplyDiffQuery, Object.fromEntries(query), 'query');
        return { Size: await d.applyDiff(q.id, q.parent ?? '', req) };
      },
    }],
  ]);
}
