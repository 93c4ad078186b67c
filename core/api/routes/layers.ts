// core/api/routes/layers.ts — /layers over LayerService. Import reads the raw request body as a
// tar stream (this router is mounted before the JSON body parser, which would otherwise swallow
// it); diff answers with a raw tar stream. Everything else is JSON like Docker's routes.
//
//   POST   /layers/import?parent=&driver=   body: uncompressed tar → 201 ApiLayer
//   GET    /layers                          → ApiLayer[]
//   GET    /layers/{id}                     → ApiLayer (id or unique prefix)
//   DELETE /layers/{id}                     → 204 (409 while mounted or a parent)
//   POST   /layers/{id}/mount               → { Path, Layer }
//   POST   /layers/{id}/unmount             → ApiLayer
//   GET    /layers/{id}/diff                → application/x-tar
//   POST   /layers/check?repair=1           → ApiLayerCheck (always 200; Remaining > 0 = problems left)

import { Router, type Request } from 'express';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { InvalidArgumentError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { toApiLayer, type LayerCheckReport, type LayerService } from '../../service/layers.js';

/** `tsctl layer check`'s answer (Docker-style field names). */
export interface ApiLayerCheck {
  Checked: number;
  Remaining: number;
  Problems: Array<{
    Kind: string; Layer: string; Driver: string; Detail: string;
    /** What --repair does: remove-layer, unmount, reset-mount-count, remove-leftover, finish-operation, or none. */
    Action: string;
    /** Why Action is none. */
    Reason?: string;
    Status: 'open' | 'repaired' | 'gone' | 'failed';
    Error?: string;
  }>;
}

export function toApiLayerCheck(r: LayerCheckReport): ApiLayerCheck {
  return {
    Checked: r.checked, Remaining: r.remaining,
    Problems: r.problems.map((p) => ({
      Kind: p.kind, Layer: p.layer, Driver: p.driver, Detail: p.detail, Action: p.repair.action,
      ...(p.repair.action === 'none' ? { Reason: p.repair.reason } : {}), Status: p.status, ...(p.error ? { Error: p.error } : {}),
    })),
  };
}

const CheckQuery = z.strictObject({ repair: z.enum(['0', '1', 'true', 'false'], { message: 'must be 1, 0, true or false' }).optional() });

const ImportQuery = z.strictObject({
  parent: z.string().regex(/^[0-9a-f]{0,64}$/, 'must be a layer id (hex)').optional(),
  driver: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a driver name').max(128).optional(),
});

function importQuery(req: Request): z.infer<typeof ImportQuery> {
  const r = ImportQuery.safeParse(req.query);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  const field = i.path.join('.') || (i.code === 'unrecognized_keys' ? (i as { keys?: string[] }).keys?.join(', ') : '') || 'query';
  throw new InvalidArgumentError(`query ${field}: ${i.code === 'unrecognized_keys' ? 'unknown parameter' : i.message}`);
}

export function layerRoutes(layers: LayerService, log: Logger): Router {
  const r = Router();

  r.post('/layers/import', async (req, res) => {
    const q = importQuery(req);
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (ct && ct !== 'application/x-tar' && ct !== 'application/octet-stream') {
      throw new InvalidArgumentError(`Content-Type ${ct}: a layer import takes application/x-tar`);
    }
    const rec = await layers.import(req, { ...(q.parent ? { parent: q.parent } : {}), ...(q.driver ? { driver: q.driver } : {}) });
    res.status(201).json(toApiLayer(rec));
  });

  r.post('/layers/check', async (req, res) => {
    const q = CheckQuery.safeParse(req.query);
    if (!q.success) {
      const i = q.error.issues[0]!;
      throw new InvalidArgumentError(`query ${i.path.join('.') || (i as { keys?: string[] }).keys?.join(', ') || 'query'}: ${i.code === 'unrecognized_keys' ? 'unknown parameter' : i.message}`);
    }
    const repair = q.data.repair === '1' || q.data.repair === 'true';
    res.json(toApiLayerCheck(await layers.check({ repair })));
  });

  r.get('/layers', async (_req, res) => {
    res.json((await layers.list()).map(toApiLayer));
  });

  r.get('/layers/:id', async (req, res) => {
    res.json(toApiLayer(await layers.find(req.params.id)));
  });

  r.delete('/layers/:id', async (req, res) => {
    await layers.remove(req.params.id);
    res.status(204).end();
  });

  r.post('/layers/:id/mount', async (req, res) => {
    const { record, path } = await layers.mount(req.params.id);
    res.json({ Path: path, Layer: toApiLayer(record) });
  });

  r.post('/layers/:id/unmount', async (req, res) => {
    res.json(toApiLayer(await layers.unmount(req.params.id)));
  });

  r.get('/layers/:id/diff', async (req, res) => {
    const { record, tar } = await layers.diff(req.params.id);
    res.status(200).set({ 'Content-Type': 'application/x-tar', 'X-Layer-Id': record.id });
    try {
      await pipeline(tar, res);
    } catch (e) {
      // Headers are out: the only way to say "failed" is to cut the stream (the client sees an
      // incomplete chunked body, never a tar that looks whole).
      log.error('layer diff stream failed', { id: record.id, err: e });
      res.destroy();
    }
  });

  return r;
}
