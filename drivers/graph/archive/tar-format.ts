// drivers/graph/archive/tar-format.ts — the tar wire format shared by the reader and the writer:
// ustar header fields, numeric encodings (octal and base-256), PAX records, entry types.
//
// Limits on names are ours, not tar's: a path over PATH_MAX or a component over NAME_MAX can never
// be created on Linux, so the reader refuses it early with a clear error instead of failing late.

import { InvalidArgumentError } from '../../../core/errors.js';

export const BLOCK = 512;
export const PATH_MAX = 4096;
export const NAME_MAX = 255;
/** PAX / GNU long-name payloads larger than this are refused (a real header is a few KiB). */
export const META_MAX = 1 << 20;

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** Name exactly as in the archive (after PAX / GNU long-name overrides). */
  name: string;
  type: EntryType;
  /** Permission bits plus setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From PAX SCHILY.xattr.* records. */
  xattrs?: Map<string, Buffer>;
}

const typeByFlag: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};
export const flagByType: Record<EntryType, string> = {
  file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

export function entryTypeOf(flag: string): EntryType | undefined {
  return typeByFlag[flag];
}

/** Read a numeric header field: octal text (NUL/space padded) or GNU base-256. */
export function readNumber(buf: Buffer, off: number, len: number, field: string): number {
  const first = buf[off]!;
  if (first & 0x80) {
    if (first === 0xff) throw new InvalidArgumentError(`tar header: negative ${field}`);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + buf[off + i]!;
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`tar header: ${field} out of range`);
    return v;
  }
  let v = 0;
  let i = off;
  const end = off + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new InvalidArgumentError(`tar header: ${field} is not an octal number`);
    v = v * 8 + (c - 0x30);
  }
  return v;
}

/** Read a NUL-terminated string field. */
export function readString(buf: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('utf8', off, end);
}

export function isZeroBlock(buf: Buffer, off: number): boolean {
  // Byte loop: a real header's first byte (its name) is non-zero, so this returns at once; the
  // BigInt reads it replaces allocated on every header.
  for (let i = off; i < off + BLOCK; i++) {
    if (buf[i] !== 0) return false;
  }
  return true;
}

export function headerChecksumOk(buf: Buffer, off: number): boolean {
  const stored = readNumber(buf, off + 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : buf[off + i]!;
  return sum === stored;
}

/** Parse the records of a PAX extended header (`"%d %s=%s\n"`), values kept as bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) throw new InvalidArgumentError('tar PAX header: record without a length');
    const len = Number(data.toString('latin1', pos, sp));
    if (!Number.isSafeInteger(len) || len <= sp - pos || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new InvalidArgumentError('tar PAX header: bad record length');
    }
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= pos + len) throw new InvalidArgumentError('tar PAX header: record without "="');
    out.set(data.toString('utf8', sp + 1, eq), data.subarray(eq + 1, pos + len - 1));
    pos += len;
  }
  return out;
}

/** One PAX record with its self-inclusive decimal length prefix. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const body = Buffer.byteLength(key) + v.length + 3;
  let len = body + String(body).length;
  if (String(len).length > String(body).length) len++;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'utf8'), v, Buffer.from('\n')]);
}

export function writeOctal(buf: Buffer, off: number, len: number, value: number): boolean {
  const s = value.toString(8);
  if (s.length > len - 1) return false;
  buf.write(s.padStart(len - 1, '0'), off, len - 1, 'latin1');
  buf[off + len - 1] = 0;
  return true;
}

export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
