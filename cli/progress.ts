// cli/progress.ts — a one-line progress bar on stderr for long streams (layer import/export),
// drawn only when stderr is a terminal and at most every 100 ms; a pass-through Transform so
// it sits in the pipeline without copying.

import { Transform } from 'node:stream';

/** Docker's units.HumanSize: decimal units, 3 significant digits ("4.19MB"). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** Docker's units.HumanDuration, enough of it for "Created" columns. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.floor(ms / 3_600_000 + 0.5);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.floor(h / 24);
  if (d < 14) return `${d} days`;
  return `${Math.floor(d / 7)} weeks`;
}

export function renderBar(label: string, done: number, total: number | undefined, elapsedMs: number, width = 30): string {
  const rate = elapsedMs > 0 ? humanSize((done * 1000) / elapsedMs) + '/s' : '';
  if (!total) return `${label}  ${humanSize(done)}  ${rate}`;
  const frac = Math.min(1, done / total);
  const fill = Math.round(frac * width);
  const bar = fill >= width ? '='.repeat(width) : '='.repeat(Math.max(0, fill - 1)) + '>' + ' '.repeat(width - Math.max(1, fill));
  return `${label} [${bar}] ${humanSize(done)}/${humanSize(total)}  ${rate}`;
}

/** A pass-through that draws progress with `write` (or nothing when `write` is undefined). */
export function progressStream(label: string, total: number | undefined, write: ((s: string) => void) | undefined): Transform {
  const start = Date.now();
  let done = 0;
  let last = 0;
  const draw = (final: boolean) => write?.(`\r\x1b[K${renderBar(label, done, total, Date.now() - start)}${final ? '\n' : ''}`);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      const now = Date.now();
      if (write && now - last >= 100) { last = now; draw(false); }
      cb(null, chunk);
    },
    flush(cb) {
      if (write) draw(true);
      cb();
    },
  });
}
