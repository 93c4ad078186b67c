// drivers/graph/archive/export.ts — write a layer as a Docker layer tar: either a whole directory
// (overlay2's native diff: the upper dir, with 0/0 char devices turned into `.wh.<name>` files and
// opaque dirs into `.wh..wh..opq` entries) or a list of changes (the naive differ: added and
// modified entries from the new tree, `.wh.<name>` for each deletion).
//
// Deterministic: entries in byte order of their names, a directory before its contents, hardlinks
// as TypeLink to the first name seen, whole-second mtimes, empty uname/gname. All xattrs are kept
// except overlayfs' own (moby keeps only security.capability; we keep the rest so apply(diff(x))
// reproduces x).

import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { FilesApi } from '../../../core/kernel/index.js';
import { OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from './apply.js';
import { END_OF_ARCHIVE, encodeHeader, type HeaderFields } from './tar-writer.js';
import { BLOCK, type EntryType } from './tar-format.js';
import { ChangeKind, type LayerChange } from '../../../core/driver/graph-driver.js';

export type ExportFiles = Pick<FilesApi, 'readXattrs' | 'getXattr' | 'splitDev'>;

export interface ExportOptions {
  files: ExportFiles;
  /** 'overlay': convert overlayfs whiteouts/opaque dirs to the AUFS form; 'none': copy as is. */
  whiteouts: 'overlay' | 'none';
  opaqueXattr?: string;
}

const BATCH = 1 << 20;
const O_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;

/** Compare names by their UTF-8 bytes, like Go's filepath.Walk. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function sortedNames(dir: string): string[] {
  const names = fs.readdirSync(dir);
  if (names.every((n) => /^[\x00-\x7f]*$/.test(n))) return names.sort();
  return names.sort(byteOrder);
}

function typeOf(st: fs.Stats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not archived (moby skips them too)
}

function isOverlayAttr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

class EntryEncoder {
  private readonly inodes = new Map<string, string>();
  constructor(private readonly files: ExportFiles) {}

  headerOf(abs: string, name: string, st: fs.Stats): { fields: HeaderFields; dataFrom?: string } | undefined {
    const type = typeOf(st);
    if (!type) return undefined;
    const fields: HeaderFields = {
      name: type === 'dir' ? `${name}/` : name,
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: 0,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (type !== 'dir' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.inodes.get(key);
      if (first !== undefined) {
        fields.type = 'link';
        fields.linkname = first;
        return { fields };
      }
      this.inodes.set(key, name);
    }
    if (type === 'symlink') fields.linkname = fs.readlinkSync(abs);
    if (type === 'char' || type === 'block') {
      const d = this.files.splitDev(st.rdev);
      fields.devmajor = d.major;
      fields.devminor = d.minor;
    }
    const attrs = this.files.readXattrs(abs);
    for (const k of attrs.keys()) if (isOverlayAttr(k)) attrs.delete(k);
    if (attrs.size) fields.xattrs = attrs;
    if (type === 'file') {
      fields.size = st.size;
      return { fields, dataFrom: abs };
    }
    return { fields };
  }
}

/**
 * Output batching: headers and file contents are packed into 1 MiB buffers (file contents read
 * straight into them), so the consumer sees a few large chunks instead of one per header — each
 * chunk costs the consumer a write() and the stream machinery a round trip.
 */
class Batch {
  private buf = Buffer.allocUnsafe(BATCH);
  private off = 0;
  /** Full buffers, ready to be yielded. */
  readonly ready: Buffer[] = [];

  put(b: Buffer): void {
    let from = 0;
    while (from < b.length) {
      const n = b.copy(this.buf, this.off, from);
      from += n;
      this.off += n;
      if (this.off === this.buf.length) this.rotate();
    }
  }

  /** Move the current buffer to `ready` (trimmed to what was written) and start a new one. */
  rotate(): void {
    if (this.off === 0) return;
    this.ready.push(this.off === this.buf.length ? this.buf : this.buf.subarray(0, this.off));
    this.buf = Buffer.allocUnsafe(BATCH);
    this.off = 0;
  }

  /**
   * Append `size` bytes of the file at `abs` padded to whole blocks, read straight into the
   * batch; a file that shrank meanwhile is padded with zeros, one that grew is cut at `size`.
   * Yields each buffer as it fills, so a huge file is never held in memory.
   */
  *putFile(abs: string, size: number): Generator<Buffer> {
    if (size === 0) return;
    const fd = fs.openSync(abs, O_READ);
    try {
      let left = size;
      let eof = false;
      while (left > 0) {
        const want = Math.min(this.buf.length - this.off, left);
        let got = 0;
        while (!eof && got < want) {
          const n = fs.readSync(fd, this.buf, this.off + got, want - got, null);
          if (n === 0) eof = true;
          got += n;
        }
        if (got < want) this.buf.fill(0, this.off + got, this.off + want);
        this.off += want;
        left -= want;
        if (this.off === this.buf.length) {
          this.rotate();
          yield* this.ready.splice(0);
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) this.put(ZERO_BLOCK.subarray(0, pad));
  }
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

function* walkTree(root: string, opts: ExportOptions): Generator<Buffer> {
  const enc = new EntryEncoder(opts.files);
  const opaqueAttr = opts.opaqueXattr ?? OVERLAY_OPAQUE_XATTR;
  const out = new Batch();
  function* walk(dirAbs: string, dirRel: string): Generator<Buffer> {
    for (const n of sortedNames(dirAbs)) {
      const abs = `${dirAbs}/${n}`;
      const rel = dirRel ? `${dirRel}/${n}` : n;
      const st = fs.lstatSync(abs);
      if (opts.whiteouts === 'overlay' && st.isCharacterDevice() && st.rdev === 0) {
        out.put(encodeHeader({ name: dirRel ? `${dirRel}/${WHITEOUT_PREFIX}${n}` : `${WHITEOUT_PREFIX}${n}`, type: 'file', mode: 0o600, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) }));
        continue;
      }
      const h = enc.headerOf(abs, rel, st);
      if (!h) continue;
      out.put(encodeHeader(h.fields));
      if (h.dataFrom) yield* out.putFile(h.dataFrom, h.fields.size);
      if (out.ready.length) yield* out.ready.splice(0);
      if (st.isDirectory()) {
        if (opts.whiteouts === 'overlay') {
          const v = opts.files.getXattr(abs, opaqueAttr);
          if (v && v.length === 1 && v[0] === 0x79) {
            out.put(encodeHeader({ name: `${rel}/${WHITEOUT_OPAQUE}`, type: 'file', mode: st.mode & 0o777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) }));
          }
        }
        yield* walk(abs, rel);
      }
    }
  }
  yield* walk(root, '');
  out.put(END_OF_ARCHIVE);
  out.rotate();
  yield* out.ready.splice(0);
}

/** Tar of everything below `root` (the root itself is not an entry). */
export function exportTree(root: string, opts: ExportOptions): Readable {
  return Readable.from(walkTree(root, opts), { objectMode: false, highWaterMark: 4 * BATCH });
}

function* walkChanges(root: string, changes: readonly LayerChange[], files: ExportFiles): Generator<Buffer> {
  const enc = new EntryEncoder(files);
  const out = new Batch();
  const sorted = [...changes].sort((a, b) => byteOrder(a.path, b.path));
  for (const c of sorted) {
    const rel = c.path.replace(/^\/+/, '');
    if (!rel) continue;
    if (c.kind === ChangeKind.Delete) {
      const i = rel.lastIndexOf('/');
      const name = i < 0 ? `${WHITEOUT_PREFIX}${rel}` : `${rel.slice(0, i)}/${WHITEOUT_PREFIX}${rel.slice(i + 1)}`;
      out.put(encodeHeader({ name, type: 'file', mode: 0o600, uid: 0, gid: 0, size: 0, mtime: 0 }));
      continue;
    }
    const abs = `${root}/${rel}`;
    const st = fs.lstatSync(abs);
    const h = enc.headerOf(abs, rel, st);
    if (!h) continue;
    out.put(encodeHeader(h.fields));
    if (h.dataFrom) yield* out.putFile(h.dataFrom, h.fields.size);
    if (out.ready.length) yield* out.ready.splice(0);
  }
  out.put(END_OF_ARCHIVE);
  out.rotate();
  yield* out.ready.splice(0);
}

/** Tar of `changes` taken from the tree at `root` (moby's ExportChanges). */
export function exportChanges(root: string, changes: readonly LayerChange[], files: ExportFiles): Readable {
  return Readable.from(walkChanges(root, changes, files), { objectMode: false, highWaterMark: 4 * BATCH });
}
