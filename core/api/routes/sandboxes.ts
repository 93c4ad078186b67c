// core/api/routes/sandboxes.ts — tsd-only /sandboxes routes over SandboxService.

import { Router } from 'express';
import type { Services } from '../../service/index.js';
import { SandboxCreateSchema } from '../schemas.js';
import { filtersQuery, parseBody } from '../validate.js';

export function sandboxRoutes(s: Services): Router {
  const r = Router();

  r.get('/sandboxes', async (req, res) => {
    res.json(await s.sandboxes.list(filtersQuery(req.query.filters)));
  });

  r.post('/sandboxes/create', async (req, res) => {
    const b = parseBody(SandboxCreateSchema, req.body);
    const sb = await s.sandboxes.create({
      name: b.Name,
      netnsPath: b.NetnsPath ?? undefined,
      pid: b.Pid ?? undefined,
      hostname: b.Hostname ?? undefined,
      dns: b.Dns ?? [],
      dnsSearch: b.DnsSearch ?? [],
      dnsOptions: b.DnsOptions ?? [],
      labels: b.Labels ?? {},
      ...(b.RootFs !== null && b.RootFs !== undefined ? { rootfs: b.RootFs } : {}),
      volumes: b.Volumes ?? [],
    });
    res.status(201).json({ Id: sb.id, NetnsPath: sb.netnsPath, Warning: '' });
  });

  r.get('/sandboxes/:id', async (req, res) => {
    res.json(await s.sandboxes.inspect(req.params.id));
  });

  r.delete('/sandboxes/:id', async (req, res) => {
    await s.sandboxes.remove(req.params.id);
    res.status(204).end();
  });

  return r;
}
