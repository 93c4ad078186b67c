// core/api/routes/system.ts — /_ping, /version and /info: what the docker CLI asks first to
// negotiate an API version.

import os from 'node:os';
import { Router } from 'express';
import type { FirewallWatchStatus } from '../../service/firewall-watch.js';
import { API_VERSION, MIN_API_VERSION, TSD_VERSION } from '../version.js';

export interface SystemInfo {
  /** Driver names per kind, for /info's Plugins. */
  drivers(): Promise<{ network: string[]; ipam: string[]; volume: string[] }>;
  storeKind: string;
  dataRoot: string;
  /** tsd's firewall: backend and the watch that repairs it after a flush. */
  firewall?(): { Backend: string; Watch: FirewallWatchStatus };
}

export function systemRoutes(info: SystemInfo): Router {
  const r = Router();
  const ping = (_req: unknown, res: import('express').Response) => {
    res.set({ 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
    res.type('text/plain').send('OK');
  };
  r.get('/_ping', ping);
  r.head('/_ping', ping);

  r.get('/version', (_req, res) => {
    res.json({
      Platform: { Name: 'tsd' },
      Components: [{ Name: 'tsd', Version: TSD_VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION } }],
      Version: TSD_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: os.arch() === 'x64' ? 'amd64' : os.arch(),
      KernelVersion: os.release(),
      BuildTime: '',
    });
  });

  r.get('/info', async (_req, res) => {
    const d = await info.drivers();
    res.json({
      Name: os.hostname(),
      ServerVersion: TSD_VERSION,
      OperatingSystem: 'linux',
      KernelVersion: os.release(),
      DockerRootDir: info.dataRoot,
      Store: info.storeKind,
      Plugins: { Volume: d.volume, Network: d.network, IPAM: d.ipam, Authorization: null, Log: null },
      ...(info.firewall ? { TsdFirewall: info.firewall() } : {}),
    });
  });
  return r;
}
