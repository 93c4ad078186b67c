// cli/output.ts — how tsctl prints: docker-style tables (columns padded to at least 10, 3 spaces
// between), `--format json`, and a small Go-template subset ({{.Field}}, {{.A.B}}, {{json .}},
// {{json .Field}}, "table " prefix, \t and \n escapes).

export type Row = Record<string, unknown>;

export interface Columns {
  /** Field name → header text, in display order. */
  [field: string]: string;
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Render rows the way docker's tabwriter does (minwidth 10, padding 3). */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(10, ...[h, ...rows.map((r) => r[i] ?? '')].map((s) => s.length + 3)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function lookup(obj: unknown, path: string): unknown {
  if (path === '' || path === '.') return obj;
  let cur: unknown = obj;
  for (const part of path.replace(/^\./, '').split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Apply a template to one object. Unknown fields render as "<no value>", as Go does. */
export function applyTemplate(tpl: string, obj: unknown): string {
  const t = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return t.replace(/\{\{\s*(json\s+)?(\.[A-Za-z0-9_.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    const v = lookup(obj, path);
    if (json) return JSON.stringify(v ?? null);
    if (v === undefined) return '<no value>';
    return cell(v);
  });
}

export function checkTemplate(tpl: string): string | undefined {
  const stripped = tpl.replace(/\{\{\s*(json\s+)?\.[A-Za-z0-9_.]*\s*\}\}/g, '');
  if (/\{\{|\}\}/.test(stripped)) return `template: unsupported action in ${JSON.stringify(tpl)} (supported: {{.Field}}, {{json .}}, {{json .Field}})`;
  return undefined;
}

/**
 * Print a list: `table` (default) or `table {{..}}` → table; `json` → one JSON object per line;
 * anything else → the template per row.
 */
export function formatList(rows: Row[], columns: Columns, format: string | undefined): string {
  const fmt = format ?? 'table';
  if (fmt === 'json') return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
  if (fmt === 'table') {
    const fields = Object.keys(columns);
    return renderTable(fields.map((f) => columns[f]!), rows.map((r) => fields.map((f) => cell(r[f]))));
  }
  if (fmt.startsWith('table ')) {
    const tpl = fmt.slice(6);
    const fields = [...tpl.matchAll(/\{\{\s*(?:json\s+)?\.([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    const headers = fields.map((f) => columns[f] ?? f.toUpperCase());
    const cells = rows.map((r) => applyTemplate(tpl, r).split('\t'));
    if (fields.length === 1 || !tpl.includes('\\t')) return [headers.join('\t'), ...cells.map((c) => c.join('\t'))].join('\n') + '\n';
    return renderTable(headers, cells);
  }
  return rows.map((r) => applyTemplate(fmt, r)).join('\n') + (rows.length ? '\n' : '');
}

/** Print inspect results: default a 4-space-indented JSON array (docker inspect); json → one per line. */
export function formatInspect(objs: unknown[], format: string | undefined): string {
  if (!format) return JSON.stringify(objs, null, 4) + '\n';
  if (format === 'json') return objs.map((o) => JSON.stringify(o)).join('\n') + '\n';
  return objs.map((o) => applyTemplate(format, o)).join('\n') + '\n';
}
