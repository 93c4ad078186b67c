// plugins/server/routes/route.ts — the shape of one served method: which subsystem it belongs to
// (that decides `Err` vs `Error`), whether it reads the raw body stream (ApplyDiff), and the
// handler: parsed JSON in, JSON (or a tar stream) out. Handlers hold no logic of their own.

import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Subsystem } from '../../protocol/wire.js';

export interface RouteInput {
  /** Parsed JSON body ({} when empty); undefined for raw-body routes. */
  body: unknown;
  query: URLSearchParams;
  /** The request itself, for raw-body routes (a tar stream). */
  req: IncomingMessage;
}

/** A handler returns a JSON-able reply or, for GraphDriver.Diff, a stream sent as the 200 body. */
export type RouteResult = Record<string, unknown> | { stream: Readable; contentType: string };

export interface Route {
  subsystem: Subsystem;
  rawBody?: boolean;
  handle(input: RouteInput): Promise<RouteResult>;
}

export type RouteTable = Map<string, Route>;

export function isStreamResult(r: RouteResult): r is { stream: Readable; contentType: string } {
  return typeof (r as { stream?: unknown }).stream === 'object' && typeof (r as { contentType?: unknown }).contentType === 'string';
}
