// test/drivers/graph/archive/tar-fixtures.ts — build tars in tests with tar-stream (an independent
// writer, so the parser is not only checked against our own encoder).

import { pack, type Header } from 'tar-stream';

export interface FixtureEntry extends Partial<Omit<Header, 'pax'>> {
  name: string;
  body?: string | Buffer;
  pax?: Record<string, string>;
}

export async function buildTar(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve, reject) => { p.on('end', resolve); p.on('error', reject); });
  for (const e of entries) {
    const { body, ...h } = e;
    const header = { mode: 0o644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mtime: new Date(1_700_000_000_000), ...h };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      p.entry(header, body === undefined ? '' : typeof body === 'string' ? Buffer.from(body) : body, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Split (asynchronously, like a socket) a buffer into odd-sized chunks so header/data boundaries fall mid-chunk. */
export async function* chunked(buf: Buffer, size = 333): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export function* chunkedSync(buf: Buffer, size = 333): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
