// drivers/graph/archive/tar-parser.ts — a push parser for ustar / PAX / GNU tar streams.
//
// Hot path of layer apply: chunks are fed as they arrive, file data is handed on as zero-copy
// slices of the input chunk, and the sink is called synchronously so its writes stay in order.
// Global PAX headers are ignored (as moby does); GNU sparse and multi-volume entries are refused.

import { InvalidArgumentError } from '../../../core/errors.js';
import {
  BLOCK, META_MAX, NAME_MAX, PATH_MAX, entryTypeOf, headerChecksumOk, isZeroBlock, padding, parsePax,
  readNumber, readString, type TarEntry,
} from './tar-format.js';

export interface TarSink {
  /** A new entry; its data (entry.size bytes, for regular files) follows through `data`. */
  entry(e: TarEntry): void;
  data(chunk: Buffer): void;
  /** All data of the current entry has been delivered. */
  endEntry(): void;
}

type State = 'header' | 'data' | 'meta' | 'skip' | 'end';

export class TarParser {
  private state: State = 'header';
  private partial: Buffer | null = null;
  private remain = 0;
  private pad = 0;
  private metaKind = '';
  private metaBuf: Buffer[] = [];
  private pax: Map<string, Buffer> | null = null;
  private longName: string | null = null;
  private longLink: string | null = null;
  private entries = 0;

  constructor(private readonly sink: TarSink) {}

  get entryCount(): number {
    return this.entries;
  }

  get ended(): boolean {
    return this.state === 'end';
  }

  push(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    if (this.partial) {
      const need = BLOCK - this.partial.length;
      if (n < need) {
        this.partial = Buffer.concat([this.partial, chunk]);
        return;
      }
      const block = Buffer.concat([this.partial, chunk.subarray(0, need)]);
      this.partial = null;
      off = need;
      this.header(block, 0);
    }
    while (off < n) {
      switch (this.state) {
        case 'header':
          if (n - off < BLOCK) {
            this.partial = Buffer.from(chunk.subarray(off));
            return;
          }
          this.header(chunk, off);
          off += BLOCK;
          break;
        case 'data': {
          if (this.remain > 0) {
            const take = Math.min(this.remain, n - off);
            this.sink.data(chunk.subarray(off, off + take));
            this.remain -= take;
            off += take;
            if (this.remain > 0) return;
          }
          const p = Math.min(this.pad, n - off);
          this.pad -= p;
          off += p;
          if (this.pad === 0) {
            this.state = 'header';
            this.sink.endEntry();
          }
          break;
        }
        case 'meta': {
          const take = Math.min(this.remain, n - off);
          if (take > 0) this.metaBuf.push(Buffer.from(chunk.subarray(off, off + take))); // copied: the caller may hand the chunk on
          this.remain -= take;
          off += take;
          if (this.remain > 0) return;
          const p = Math.min(this.pad, n - off);
          this.pad -= p;
          off += p;
          if (this.pad === 0) this.finishMeta();
          break;
        }
        case 'skip': {
          const take = Math.min(this.remain, n - off);
          this.remain -= take;
          off += take;
          if (this.remain === 0) this.state = 'header';
          break;
        }
        case 'end':
          return;
      }
    }
  }

  /** The input ended: throw when it stopped inside an entry. */
  finish(): void {
    if (this.state === 'end') return;
    if (this.state === 'header' && !this.partial && !this.pax && this.longName === null && this.longLink === null) {
      // No end-of-archive blocks: tolerated (GNU tar warns, moby's reader accepts io.EOF here).
      this.state = 'end';
      return;
    }
    throw new InvalidArgumentError(`tar stream: truncated after ${this.entries} entries`);
  }

  private header(buf: Buffer, off: number): void {
    if (isZeroBlock(buf, off)) {
      this.state = 'end';
      return;
    }
    if (!headerChecksumOk(buf, off)) throw new InvalidArgumentError(`tar stream: bad header checksum after ${this.entries} entries`);
    const flag = String.fromCharCode(buf[off + 156]!);
    const size = readNumber(buf, off + 124, 12, 'size');
    if (flag === 'x' || flag === 'L' || flag === 'K') {
      if (size > META_MAX) throw new InvalidArgumentError(`tar stream: ${flag === 'x' ? 'PAX header' : 'GNU long name'} of ${size} bytes is too large`);
      this.metaKind = flag;
      this.metaBuf = [];
      this.remain = size;
      this.pad = padding(size);
      this.state = 'meta';
      if (size === 0) this.finishMeta();
      return;
    }
    if (flag === 'g') {
      this.remain = size + padding(size);
      this.state = this.remain ? 'skip' : 'header';
      return;
    }
    const type = entryTypeOf(flag);
    const pax = this.pax;
    let name = this.longName;
    if (name === null) {
      name = readString(buf, off, 100);
      if (buf.toString('latin1', off + 257, off + 262) === 'ustar') {
        const prefix = readString(buf, off + 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
    }
    let linkname = this.longLink ?? readString(buf, off + 157, 100);
    const e: TarEntry = {
      name,
      type: type ?? 'file',
      mode: readNumber(buf, off + 100, 8, 'mode') & 0o7777,
      uid: readNumber(buf, off + 108, 8, 'uid'),
      gid: readNumber(buf, off + 116, 8, 'gid'),
      size,
      mtime: readNumber(buf, off + 136, 12, 'mtime'),
      linkname,
      devmajor: 0,
      devminor: 0,
    };
    if (type === 'char' || type === 'block') {
      e.devmajor = readNumber(buf, off + 329, 8, 'devmajor');
      e.devminor = readNumber(buf, off + 337, 8, 'devminor');
    }
    if (pax) {
      for (const [k, v] of pax) {
        switch (k) {
          case 'path': e.name = v.toString('utf8'); break;
          case 'linkpath': linkname = e.linkname = v.toString('utf8'); break;
          case 'size': e.size = paxNumber(k, v); break;
          case 'uid': e.uid = paxNumber(k, v); break;
          case 'gid': e.gid = paxNumber(k, v); break;
          case 'mtime': e.mtime = Math.floor(Number(v.toString('latin1'))); break;
          default:
            if (k.startsWith('SCHILY.xattr.')) (e.xattrs ??= new Map()).set(k.slice(13), v);
            else if (k.startsWith('GNU.sparse.')) throw new InvalidArgumentError(`tar entry ${e.name}: sparse files are not supported`);
        }
      }
    }
    this.pax = null;
    this.longName = null;
    this.longLink = null;
    if (type === undefined) {
      throw new InvalidArgumentError(`tar entry ${e.name}: unsupported entry type ${JSON.stringify(flag)}`);
    }
    checkName(e.name, 'name');
    if (e.type === 'link' || e.type === 'symlink') checkName(e.linkname, 'link target');
    if (e.type !== 'file') {
      // Only regular files carry data; anything else with a size is skipped like GNU tar does.
      if (e.size) {
        this.remain = e.size + padding(e.size);
        this.state = 'skip';
      }
      e.size = 0;
    }
    this.entries++;
    this.sink.entry(e);
    if (e.type === 'file') {
      this.remain = e.size;
      this.pad = padding(e.size);
      this.state = 'data';
      if (e.size === 0) {
        this.state = 'header';
        this.sink.endEntry();
      }
    } else if (this.state !== 'skip') {
      this.sink.endEntry();
    } else {
      this.sink.endEntry();
    }
  }

  private finishMeta(): void {
    const data = this.metaBuf.length === 1 ? this.metaBuf[0]! : Buffer.concat(this.metaBuf);
    this.metaBuf = [];
    this.state = 'header';
    if (this.metaKind === 'x') {
      this.pax = parsePax(data);
    } else {
      const end = data.indexOf(0);
      const s = data.toString('utf8', 0, end < 0 ? data.length : end);
      if (this.metaKind === 'L') this.longName = s;
      else this.longLink = s;
    }
  }
}

function paxNumber(key: string, v: Buffer): number {
  const s = v.toString('latin1');
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`tar PAX header: ${key}=${s} is not a valid number`);
  return n;
}

function checkName(name: string, what: string): void {
  if (name.length * 3 <= NAME_MAX && !name.includes('\0')) return; // a UTF-16 unit is ≤ 3 UTF-8 bytes: short names cannot exceed a limit
  if (Buffer.byteLength(name) > PATH_MAX) {
    throw new InvalidArgumentError(`tar entry ${name.slice(0, 40)}…: ${what} is ${Buffer.byteLength(name)} bytes, longer than PATH_MAX (${PATH_MAX})`);
  }
  if (name.includes('\0')) throw new InvalidArgumentError(`tar entry ${name}: ${what} contains a NUL byte`);
  for (const c of name.split('/')) {
    if (Buffer.byteLength(c) > NAME_MAX) {
      throw new InvalidArgumentError(`tar entry ${name.slice(0, 40)}…: ${what} has a component of ${Buffer.byteLength(c)} bytes, longer than NAME_MAX (${NAME_MAX})`);
    }
  }
}
