// core/api/routes/system.ts — /_ping, /version and /info: what the docker CLI asks first to
// negotiate an API version. Plus POST /firewall/reload (`tsctl firewall reload`).

import os from 'node:os';
import { Router } from 'express';
import { UnavailableError } from '../../errors.js';
import { API_VERSION, MIN_API_VERSION, TSD_VERSION } from '../version.js';

export interface SystemInfo {
  /** Driver names per kind, for /info's Plugins. */
  drivers(): Promise<{ network: string[]; ipam: string[]; volume: string[] }>;
  storeKind: string;
  dataRoot: string;
  /** The daemon's firewall: `POST /firewall/reload` writes its model back into the kernel. */
  firewall?: { readonly backend: string; reapply(): Promise<{ networks: number; ports: number }> };
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
    });
  });
  // After `nft flush ruleset`, a firewalld reload or an nftables.service restart wiped tsd's
  // rules (moby/moby#12294, containers/netavark#1258): put them back without a restart.
  r.post('/firewall/reload', async (_req, res) => {
    if (!info.firewall) throw new UnavailableError('firewall reload: tsd runs without a firewall');
    const n = await info.firewall.reapply();
    res.json({ Backend: info.firewall.backend, Networks: n.networks, Ports: n.ports });
  });
  return r;
}
