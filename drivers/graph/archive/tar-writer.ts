// drivers/graph/archive/tar-writer.ts — encode tar headers the way moby's archive package writes
// them: ustar blocks, PAX records when a field does not fit (long names, big ids) or carries
// xattrs, empty uname/gname, whole-second mtimes. Deterministic: same input, same bytes.

import { BLOCK, flagByType, paxRecord, writeOctal, type EntryType } from './tar-format.js';

export interface HeaderFields {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Buffer>;
}

const USTAR_MAGIC = Buffer.from('ustar\x0000', 'latin1');
const ascii = /^[\x01-\x7f]*$/;

/** Split a name into ustar prefix (≤155) + name (≤100) when it can be; undefined otherwise. */
function splitUstar(name: string): [string, string] | undefined {
  if (!ascii.test(name)) return undefined;
  if (name.length <= 100) return ['', name];
  if (name.length > 256) return undefined;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
    if (rest.length > 100) return undefined;
  }
  return undefined;
}

function ustarBlock(f: HeaderFields, name: string, prefix: string, linkname: string, typeflag: string, size: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  writeOctal(b, 100, 8, f.mode & 0o7777);
  if (!writeOctal(b, 108, 8, f.uid)) writeOctal(b, 108, 8, 0);
  if (!writeOctal(b, 116, 8, f.gid)) writeOctal(b, 116, 8, 0);
  if (!writeOctal(b, 124, 12, size)) writeOctal(b, 124, 12, 0);
  writeOctal(b, 136, 12, Math.max(0, Math.min(f.mtime, 0o77777777777)));
  b.write(typeflag, 156, 1, 'latin1');
  b.write(linkname, 157, 100, 'utf8');
  USTAR_MAGIC.copy(b, 257);
  writeOctal(b, 329, 8, f.devmajor ?? 0);
  writeOctal(b, 337, 8, f.devminor ?? 0);
  b.write(prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

/** The header block(s) of one entry: an optional PAX header + its data, then the ustar block. */
export function encodeHeader(f: HeaderFields): Buffer {
  const records: Buffer[] = [];
  let name = f.name;
  let prefix = '';
  const split = splitUstar(f.name);
  if (split) [prefix, name] = split;
  else {
    records.push(paxRecord('path', f.name));
    name = Buffer.from(f.name, 'utf8').subarray(0, 100).toString('latin1').replace(/[^\x01-\x7f]/g, '_');
  }
  let linkname = f.linkname ?? '';
  if (linkname && (linkname.length > 100 || !ascii.test(linkname))) {
    records.push(paxRecord('linkpath', linkname));
    linkname = '';
  }
  const big = 0o7777777;
  if (f.uid > big) records.push(paxRecord('uid', String(f.uid)));
  if (f.gid > big) records.push(paxRecord('gid', String(f.gid)));
  if (f.size > 0o77777777777) records.push(paxRecord('size', String(f.size)));
  if (f.xattrs) {
    const names = [...f.xattrs.keys()].sort();
    for (const n of names) records.push(paxRecord(`SCHILY.xattr.${n}`, f.xattrs.get(n)!));
  }
  const main = ustarBlock(f, name, prefix, linkname, flagByType[f.type], f.size);
  if (records.length === 0) return main;
  const data = Buffer.concat(records);
  const paxName = `PaxHeaders.0/${f.name.split('/').filter(Boolean).pop() ?? ''}`.slice(0, 100);
  const paxHeader = ustarBlock({ ...f, mode: 0o644, uid: 0, gid: 0, type: 'file' }, paxName.replace(/[^\x01-\x7f]/g, '_'), '', '', 'x', data.length);
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return Buffer.concat([paxHeader, data, Buffer.alloc(pad), main]);
}

export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);
