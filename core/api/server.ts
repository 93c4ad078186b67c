// core/api/server.ts — tsd's HTTP API, shaped after the Docker Engine API, served on a unix
// socket only (no TCP listener): socket 0660, its directory 0700. Owns body parsing (size
// limit, JSON whatever the Content-Type), the /vX.Y/ prefix, and graceful close.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Services } from '../service/index.js';
import { errorMiddleware } from './http-errors.js';
import { networkRoutes } from './routes/networks.js';
import { sandboxRoutes } from './routes/sandboxes.js';
import { systemRoutes, type SystemInfo } from './routes/system.js';
import { volumeRoutes } from './routes/volumes.js';
import { layerRoutes } from './routes/layers.js';
import { firewallRoutes } from './routes/firewall.js';
import { API_VERSION, MIN_API_VERSION, compareApiVersions } from './version.js';

/** Largest request body accepted; Docker's network/volume bodies are a few KB. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface ApiOptions {
  services: Services;
  info: SystemInfo;
  log: Logger;
}

export function createApiApp(o: ApiOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.set({ 'Api-Version': API_VERSION, 'Docker-Experimental': 'false', Ostype: 'linux', Server: 'tsd' });
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(req.url);
    if (m) {
      const v = m[1]!;
      if (compareApiVersions(v, API_VERSION) > 0) return next(new InvalidArgumentError(`client version ${v} is too new. Maximum supported API version is ${API_VERSION}`));
      if (compareApiVersions(v, MIN_API_VERSION) < 0) return next(new InvalidArgumentError(`client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`));
      req.url = m[2]!;
      // Some routes keep the semantics of the version the client asked for (volume prune).
      res.locals.apiVersion = v;
    }
    next();
  });
  // Routes whose body is a raw stream (layer import) come before the JSON parser, which would
  // read any body whatever its type; the size limit below is for JSON bodies only.
  app.use(layerRoutes(o.services.layers, o.log));
  // dockerd-style clients may omit Content-Type: parse every body as JSON (toolchain.md §6).
  app.use(express.json({ type: () => true, limit: BODY_LIMIT_BYTES, strict: true }));

  app.use(systemRoutes(o.info));
  app.use(networkRoutes(o.services));
  app.use(volumeRoutes(o.services));
  app.use(sandboxRoutes(o.services));
  app.use(firewallRoutes(o.services));
  app.use((req: Request, _res: Response, next: NextFunction) => next(new NotFoundError(`page not found: ${req.method} ${req.path}`)));
  app.use(errorMiddleware(o.log));
  return app;
}

export interface ApiServer {
  socketPath: string;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), remove the socket. */
  close(graceMs?: number): Promise<void>;
}

/** Listen on `socketPath` (a stale socket file is replaced; the caller holds tsd's lock). */
export async function listenApi(o: ApiOptions & { socketPath: string }): Promise<ApiServer> {
  const app = createApiApp(o);
  const dir = path.dirname(o.socketPath);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  fs.rmSync(o.socketPath, { force: true });
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  // A layer import or export may stream for longer than Node's 5-minute default; headers still
  // have to arrive within headersTimeout.
  server.requestTimeout = 0;
  // Created 0600 (umask), then widened to 0660: never a moment where others can connect.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(o.socketPath, 0o660);
  o.log.info('API listening', { socket: o.socketPath });
  let closing: Promise<void> | undefined;
  return {
    socketPath: o.socketPath,
    close(graceMs = 10_000) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          fs.rmSync(o.socketPath, { force: true });
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
