// core/api/routes/firewall.ts — tsd-only POST /firewall/reload: rebuild tsd's rules from the store.

import { Router } from 'express';
import type { Services } from '../../service/index.js';
import { EmptySchema } from '../schemas.js';
import { parseBody } from '../validate.js';

export function firewallRoutes(s: Services): Router {
  const r = Router();
  r.post('/firewall/reload', async (req, res) => {
    parseBody(EmptySchema, req.body);
    res.json(await s.firewall.reload());
  });
  return r;
}
