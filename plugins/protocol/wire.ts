// plugins/protocol/wire.ts — what every plugin message shares: the media type, the dummy Host,
// schema helpers that fold key case like Go's decoder, and the one function that turns a zod
// failure into an InvalidArgumentError naming the field and the reason.
//
// Requests (dockerd → plugin) are parsed with strict schemas: an unknown field is an error naming
// it. Replies (plugin → client) are parsed leniently (extra fields ignored), because dockerd
// ignores them too (plugin-protocol.md §2.3) and third-party plugins add their own.

import { z } from 'zod';
import { InvalidArgumentError } from '../../core/errors.js';

/** The exact Accept value dockerd sends (§10.1: not the documented `v1+json`). */
export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';
/** Host header dockerd sends on unix sockets since the Go CVE-2023-29406 fix. */
export const PLUGIN_UNIX_HOST = 'plugin.moby.localhost';
/** The handshake path (v1 plugins only). */
export const ACTIVATE_METHOD = 'Plugin.Activate';

type Shape = z.ZodRawShape;

/**
 * Go decodes JSON keys case-insensitively ("err", "implements" work). Rename such keys to the
 * canonical spelling of this object level only, so free-form maps (Options, Data) are untouched.
 */
function foldKeys(names: readonly string[]): (v: unknown) => unknown {
  const byLower = new Map(names.map((n) => [n.toLowerCase(), n]));
  return (v) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
    let out: Record<string, unknown> | undefined;
    for (const k of Object.keys(v)) {
      if (byLower.get(k.toLowerCase()) === k) continue;
      const canonical = byLower.get(k.toLowerCase());
      if (!canonical || canonical in v) continue;
      out ??= { ...(v as Record<string, unknown>) };
      out[canonical] = out[k];
      delete out[k];
    }
    return out ?? v;
  };
}

/** A request object: keys folded to canonical case, unknown keys rejected. */
export function wireRequest<S extends Shape>(shape: S) {
  return z.preprocess(foldKeys(Object.keys(shape)), z.strictObject(shape));
}

/** A reply object: keys folded to canonical case, unknown keys ignored. */
export function wireReply<S extends Shape>(shape: S) {
  return z.preprocess(foldKeys(Object.keys(shape)), z.object(shape));
}

/** Go marshals nil maps as null: accept null or absence, read as {}. */
export const stringMap = z.record(z.string(), z.string()).nullish();
export const anyMap = z.record(z.string(), z.unknown()).nullish();

function pathText(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) s += s ? `.${p}` : p;
    else s += `[${JSON.stringify(String(p))}]`;
  }
  return s;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v && typeof v === 'object') v = (v as Record<PropertyKey, unknown>)[p];
    else return undefined;
  }
  return v;
}

/** One line per problem: `Interface.MacAddress: expected string, got number`. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown, prefix: readonly PropertyKey[] = []): string {
  return issues
    .map((i) => {
      const path = [...prefix, ...i.path];
      if (i.code === 'unrecognized_keys') {
        return i.keys.map((k) => `${pathText([...path, k])}: unknown field`).join('; ');
      }
      const where = pathText(path) || '(body)';
      if (i.code === 'invalid_type') {
        const got = valueAt(input, i.path);
        return `${where}: ${got === undefined ? 'required' : `expected ${i.expected}, got ${kindOf(got)}`}`;
      }
      return `${where}: ${i.message}`;
    })
    .join('; ');
}

/** Parse `value` or throw InvalidArgumentError("<what>: <field>: <reason>"). */
export function parseWire<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new InvalidArgumentError(label(what, describeIssues(r.error.issues, value)));
}

/** "what: rest", or just "rest" when there is no context (the server's top level). */
export function label(what: string, rest: string): string {
  return what ? `${what}: ${rest}` : rest;
}

/** Parse a raw request body: empty means `{}` (dockerd sends nothing for no-argument calls). */
export function parseBody(raw: Buffer | string, what: string): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new InvalidArgumentError(`${label(what, 'body')} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Encode a request body the way Go's json.Encoder does: compact JSON and a newline. */
export function encodeBody(value: unknown): string {
  return JSON.stringify(value) + '\n';
}

/** Drop keys whose value is undefined, "" or null (Go's `omitempty` on the wire). */
export function omitEmpty<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') out[k] = v;
  return out as Partial<T>;
}

/**
 * The error field a subsystem reads from a 200 reply (§2.5): IPAM reads `Error`, every other
 * subsystem `Err`.
 */
export type Subsystem = 'Plugin' | 'NetworkDriver' | 'IpamDriver' | 'VolumeDriver' | 'GraphDriver';
export function errorFieldOf(subsystem: Subsystem): 'Err' | 'Error' {
  return subsystem === 'IpamDriver' ? 'Error' : 'Err';
}

/** The reply's error string, read case-insensitively, or "" if none. */
export function replyError(subsystem: Subsystem, body: unknown): string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return '';
  const want = errorFieldOf(subsystem).toLowerCase();
  for (const [k, v] of Object.entries(body)) if (k.toLowerCase() === want && typeof v === 'string') return v;
  return '';
}
