// plugins/client/plugin-client.ts — one connection pool to one plugin, speaking exactly like
// dockerd (plugin-protocol.md §2.2, §2.5–2.7): POST /<Subsystem.Method>, `Accept:
// application/vnd.docker.plugins.v1.2+json`, no Content-Type, compact JSON + "\n" (empty body for
// no-argument calls), `Host: plugin.moby.localhost` on unix sockets, keep-alive pool (6 idle, 30 s).
// Only HTTP 200 is success; a non-200 reply's message is its `Err` or else its raw text; a 200
// reply fails if its subsystem's error field (`Err`, IPAM `Error`) is set. Transport failures are
// retried with dockerd's backoff; HTTP errors never are. Every call has a deadline (retries
// included); dockerd has none for v1 plugins (moby#33871), tsd defaults to 60 s.
//
// Entry points: PluginClient (call / callStream / callUpload / activate), isNotImplemented.

import fs from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import {
  errorOf,
  type ErrorCode,
  InternalError,
  InvalidArgumentError,
  isTsdError,
  TimeoutError,
  type TsdError,
  UnavailableError,
} from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { ActivateReply, type Manifest } from '../protocol/activate.js';
import { ACTIVATE_METHOD, describeIssues, encodeBody, PLUGIN_MEDIA_TYPE, PLUGIN_UNIX_HOST, replyError, type Subsystem } from '../protocol/wire.js';
import type { z } from 'zod';
import type { PluginSpec } from './discovery.js';
import { DOCKER_RETRY, NO_RETRY, type RetryPolicy, withRetry } from './retry.js';

/** Header the tsd plugin server adds next to `Err` with core's error code (see plugins/server). */
const ERROR_CODE_HEADER = 'x-tsd-error-code';
const ERROR_CODES = new Set<ErrorCode>(['NotFound', 'Conflict', 'InvalidArgument', 'Forbidden', 'Unavailable', 'NotImplemented', 'Timeout', 'Internal']);
const MAX_REPLY_BYTES = 64 << 20;

export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
export const DIAL_TIMEOUT_MS = 10_000;

export interface PluginClientOptions {
  log?: Logger;
  /** Backoff on transport failures (default dockerd's). */
  retry?: RetryPolicy;
  /** Deadline of a call without its own (0 = none). Default 60 s. */
  defaultTimeoutMs?: number;
  /** Per-method deadlines, e.g. { 'VolumeDriver.Mount': 120000 }. */
  timeouts?: Record<string, number>;
  dialTimeoutMs?: number;
}

export interface CallOptions {
  subsystem: Subsystem;
  /** Overrides the client's table for this call (0 = none). */
  timeoutMs?: number;
  /** false: one attempt only. */
  retry?: boolean;
  /** Query string (GraphDriver.ApplyDiff only), appended verbatim. */
  query?: string;
}

/** Did the plugin answer 404 ("method not implemented" to dockerd)? */
export function isNotImplemented(e: unknown): boolean {
  return !!e && typeof e === 'object' && (e as { status?: unknown }).status === 404;
}

interface Target {
  mod: typeof http | typeof https;
  agent: http.Agent;
  base: http.RequestOptions;
}

/** A failure before any reply arrived: dockerd retries these. */
class TransportError extends UnavailableError {}

function codeForStatus(status: number, msg: string): ErrorCode {
  switch (status) {
    case 400: case 413: case 422: return 'InvalidArgument';
    case 403: return 'Forbidden';
    case 404: return 'NotImplemented';
    case 409: return 'Conflict';
    case 408: case 504: return 'Timeout';
    case 503: return 'Unavailable';
  }
  // Third-party plugins only send text; recognise the usual "not found" wording.
  return /not found|no such|does not exist|doesn't exist/i.test(msg) ? 'NotFound' : 'Internal';
}

export class PluginClient {
  readonly name: string;
  readonly spec: PluginSpec;
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  private readonly defaultTimeoutMs: number;
  private readonly timeouts: Record<string, number>;
  private readonly dialTimeoutMs: number;
  private target?: Promise<Target>;
  private manifest?: Promise<Manifest>;

  constructor(spec: PluginSpec, opts: PluginClientOptions = {}) {
    this.name = spec.name;
    this.spec = spec;
    this.log = (opts.log ?? silentLogger).child({ plugin: spec.name });
    this.retry = opts.retry ?? DOCKER_RETRY;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.timeouts = opts.timeouts ?? {};
    this.dialTimeoutMs = opts.dialTimeoutMs ?? DIAL_TIMEOUT_MS;
  }

  /** Resolve the address once: unix socket, plain HTTP (tcp/http/unix) or https with the spec's TLS. */
  private resolveTarget(): Promise<Target> {
    this.target ??= (async (): Promise<Target> => {
      let url: URL;
      try {
        url = new URL(this.spec.addr);
      } catch {
        throw new InvalidArgumentError(`plugin ${this.name}: address ${JSON.stringify(this.spec.addr)}: not a URL`);
      }
      const agentOpts = { keepAlive: true, maxFreeSockets: 6, timeout: 30_000 };
      if (url.protocol === 'unix:') {
        return { mod: http, agent: new http.Agent(agentOpts), base: { socketPath: url.pathname, headers: { Host: PLUGIN_UNIX_HOST } } };
      }
      if (!['tcp:', 'http:', 'https:'].includes(url.protocol)) {
        throw new InvalidArgumentError(`plugin ${this.name}: address ${this.spec.addr}: Unknown protocol`);
      }
      const base: http.RequestOptions = { hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || (url.protocol === 'https:' ? 443 : 80) };
      if (url.protocol !== 'https:') return { mod: http, agent: new http.Agent(agentOpts), base };
      const t = this.spec.tls;
      const tlsOpts: https.AgentOptions = { ...agentOpts, rejectUnauthorized: !(t?.insecureSkipVerify ?? false) };
      if (t?.caFile) tlsOpts.ca = await fs.readFile(t.caFile);
      // Cert and key are used only when both are set (dockerd).
      if (t?.certFile && t.keyFile) {
        tlsOpts.cert = await fs.readFile(t.certFile);
        tlsOpts.key = await fs.readFile(t.keyFile);
      }
      return { mod: https, agent: new https.Agent(tlsOpts), base };
    })();
    const p = this.target;
    p.catch(() => {
      if (this.target === p) this.target = undefined;
    });
    return p;
  }

  private timeoutFor(method: string, o: CallOptions): number {
    return o.timeoutMs ?? this.timeouts[method] ?? this.defaultTimeoutMs;
  }

  /** One HTTP exchange; resolves with the response (body unread). */
  private async send(method: string, body: string | Readable | undefined, o: CallOptions, signal: AbortSignal): Promise<IncomingMessage> {
    const t = await this.resolveTarget();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...(t.base.headers as Record<string, string>), Accept: PLUGIN_MEDIA_TYPE, 'User-Agent': 'tsd-plugin-client' };
      if (typeof body === 'string') headers['Content-Length'] = Buffer.byteLength(body);
      else if (body === undefined) headers['Content-Length'] = 0;
      const req = t.mod.request({ ...t.base, agent: t.agent, method: 'POST', path: `/${method}${o.query ? `?${o.query}` : ''}`, headers, signal });
      let dialTimer: NodeJS.Timeout | undefined;
      req.on('socket', (s) => {
        if (!s.connecting) return;
        dialTimer = setTimeout(() => req.destroy(Object.assign(new Error(`dial timeout after ${this.dialTimeoutMs} ms`), { code: 'ETIMEDOUT' })), this.dialTimeoutMs);
        s.once('connect', () => clearTimeout(dialTimer));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(dialTimer);
        if (signal.aborted) reject(signal.reason);
        else reject(new TransportError(`plugin ${this.name}: ${method}: ${e.code ? `${e.code} ` : ''}${e.message}`, { cause: e }));
      });
      req.on('response', (res) => {
        clearTimeout(dialTimer);
        resolve(res);
      });
      if (body === undefined) req.end();
      else if (typeof body === 'string') req.end(body);
      else {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }

  /** Run one call with deadline and retries; `consume` reads the 200 response. */
  private async exchange<T>(method: string, body: string | Readable | undefined, o: CallOptions, consume: (res: IncomingMessage) => Promise<T>, keepDeadlineForBody: boolean): Promise<T> {
    const timeoutMs = this.timeoutFor(method, o);
    const ac = new AbortController();
    const timer = timeoutMs > 0
      ? setTimeout(() => ac.abort(new TimeoutError(`plugin ${this.name}: ${method}: no reply within ${timeoutMs} ms`)), timeoutMs)
      : undefined;
    // A streamed request body can be sent only once.
    const policy = o.retry === false || (body !== undefined && typeof body !== 'string') ? NO_RETRY : this.retry;
    try {
      const res = await withRetry(
        policy,
        () => this.send(method, body, o, ac.signal),
        (e) => e instanceof TransportError && !ac.signal.aborted,
        { signal: ac.signal, onRetry: (e, ms) => this.log.warn('plugin call failed, retrying', { method, retryInMs: ms, err: e }) },
      ).catch((e: unknown) => {
        throw ac.signal.aborted && isTsdError(ac.signal.reason) ? ac.signal.reason : e;
      });
      if (res.statusCode !== 200) throw this.failure(method, res.statusCode ?? 0, res.headers, await this.readText(res, method));
      if (!keepDeadlineForBody) clearTimeout(timer);
      return await consume(res);
    } catch (e) {
      throw ac.signal.aborted && isTsdError(ac.signal.reason) ? ac.signal.reason : e;
    } finally {
      if (keepDeadlineForBody) clearTimeout(timer);
    }
  }

  private readText(res: IncomingMessage, method: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_REPLY_BYTES) res.destroy(new InternalError(`plugin ${this.name}: ${method}: reply larger than ${MAX_REPLY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (e) => reject(isTsdError(e) ? e : new UnavailableError(`plugin ${this.name}: ${method}: reply cut off: ${e.message}`, { cause: e })));
      res.on('aborted', () => reject(new UnavailableError(`plugin ${this.name}: ${method}: reply cut off`)));
    });
  }

  /** A non-200 reply: message = `Err` if the body is JSON with one, else the raw text (dockerd). */
  private failure(method: string, status: number, headers: http.IncomingHttpHeaders, text: string): TsdError {
    let msg = text.trim();
    try {
      const errText = replyError('NetworkDriver', JSON.parse(text));
      if (errText) msg = errText;
    } catch {
      // not JSON: keep the raw text
    }
    if (!msg) msg = `HTTP ${status}`;
    const hinted = headers[ERROR_CODE_HEADER];
    const code = typeof hinted === 'string' && ERROR_CODES.has(hinted as ErrorCode) ? (hinted as ErrorCode) : codeForStatus(status, msg);
    return Object.assign(errorOf(code, `plugin ${this.name}: ${method}: ${msg}`), { status });
  }

  /**
   * POST `/<method>` with `args` as JSON (undefined = empty body) and return the decoded 200
   * reply after checking the subsystem's error field.
   */
  async call(method: string, args: unknown, o: CallOptions): Promise<unknown> {
    const body = args === undefined ? undefined : encodeBody(args);
    return this.exchange(method, body, o, (res) => this.readJson(method, res, o.subsystem), true);
  }

  /** Upload a raw stream (ApplyDiff), decode the JSON reply. Not retried. */
  async callUpload(method: string, stream: Readable, o: CallOptions): Promise<unknown> {
    return this.exchange(method, stream, o, (res) => this.readJson(method, res, o.subsystem), true);
  }

  /** POST JSON, get the raw 200 body as a stream (GraphDriver.Diff). The deadline covers headers. */
  async callStream(method: string, args: unknown, o: CallOptions): Promise<Readable> {
    return this.exchange(method, encodeBody(args), o, async (res) => res, false);
  }

  private async readJson(method: string, res: IncomingMessage, subsystem: Subsystem): Promise<unknown> {
    const text = await this.readText(res, method);
    // Go's decoder fails on an empty 200 body (EOF) wherever a result is expected (§2.3).
    if (text.trim() === '') throw new InternalError(`plugin ${this.name}: ${method}: empty reply (EOF)`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new InternalError(`plugin ${this.name}: ${method}: reply is not JSON (${(e as Error).message})`);
    }
    if (body === null) body = {};
    const err = replyError(subsystem, body);
    if (err) throw errorOf(codeForStatus(200, err), `plugin ${this.name}: ${method}: ${err}`);
    return body;
  }

  /** Parse a reply with its schema; a malformed reply is the plugin's fault (Internal). */
  parseReply<T extends z.ZodType>(schema: T, body: unknown, method: string): z.output<T> {
    const r = schema.safeParse(body);
    if (r.success) return r.data;
    throw new InternalError(`plugin ${this.name}: ${method}: bad reply: ${describeIssues(r.error.issues, body)}`);
  }

  /**
   * `/Plugin.Activate` once; the manifest is cached for the client's life (a plugin restart is
   * not noticed, as in dockerd) and dropped on failure so the next use tries again. Managed
   * plugins (spec.implements set) are never sent Activate.
   */
  activate(opts: { retry?: boolean } = {}): Promise<Manifest> {
    if (this.spec.implements) return Promise.resolve({ implements: [...this.spec.implements] });
    if (this.manifest) return this.manifest;
    const p = (async () => {
      const body = await this.call(ACTIVATE_METHOD, undefined, { subsystem: 'Plugin', ...(opts.retry === false ? { retry: false } : {}) });
      const r = this.parseReply(ActivateReply, body, ACTIVATE_METHOD);
      return { implements: r.Implements ?? [] };
    })();
    this.manifest = p;
    p.catch(() => {
      if (this.manifest === p) this.manifest = undefined;
    });
    return p;
  }

  /** Drop pooled connections. */
  async close(): Promise<void> {
    const t = await this.target?.catch(() => undefined);
    t?.agent.destroy();
  }
}
