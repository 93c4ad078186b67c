// core/api/routes/volumes.ts — Docker's /volumes routes over VolumeService.

import { Router } from 'express';
import type { Services } from '../../service/index.js';
import { VolumeCreateSchema } from '../schemas.js';
import { boolQuery, filtersQuery, parseBody } from '../validate.js';
import { compareApiVersions } from '../version.js';

export function volumeRoutes(s: Services): Router {
  const r = Router();

  r.get('/volumes', async (req, res) => {
    const { volumes, warnings } = await s.volumes.list(filtersQuery(req.query.filters));
    res.json({ Volumes: volumes, Warnings: warnings });
  });

  r.post('/volumes/create', async (req, res) => {
    const b = parseBody(VolumeCreateSchema, req.body);
    const v = await s.volumes.create({ name: b.Name ?? '', driver: b.Driver ?? undefined, options: b.DriverOpts ?? {}, labels: b.Labels ?? {} });
    res.status(201).json(v);
  });

  r.post('/volumes/prune', async (req, res) => {
    const filters = filtersQuery(req.query.filters);
    // API 1.42 made prune remove anonymous volumes only; older clients (Debian's docker 20.10
    // speaks 1.41) still mean every unused volume, as dockerd does for them.
    const v = res.locals.apiVersion as string | undefined;
    if (v !== undefined && compareApiVersions(v, '1.42') < 0 && !filters.has('all')) filters.set('all', ['true']);
    const { deleted, spaceReclaimed } = await s.volumes.prune(filters);
    res.json({ VolumesDeleted: deleted, SpaceReclaimed: spaceReclaimed });
  });

  r.get('/volumes/:name', async (req, res) => {
    res.json(await s.volumes.inspect(req.params.name));
  });

  r.delete('/volumes/:name', async (req, res) => {
    await s.volumes.remove(req.params.name, { force: boolQuery(req.query.force, 'force') });
    res.status(204).end();
  });

  return r;
}
