// core/model/filters.ts — Docker's `filters` query parameter: JSON of
// {"key": ["v1","v2"]} or the legacy {"key": {"v1": true}}. Parsed once at the edge into a map
// of key → values; the services match against it.

export type Filters = Map<string, string[]>;

/** Parse the JSON text of a `filters` parameter; throws Error naming what is wrong. */
export function parseFilters(text: string | undefined): Filters {
  const out: Filters = new Map();
  if (text === undefined || text === '') return out;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('filters: not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('filters: must be a JSON object');
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out.set(k, v as string[]);
    else if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'boolean')) {
      out.set(k, Object.entries(v as Record<string, boolean>).filter(([, b]) => b).map(([s]) => s));
    } else throw new Error(`filters.${k}: must be a list of strings`);
  }
  return out;
}

/** Reject keys a route does not know (Docker: "invalid filter 'x'"). */
export function checkFilterKeys(f: Filters, allowed: readonly string[]): string | undefined {
  for (const k of f.keys()) if (!allowed.includes(k)) return `invalid filter '${k}'`;
  return undefined;
}

/** Docker's label filter: every "k" must exist, every "k=v" must match. */
export function matchLabels(labels: Record<string, string>, wanted: readonly string[] | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((w) => {
    const i = w.indexOf('=');
    return i < 0 ? w in labels : labels[w.slice(0, i)] === w.slice(i + 1);
  });
}

/** Docker's `label!` filter: none of these may match. */
export function matchNotLabels(labels: Record<string, string>, unwanted: readonly string[] | undefined): boolean {
  if (!unwanted) return true;
  return unwanted.every((w) => !matchLabels(labels, [w]));
}

/** Docker's `until` filter: an RFC 3339 time, a Unix timestamp, or a duration ("10m", "2h30m"). */
export function parseUntil(v: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v);
  if (dur && v !== '') return now - ((Number(dur[1] ?? 0) * 60 + Number(dur[2] ?? 0)) * 60 + Number(dur[3] ?? 0)) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`filters.until: ${JSON.stringify(v)} is not a timestamp or duration`);
  return t;
}
