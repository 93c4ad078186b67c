// plugins/server/routes/volume-driver.ts — VolumeDriver.* → a core VolumeDriver.

import type { VolumeDriver } from '../../../core/driver/volume-driver.js';
import { VolumeMethod as M, VolumeRequest as Q, volumeOptsFromWire, volumeToWire } from '../../protocol/volume-driver.js';
import { parseWire } from '../../protocol/wire.js';
import type { Route, RouteTable } from './route.js';

function route(handle: (body: unknown) => Promise<Record<string, unknown>>): Route {
  return { subsystem: 'VolumeDriver', handle: ({ body }) => handle(body) };
}

export function volumeRoutes(d: VolumeDriver): RouteTable {
  return new Map<string, Route>([
    [M.Create, route(async (b) => {
      const r = parseWire(Q.Create, b, '');
      await d.create(r.Name, volumeOptsFromWire(r.Opts));
      return {};
    })],
    [M.Remove, route(async (b) => {
      await d.remove(parseWire(Q.Remove, b, '').Name);
      return {};
    })],
    [M.Mount, route(async (b) => {
      const r = parseWire(Q.Mount, b, '');
      return { Mountpoint: await d.mount(r.Name, r.ID) };
    })],
    [M.Unmount, route(async (b) => {
      const r = parseWire(Q.Unmount, b, '');
      await d.unmount(r.Name, r.ID);
      return {};
    })],
    [M.Path, route(async (b) => ({ Mountpoint: await d.path(parseWire(Q.Path, b, '').Name) }))],
    [M.Get, route(async (b) => ({ Volume: volumeToWire(await d.get(parseWire(Q.Get, b, '').Name)) }))],
    [M.List, route(async (b) => {
      parseWire(Q.List, b, '');
      return { Volumes: (await d.list()).map(volumeToWire) };
    })],
    [M.Capabilities, route(async (b) => {
      parseWire(Q.Capabilities, b, '');
      return { Capabilities: { Scope: (await d.capabilities()).scope } };
    })],
  ]);
}
