// cli/api-client.ts — the HTTP client tsctl (and tests) use to talk to tsd over its unix socket.
// Errors come back as ApiError with the HTTP status and Docker's {"message"} text.

import http from 'node:http';

export const DEFAULT_SOCKET = '/run/tsd/tsd.sock';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The daemon could not be reached at all (no socket, refused, permission). */
export class ConnectError extends Error {
  constructor(readonly socketPath: string, override readonly cause: NodeJS.ErrnoException) {
    super(`cannot connect to tsd at unix://${socketPath}: ${cause.code === 'ENOENT' ? 'no such socket (is tsd running?)' : cause.message}`);
    this.name = 'ConnectError';
  }
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** TSD_HOST may be "unix:///path" or a bare path. */
export function socketFromHost(host: string | undefined): string {
  if (!host) return DEFAULT_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new Error(`host ${JSON.stringify(host)}: only unix:// sockets are supported`);
}

export class ApiClient {
  constructor(readonly socketPath: string = DEFAULT_SOCKET, private readonly timeoutMs = 120_000) {}

  /** One request; `body` is sent as given (string) or JSON-encoded. */
  raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: {
            ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
            ...headers,
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`tsd did not answer ${method} ${path} within ${this.timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => reject(['ENOENT', 'ECONNREFUSED', 'EACCES'].includes(e.code ?? '') ? new ConnectError(this.socketPath, e) : e));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** JSON request; non-2xx becomes ApiError. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.raw(method, path, body);
    if (r.status < 200 || r.status >= 300) {
      let message = r.body;
      try {
        message = (JSON.parse(r.body) as { message?: string }).message ?? r.body;
      } catch { /* not JSON */ }
      throw new ApiError(r.status, message || `HTTP ${r.status}`);
    }
    if (r.body === '' || !(r.headers['content-type'] ?? '').includes('json')) return r.body as T;
    return JSON.parse(r.body) as T;
  }

  /**
   * Streaming request: `body` (if any) is piped as the request body with `contentType`; resolves
   * with the response once its headers are in. Non-2xx becomes ApiError (the body is read first).
   * No overall timeout: imports and exports of big layers take as long as they take.
   */
  stream(method: string, path: string, body?: NodeJS.ReadableStream, contentType = 'application/x-tar'): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, method, path, headers: body ? { 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' } : {} },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(res);
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let message = text;
            try { message = (JSON.parse(text) as { message?: string }).message ?? text; } catch { /* not JSON */ }
            reject(new ApiError(status, message || `HTTP ${status}`));
          });
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => reject(['ENOENT', 'ECONNREFUSED', 'EACCES'].includes(e.code ?? '') ? new ConnectError(this.socketPath, e) : e));
      if (!body) { req.end(); return; }
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    });
  }

  static query(params: Record<string, string | boolean | undefined | Record<string, string[]>>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === false) continue;
      if (typeof v === 'object') {
        if (Object.keys(v).length) q.set(k, JSON.stringify(v));
      } else q.set(k, String(v === true ? '1' : v));
    }
    const s = q.toString();
    return s ? `?${s}` : '';
  }
}
