// plugins/server/serve.ts — serve core drivers over Docker's plugin protocol, the way dockerd
// expects (plugin-protocol.md §2.2–2.8): any HTTP method, exact `/Subsystem.Method` routing, the raw
// body read whatever the headers say (dockerd sends no Content-Type), empty body = {}, 200 + JSON on
// success, `{"Err"}` (IPAM: `{"Err","Error"}`) with a non-200 status on failure, 404 for methods the
// driver does not implement, keep-alive longer than dockerd's 30 s idle pool.
//
// Entry points:
//   servePlugin(name, drivers, { socketDir, log })  → ServedPlugin   (`<socketDir>/<name>.sock`)
//   createPluginHandler(drivers, { log })           → (req, res) handler, for other listeners (TCP/TLS)
// bin/tsd serves each built-in driver as tsd-bridge, tsd-macvlan, tsd-overlay, tsd-ipam,
// tsd-local, tsd-overlay2, tsd-vfs.
//
// The socket is bound inside a private 0700 directory, set to 0660 root, then renamed into place:
// it is never reachable with looser permissions, and a stale socket is replaced atomically. A live
// socket (someone accepts connections) or a non-socket file at the path is never replaced.

import fs from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ConflictError, codeOf, type ErrorCode, InvalidArgumentError, messageOf, NotImplementedError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { DriverKind, DriverOfKind } from '../../core/driver/registry.js';
import { ACTIVATE_METHOD, PLUGIN_MEDIA_TYPE, parseBody, type Subsystem } from '../protocol/wire.js';
import { graphRoutes } from './routes/graph-driver.js';
import { ipamRoutes } from './routes/ipam-driver.js';
import { networkRoutes } from './routes/network-driver.js';
import { isStreamResult, type Route, type RouteTable } from './routes/route.js';
import { volumeRoutes } from './routes/volume-driver.js';

export const DEFAULT_SOCKET_DIR = '/run/docker/plugins';
/** Above dockerd's 30 s idle-connection pool, so the client always closes first (§2.8). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;
/** Header carrying core's stable error code next to `Err`, so tsd's own client keeps the class. */
export const ERROR_CODE_HEADER = 'x-tsd-error-code';

export type ServedDrivers = Partial<{ [K in DriverKind]: DriverOfKind[K] }>;

export interface PluginHandlerOptions {
  log?: Logger;
  /** Largest JSON body accepted (413 beyond). Raw-body routes (ApplyDiff) are not limited. */
  maxBodyBytes?: number;
}

export interface ServePluginOptions extends PluginHandlerOptions {
  /** Default /run/docker/plugins. */
  socketDir?: string;
  keepAliveTimeoutMs?: number;
  /** How long close() waits for requests in flight before cutting connections. */
  closeTimeoutMs?: number;
}

export interface ServedPlugin {
  readonly name: string;
  readonly socketPath: string;
  readonly implements: DriverKind[];
  /** Stop accepting, finish requests in flight (bounded), remove the socket. Idempotent. */
  close(): Promise<void>;
}

/**
 * Status per error code — the one place plugin-server errors get their wire form. NotFound is
 * 500, not 404: dockerd reads 404 as "method not implemented" and would silently skip e.g.
 * ProgramExternalConnectivity.
 */
const statusOf: Record<ErrorCode, number> = {
  InvalidArgument: 400,
  Forbidden: 403,
  NotImplemented: 404,
  Conflict: 409,
  NotFound: 500,
  Internal: 500,
  Unavailable: 503,
  Timeout: 504,
};

class BodyTooLargeError extends InvalidArgumentError {}

function implementsOf(drivers: ServedDrivers): DriverKind[] {
  return (['NetworkDriver', 'IpamDriver', 'VolumeDriver', 'GraphDriver'] as const).filter((k) => drivers[k]);
}

function routeTable(drivers: ServedDrivers): RouteTable {
  const table: RouteTable = new Map();
  const add = (t: RouteTable) => t.forEach((r, k) => table.set(k, r));
  if (drivers.NetworkDriver) add(networkRoutes(drivers.NetworkDriver));
  if (drivers.IpamDriver) add(ipamRoutes(drivers.IpamDriver));
  if (drivers.VolumeDriver) add(volumeRoutes(drivers.VolumeDriver));
  if (drivers.GraphDriver) add(graphRoutes(drivers.GraphDriver));
  const impl = implementsOf(drivers);
  table.set(ACTIVATE_METHOD, { subsystem: 'Plugin', handle: async () => ({ Implements: impl }) });
  return table;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new BodyTooLargeError(`body: ${declared} bytes exceeds the limit of ${limit}`));
  // Events, not for-await: leaving a for-await early destroys the socket before we can reply 413.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(new BodyTooLargeError(`body: more than ${limit} bytes (the limit)`));
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** Most bytes read and thrown away after a rejected request before the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 << 20;

/** Read and discard the rest of a request body; false if it was too long (or broke). */
function drain(req: IncomingMessage): Promise<boolean> {
  if (req.readableEnded || req.destroyed) return Promise.resolve(!req.destroyed);
  return new Promise((resolve) => {
    let size = 0;
    const done = (ok: boolean) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onErr);
      resolve(ok);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > DRAIN_LIMIT_BYTES) {
        req.pause();
        done(false);
      }
    };
    const onEnd = () => done(true);
    const onErr = () => done(false);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onErr);
    req.resume();
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': PLUGIN_MEDIA_TYPE, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** `{"Err"}` for every subsystem; IPAM also gets `Error` (dockerd reads `Err` on non-200, `Error` on 200). */
function errorBody(subsystem: Subsystem | undefined, msg: string): Record<string, string> {
  return subsystem === 'IpamDriver' || subsystem === undefined ? { Err: msg, Error: msg } : { Err: msg };
}

/** The request handler: JSON in, driver call, JSON out. Never throws, never crashes the process. */
export function createPluginHandler(drivers: ServedDrivers, opts: PluginHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const table = routeTable(drivers);
  const log = opts.log ?? silentLogger;
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const method = (q < 0 ? url : url.slice(0, q)).replace(/^\//, '');
    const route: Route | undefined = table.get(method);
    try {
      if (!route) throw new NotImplementedError(`${JSON.stringify(method)}: no such method on this plugin`);
      const body = route.rawBody ? undefined : parseBody(await readBody(req, limit), '');
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      const result = await route.handle({ body, query, req });
      if (route.rawBody) await drain(req); // consume whatever the driver left unread
      if (isStreamResult(result)) {
        res.writeHead(200, { 'Content-Type': result.contentType });
        await pipeline(result.stream, res);
      } else {
        sendJson(res, 200, result);
      }
      log.debug('plugin call', { method, status: 200 });
    } catch (e) {
      const code = codeOf(e);
      const status = e instanceof BodyTooLargeError ? 413 : statusOf[code];
      const msg = messageOf(e);
      const headers: Record<string, string> = { [ERROR_CODE_HEADER]: code };
      // Reply only once the client has sent everything, so it is not cut off mid-write; a
      // body beyond the drain limit closes the connection instead.
      if (!(await drain(req))) headers.Connection = 'close';
      if (code === 'Internal') log.warn('plugin call failed', { method, status, err: e });
      else log.debug('plugin call rejected', { method, status, msg });
      sendJson(res, status, errorBody(route?.subsystem, msg), headers);
    }
  }

  return (req, res) => {
    handle(req, res).catch((e) => {
      log.error('plugin handler failed', { err: e });
      res.destroy();
    });
  };
}

/** Is something accepting connections on this socket? */
function socketIsLive(p: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path: p });
    const done = (live: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    // A socket that neither accepts nor refuses within the timeout is treated as live: never
    // steal a path from a process that may still own it.
    const timer = setTimeout(() => done(true), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function checkSocketPath(p: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) throw new ConflictError(`plugin socket ${p}: exists and is not a socket; not replacing it`);
  if (await socketIsLive(p)) throw new ConflictError(`plugin socket ${p}: another process is serving it`);
}

const PLUGIN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Serve `drivers` as plugin `name` at `<socketDir>/<name>.sock`. */
export async function servePlugin(name: string, drivers: ServedDrivers, opts: ServePluginOptions = {}): Promise<ServedPlugin> {
  if (!PLUGIN_NAME_RE.test(name)) throw new InvalidArgumentError(`plugin name ${JSON.stringify(name)}: must match ${PLUGIN_NAME_RE}`);
  const impl = implementsOf(drivers);
  if (!impl.length) throw new InvalidArgumentError(`plugin ${name}: no driver to serve`);
  const log = (opts.log ?? silentLogger).child({ plugin: name });
  const socketDir = opts.socketDir ?? DEFAULT_SOCKET_DIR;
  const socketPath = path.join(socketDir, `${name}.sock`);

  await fs.mkdir(socketDir, { recursive: true, mode: 0o755 });
  await checkSocketPath(socketPath);

  const server = http.createServer({ keepAliveTimeout: opts.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS }, createPluginHandler(drivers, { ...opts, log }));
  // Long Diff/ApplyDiff streams and 2-minute volume calls must not be cut by Node's 300 s default.
  if (drivers.GraphDriver) server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.on('clientError', (err, socket) => {
    // Node answers 400/431 itself when it can; make sure a broken client never throws.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
    log.debug('bad client request', { err });
  });

  const tmpDir = await fs.mkdtemp(path.join(socketDir, '.tsd-'));
  let ino: number;
  try {
    const tmpSock = path.join(tmpDir, 's.sock');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(tmpSock, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await fs.chmod(tmpSock, 0o660);
    if (process.getuid?.() === 0) await fs.chown(tmpSock, 0, 0);
    await checkSocketPath(socketPath); // again: someone may have started meanwhile
    await fs.rename(tmpSock, socketPath);
    ino = (await fs.lstat(socketPath)).ino;
  } catch (e) {
    server.close();
    throw e;
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
  server.on('error', (err) => log.error('plugin server error', { err }));
  log.info('serving plugin', { socket: socketPath, implements: impl });

  let closing: Promise<void> | undefined;
  const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
  return {
    name,
    socketPath,
    implements: impl,
    close() {
      closing ??= (async () => {
        // Unlink first so nobody connects to a server that is going away; only our own inode.
        try {
          if ((await fs.lstat(socketPath)).ino === ino) await fs.unlink(socketPath);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('remove plugin socket', { err: e });
        }
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), closeTimeoutMs);
        await closed;
        clearTimeout(timer);
        log.info('plugin server closed', { socket: socketPath });
      })();
      return closing;
    },
  };
}
