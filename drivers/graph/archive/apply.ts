// drivers/graph/archive/apply.ts — unpack a Docker layer tar into a layer directory while
// computing its sha256 diff ID over the very same bytes (dockerd hashes the whole body).
//
// Hot path. Writes are synchronous (one syscall each, no thread-pool hop per entry); the event
// loop is only held for one input chunk at a time. Safety without a chroot: every parent
// directory of an entry is checked to be a real directory (never a symlink) before anything is
// created under it, names are cleaned lexically (layer-path.ts), and files are opened O_NOFOLLOW
// | O_EXCL. Directory mtimes are set last, after all their children exist.
// Whiteouts: 'overlay' writes them as overlayfs does (0/0 char device, opaque xattr), 'aufs'
// carries them out (deletes what they name), which is what vfs and the naive differ need.

import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { FilesApi } from '../../../core/kernel/index.js';
import { ForbiddenError, InvalidArgumentError, withContext } from '../../../core/errors.js';
import { cleanEntryName, hardlinkTarget, symlinkTargetInside } from './layer-path.js';
import { TarParser, type TarSink } from './tar-parser.js';
import { OffThreadSha256, hashFileOffThread } from './digest-worker.js';
import { BufferPool, readPooled } from './buffer-pool.js';
import type { TarEntry } from './tar-format.js';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export type WhiteoutFormat = 'overlay' | 'aufs';

export interface ApplyOptions {
  files: Pick<FilesApi, 'mknod' | 'setXattr' | 'listXattrs' | 'removeXattr'>;
  whiteouts: WhiteoutFormat;
  /** xattr that marks an opaque directory ('trusted.overlay.opaque' unless userxattr). */
  opaqueXattr?: string;
}

export interface ApplyResult {
  /** Bytes of regular-file content written (moby's ApplyDiff size). */
  size: number;
  /** "sha256:<hex>" of every byte read from the stream. */
  diffId: string;
  entries: number;
}

/** Streams larger than this hash on the digest worker (a worker round trip costs ~1 ms). */
const OFF_THREAD_AFTER = 8 << 20;

/**
 * Descriptor input is read into a pool: 2 MiB reads, 24 buffers (48 MiB at most per apply), 8 MiB
 * per digest-worker message (well under the pool, see OffThreadSha256).
 */
const POOL_BUFFER = 2 << 20;
const POOL_BUFFERS = 24;
const POOL_BATCH = 8 << 20;

/**
 * A whole regular file is read twice, each time into a small buffer that stays in the reading
 * core's L2 cache: here (parse and write) and on the digest worker (hash). Two cache-hot reads cost
 * less CPU than one read into cold, rotating buffers plus the hand-over (measured: a 64 KiB
 * buffer reads 637 MB for ~120 ms of kernel time, 256 KiB and larger ones need ~350 ms).
 */
const FILE_READ = 64 << 10;
/** Reading a file synchronously, the event loop still gets a turn this often. */
const YIELD_EVERY = 8 << 20;
/**
 * What applyLayer reads. `{ fd }`: an open file or pipe, read from its current position to EOF
 * into pooled buffers (no allocation per read); the caller keeps the descriptor. An fs.ReadStream
 * of a whole file that nobody has read from yet is read the same way (through its own descriptor
 * on its path; the stream is destroyed afterwards).
 */
export type LayerSource = Readable | AsyncIterable<Uint8Array> | { fd: number };

const O_CREATE_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const euid = process.geteuid?.() ?? 0;
const egid = process.getegid?.() ?? 0;
/** The process umask, read without changing it (process.umask() sets it briefly); 0o777 if unknown. */
const umask = (() => {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    return m ? parseInt(m[1]!, 8) : 0o777;
  } catch {
    return 0o777;
  }
})();

/** Apply `tar` to the existing directory `dest`. On error the caller removes what was written. */
export async function applyLayer(tar: LayerSource, dest: string, opts: ApplyOptions): Promise<ApplyResult> {
  const root = fs.realpathSync(dest);
  const input = descriptorInput(tar);
  if (!input) return applyFrom(tar as AsyncIterable<Uint8Array>, null, root, dest, opts);
  try {
    if (input.wholeFile) return await applyFromFile(input.fd, root, dest, opts);
    return await applyFrom(readPooled(input.fd, input.pool), input.pool, root, dest, opts);
  } finally {
    if (input.ownFd) fs.closeSync(input.fd);
    if (input.stream) await closeUnread(input.stream);
  }
}

/**
 * Close a ReadStream we read around: its own open may still be in flight (and may fail once the
 * caller moved on): its errors are ours to drop, and it is closed before applyLayer returns.
 */
function closeUnread(s: fs.ReadStream): Promise<void> {
  s.on('error', () => {});
  if (s.closed) return Promise.resolve();
  return new Promise((resolve) => {
    s.once('close', () => resolve());
    s.destroy();
  });
}

interface DescriptorInput { fd: number; pool: BufferPool; ownFd: boolean; stream?: fs.ReadStream; wholeFile?: boolean }

function descriptorInput(tar: LayerSource): DescriptorInput | null {
  const pool = () => new BufferPool(POOL_BUFFER, POOL_BUFFERS);
  if (tar instanceof fs.ReadStream) {
    // Only a stream over a whole regular file that nobody consumes yet: then reading its path
    // gives the same bytes. Anything else (a fifo, a start offset, a 'data' listener) is streamed.
    const s = tar as fs.ReadStream & { start?: number; end?: number };
    if (typeof s.path !== 'string' || s.bytesRead !== 0 || s.readableDidRead || s.readableLength !== 0 || s.readableFlowing !== null ||
      s.listenerCount('data') > 0 || s.listenerCount('readable') > 0 || s.start !== undefined || s.end !== Infinity) return null;
    let fd: number;
    try {
      fd = fs.openSync(s.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK); // O_NONBLOCK: a fifo must not block the open
    } catch {
      return null; // read through the stream, which reports the error as it always did
    }
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      return null;
    }
    return { fd, pool: pool(), ownFd: true, stream: s, wholeFile: true };
  }
  if (typeof tar === 'object' && tar !== null && !(Symbol.asyncIterator in tar) && typeof (tar as { fd?: unknown }).fd === 'number') {
    return { fd: (tar as { fd: number }).fd, pool: pool(), ownFd: false };
  }
  return null;
}

/**
 * A whole regular file (opened by us, read from offset 0): parse and write from a cache-hot
 * buffer while the digest worker hashes the same file (see FILE_READ). The file must not change
 * meanwhile, or the diff ID would not be of the bytes applied: its size, inode and change time
 * are checked before and after, and both readers must have seen the same number of bytes.
 */
async function applyFromFile(fd: number, root: string, dest: string, opts: ApplyOptions): Promise<ApplyResult> {
  const before = fs.fstatSync(fd, { bigint: true });
  const offThread = before.size > BigInt(OFF_THREAD_AFTER) ? hashFileOffThread(fd, 0) : null;
  const inline = offThread ? null : crypto.createHash('sha256');
  const writer = new LayerWriter(root, opts);
  const parser = new TarParser(writer);
  const buf = Buffer.allocUnsafeSlow(FILE_READ);
  let pos = 0;
  try {
    let sinceYield = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, FILE_READ, pos);
      if (n === 0) break;
      pos += n;
      const chunk = n === FILE_READ ? buf : buf.subarray(0, n);
      if (!parser.ended) parser.push(chunk);
      inline?.update(chunk);
      if ((sinceYield += n) >= YIELD_EVERY) {
        sinceYield = 0;
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    parser.finish();
    writer.finish();
    let diffId: string;
    if (offThread) {
      const r = await offThread.result;
      if (r.bytes !== pos) throw new InvalidArgumentError(`tar file: read ${pos} bytes, the digest covers ${r.bytes} (the file changed during the apply)`);
      diffId = r.digest;
    } else {
      diffId = inline!.digest('hex');
    }
    const after = fs.fstatSync(fd, { bigint: true });
    if (after.size !== before.size || after.ino !== before.ino || after.ctimeNs !== before.ctimeNs || BigInt(pos) !== before.size) {
      throw new InvalidArgumentError('tar file: changed while it was applied (its diff ID would not match its content)');
    }
    return { size: writer.size, diffId: `sha256:${diffId}`, entries: parser.entryCount };
  } catch (e) {
    writer.abort();
    await offThread?.stop(); // the worker must be done with the fd before the caller closes it
    throw withContext(`apply layer to ${dest}`, e);
  }
}

async function applyFrom(tar: AsyncIterable<Uint8Array>, pool: BufferPool | null, root: string, dest: string, opts: ApplyOptions): Promise<ApplyResult> {
  // Small layers hash inline; past a few MiB the digest moves to the worker so hashing and
  // writing use both cores (the hash state cannot move, so the switch is made up front when the
  // caller knows the size, or after the first chunks otherwise).
  let inline: crypto.Hash | null = crypto.createHash('sha256');
  let offThread: OffThreadSha256 | null = null;
  const pending: Buffer[] = [];
  let seen = 0;
  const writer = new LayerWriter(root, opts);
  const parser = new TarParser(writer);
  let diffId: string;
  try {
    for await (const c of tar as AsyncIterable<Uint8Array>) {
      const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      seen += chunk.length;
      // Write first, then hand the chunk to the hasher (which may take it without a copy).
      if (!parser.ended) parser.push(chunk);
      if (offThread) {
        const wait = offThread.update(chunk, pool !== null);
        if (wait) await wait;
      } else if (seen <= OFF_THREAD_AFTER) {
        pending.push(chunk);
      } else {
        // Large stream: replay what was seen into the worker and continue there.
        offThread = pool
          ? new OffThreadSha256({ batchBytes: POOL_BATCH, returnBuffers: (bufs) => { for (const b of bufs) pool.give(b); }, onFail: (e) => pool.fail(e) })
          : new OffThreadSha256();
        for (const p of pending) offThread.update(p, pool !== null);
        pending.length = 0;
        offThread.update(chunk, pool !== null);
        inline = null;
      }
    }
    parser.finish();
    writer.finish();
    if (offThread) diffId = await offThread.digest();
    else {
      for (const p of pending) inline!.update(p);
      diffId = inline!.digest('hex');
    }
  } catch (e) {
    writer.abort();
    offThread?.abort();
    throw withContext(`apply layer to ${dest}`, e);
  }
  return { size: writer.size, diffId: `sha256:${diffId}`, entries: parser.entryCount };
}

interface DirTime { abs: string; mtime: number }

class LayerWriter implements TarSink {
  size = 0;
  private fd = -1;
  private fdPath = '';
  private fdEntry: TarEntry | null = null;
  /** Mode the open file was created with. */
  private fdMode = 0;
  /** Relative paths known to be real directories (not symlinks); '' is the root. */
  private readonly safeDirs = new Set<string>(['']);
  /** Relative paths written by this archive (AUFS opaque handling keeps them). */
  private readonly created = new Set<string>();
  private readonly dirTimes: DirTime[] = [];
  private readonly opaqueXattr: string;

  constructor(private readonly root: string, private readonly opts: ApplyOptions) {
    this.opaqueXattr = opts.opaqueXattr ?? OVERLAY_OPAQUE_XATTR;
  }

  entry(e: TarEntry): void {
    const parts = cleanEntryName(e.name);
    if (parts.length === 0) {
      if (e.type !== 'dir') throw new InvalidArgumentError(`tar entry ${JSON.stringify(e.name)}: the layer root must be a directory`);
      this.dirMeta(this.root, e);
      return;
    }
    const base = parts[parts.length - 1]!;
    const dirParts = parts.slice(0, -1);
    const parentRel = dirParts.join('/');
    this.ensureParent(dirParts, e.name);
    const parentAbs = parentRel ? `${this.root}/${parentRel}` : this.root;
    const rel = parentRel ? `${parentRel}/${base}` : base;
    const abs = `${parentAbs}/${base}`;

    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.whiteout(e, base, parentRel, parentAbs);
      return;
    }
    this.created.add(rel);
    switch (e.type) {
      case 'file': {
        this.size += e.size;
        // When open(2) alone yields the entry's mode (no chown to clear set-id bits afterwards,
        // nothing masked by the umask), the fchmod at the end is skipped: one syscall per file.
        const mode = e.uid === euid && e.gid === egid && (e.mode & (0o7000 | umask)) === 0 ? e.mode : 0o600;
        this.fdMode = mode;
        this.fd = this.create(abs, rel, () => fs.openSync(abs, O_CREATE_FILE, mode));
        this.fdPath = abs;
        this.fdEntry = e;
        return;
      }
      case 'dir': {
        try {
          fs.mkdirSync(abs, 0o700);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const st = fs.lstatSync(abs);
          if (st.isDirectory()) this.dropStaleXattrs(abs, e);
          else {
            this.removePath(abs, rel);
            fs.mkdirSync(abs, 0o700);
          }
        }
        this.safeDirs.add(rel);
        this.dirMeta(abs, e);
        return;
      }
      case 'symlink':
        symlinkTargetInside(dirParts, e.linkname, e.name);
        this.create(abs, rel, () => fs.symlinkSync(e.linkname, abs));
        this.finishMeta(abs, e, false);
        return;
      case 'link': {
        const target = hardlinkTarget(e.linkname, e.name);
        this.ensureParent(target.slice(0, -1), e.linkname, false);
        const targetAbs = `${this.root}/${target.join('/')}`;
        this.create(abs, rel, () => fs.linkSync(targetAbs, abs));
        return;
      }
      case 'char':
      case 'block':
      case 'fifo':
        this.create(abs, rel, () => this.opts.files.mknod(abs, e.type as 'char', e.mode, e.devmajor, e.devminor));
        this.finishMeta(abs, e, true);
        return;
    }
  }

  data(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
  }

  endEntry(): void {
    if (this.fd < 0) return;
    const e = this.fdEntry!;
    const fd = this.fd;
    this.fd = -1;
    try {
      if (e.uid !== euid || e.gid !== egid) fs.fchownSync(fd, e.uid, e.gid);
      if (this.fdMode !== e.mode) fs.fchmodSync(fd, e.mode);
      if (e.xattrs) this.setXattrs(this.fdPath, e);
      fs.futimesSync(fd, e.mtime, e.mtime);
    } finally {
      fs.closeSync(fd);
    }
  }

  finish(): void {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const d = this.dirTimes[i]!;
      fs.lutimesSync(d.abs, d.mtime, d.mtime);
    }
  }

  abort(): void {
    if (this.fd >= 0) {
      try { fs.closeSync(this.fd); } catch { /* already failing */ }
      this.fd = -1;
    }
  }

  /** Run `make`; when the path is taken, remove what is there (moby: RemoveAll) and retry once. */
  private create<T>(abs: string, rel: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      const e = err as { code?: string; errnoName?: string };
      if (e.code !== 'EEXIST' && e.errnoName !== 'EEXIST') throw err;
      this.removePath(abs, rel);
      return make();
    }
  }

  private removePath(abs: string, rel: string): void {
    fs.rmSync(abs, { recursive: true, force: true });
    if (this.safeDirs.delete(rel)) {
      const prefix = rel + '/';
      for (const d of this.safeDirs) if (d.startsWith(prefix)) this.safeDirs.delete(d);
    }
  }

  /**
   * Make sure every component of `dirParts` is a real directory inside the root, creating missing
   * ones (0755, like moby's MkdirAll) unless `create` is false. A symlink anywhere on the way is a
   * breakout attempt: writing through it could land outside the layer.
   */
  private ensureParent(dirParts: readonly string[], name: string, create = true): void {
    let rel = '';
    for (const c of dirParts) {
      rel = rel ? `${rel}/${c}` : c;
      if (this.safeDirs.has(rel)) continue;
      const abs = `${this.root}/${rel}`;
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) throw err;
      }
      if (!st) {
        fs.mkdirSync(abs, 0o755);
        fs.chmodSync(abs, 0o755);
        this.created.add(rel);
      } else if (st.isSymbolicLink()) {
        throw new ForbiddenError(`tar entry ${JSON.stringify(name)}: parent ${JSON.stringify(rel)} is a symlink (refused: writing through a symlink could leave the layer)`);
      } else if (!st.isDirectory()) {
        throw new InvalidArgumentError(`tar entry ${JSON.stringify(name)}: parent ${JSON.stringify(rel)} is not a directory`);
      }
      this.safeDirs.add(rel);
    }
  }

  private whiteout(e: TarEntry, base: string, parentRel: string, parentAbs: string): void {
    if (base === WHITEOUT_OPAQUE) {
      if (this.opts.whiteouts === 'overlay') {
        this.opts.files.setXattr(parentAbs, this.opaqueXattr, Buffer.from('y'));
      } else {
        this.removeOlderChildren(parentAbs, parentRel);
      }
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return; // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') {
      throw new InvalidArgumentError(`tar entry ${JSON.stringify(e.name)}: invalid whiteout name`);
    }
    const abs = `${parentAbs}/${name}`;
    const rel = parentRel ? `${parentRel}/${name}` : name;
    if (this.opts.whiteouts === 'overlay') {
      this.create(abs, rel, () => this.opts.files.mknod(abs, 'char', 0, 0, 0));
      if (e.uid !== euid || e.gid !== egid) fs.lchownSync(abs, e.uid, e.gid);
      fs.lutimesSync(abs, e.mtime, e.mtime);
      this.created.add(rel);
    } else {
      this.removePath(abs, rel);
    }
  }

  /** AUFS opaque dir: drop every child that this archive did not write. */
  private removeOlderChildren(dirAbs: string, dirRel: string): void {
    for (const name of fs.readdirSync(dirAbs)) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      const abs = `${dirAbs}/${name}`;
      if (!this.created.has(rel)) {
        this.removePath(abs, rel);
      } else if (this.safeDirs.has(rel)) {
        this.removeOlderChildren(abs, rel);
      }
    }
  }

  /** A directory kept from below gets exactly the entry's xattrs (moby only adds; we replace). */
  private dropStaleXattrs(abs: string, e: TarEntry): void {
    for (const name of this.opts.files.listXattrs(abs)) {
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) continue;
      if (!e.xattrs?.has(name)) this.opts.files.removeXattr(abs, name);
    }
  }

  private dirMeta(abs: string, e: TarEntry): void {
    if (e.uid !== euid || e.gid !== egid) fs.lchownSync(abs, e.uid, e.gid);
    fs.chmodSync(abs, e.mode);
    if (e.xattrs) this.setXattrs(abs, e);
    this.dirTimes.push({ abs, mtime: e.mtime });
  }

  private finishMeta(abs: string, e: TarEntry, chmod: boolean): void {
    if (e.uid !== euid || e.gid !== egid) fs.lchownSync(abs, e.uid, e.gid);
    if (chmod) fs.chmodSync(abs, e.mode);
    if (e.xattrs) this.setXattrs(abs, e);
    fs.lutimesSync(abs, e.mtime, e.mtime);
  }

  private setXattrs(abs: string, e: TarEntry): void {
    for (const [name, value] of e.xattrs!) {
      // overlayfs' own attributes (redirect, metacopy, origin…) only ever come from the kernel
      // or from our whiteout conversion; a tar must not be able to plant them.
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) continue;
      try {
        this.opts.files.setXattr(abs, name, value);
      } catch (err) {
        const n = (err as { errnoName?: string }).errnoName;
        if (n === 'ENOTSUP' || n === 'EOPNOTSUPP' || n === 'EPERM') continue; // moby ignores these too
        throw err;
      }
    }
  }
}

