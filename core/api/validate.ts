// core/api/validate.ts — zod at the edge: parse a request body or query into a typed value, or
// throw an error whose message names the field and the reason ("IPAM.Config[0].Subnet: …").

import { z, ZodError } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { parseFilters, type Filters } from '../model/filters.js';

function pathText(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

export function formatZodError(e: ZodError): string {
  const parts = e.issues.slice(0, 3).map((i) => {
    const at = pathText(i.path);
    if (i.code === 'unrecognized_keys') {
      const keys = (i as { keys: string[] }).keys;
      return keys.map((k) => `${at ? at + '.' : ''}${k}: unknown field`).join('; ');
    }
    return `${at || 'body'}: ${i.message}`;
  });
  return `invalid request: ${parts.join('; ')}`;
}

export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  // express.json leaves the body undefined when the request had none.
  const r = schema.safeParse(body === undefined ? {} : body);
  if (!r.success) throw new InvalidArgumentError(formatZodError(r.error));
  return r.data;
}

/** Docker's boolean query values: 1/true/True (and 0/false/False). */
export function boolQuery(v: unknown, name: string): boolean {
  if (v === undefined || v === '') return false;
  if (typeof v !== 'string') throw new InvalidArgumentError(`${name}: must be given once`);
  if (/^(1|true|True|TRUE)$/.test(v)) return true;
  if (/^(0|false|False|FALSE)$/.test(v)) return false;
  throw new InvalidArgumentError(`${name}: ${JSON.stringify(v)} is not a boolean`);
}

export function filtersQuery(v: unknown): Filters {
  if (v !== undefined && typeof v !== 'string') throw new InvalidArgumentError('filters: must be given once');
  try {
    return parseFilters(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Go encodes empty maps and slices as null: accept null wherever a field is optional. */
export const strMap = z.record(z.string(), z.string()).nullish();
export const strList = z.array(z.string()).nullish();
