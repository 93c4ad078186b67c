// core/api/http-errors.ts — the one place an error becomes an HTTP status and Docker's error
// body {"message": "..."}: tsd's error codes, request-body parser failures, validation failures.

import type { NextFunction, Request, Response } from 'express';
import { ZodError } from 'zod';
import { codeOf, messageOf, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { formatZodError } from './validate.js';

const statusOfCode: Record<ErrorCode, number> = {
  InvalidArgument: 400,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  Internal: 500,
  NotImplemented: 501,
  Unavailable: 503,
  Timeout: 504,
};

export function statusOf(e: unknown): number {
  if (e instanceof ZodError) return 400;
  const t = (e as { type?: unknown })?.type;
  if (typeof t === 'string') {
    // body-parser's failures (express.json): they carry `type` and a 4xx `status`.
    if (t === 'entity.parse.failed') return 400;
    if (t === 'entity.too.large') return 413;
    if (t === 'encoding.unsupported' || t === 'charset.unsupported') return 415;
    const s = (e as { status?: unknown }).status;
    if (typeof s === 'number' && s >= 400 && s < 500) return s;
  }
  return statusOfCode[codeOf(e)];
}

export function messageFor(e: unknown): string {
  if (e instanceof ZodError) return formatZodError(e);
  const t = (e as { type?: unknown })?.type;
  if (t === 'entity.parse.failed') return `invalid JSON in request body: ${messageOf(e)}`;
  if (t === 'entity.too.large') return `request body too large (limit ${(e as { limit?: number }).limit ?? '?'} bytes)`;
  return messageOf(e);
}

/** Express error middleware: Docker's body, status from statusOf, 5xx logged. */
export function errorMiddleware(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const status = statusOf(err);
    const message = messageFor(err);
    if (status >= 500) log.error('request failed', { method: req.method, path: req.path, status, err });
    else log.debug('request rejected', { method: req.method, path: req.path, status, message });
    if (res.headersSent) {
      res.end();
      return;
    }
    // Exactly "application/json" (no charset): the docker CLI only decodes {"message"} then.
    res.status(status).setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ message }));
  };
}
