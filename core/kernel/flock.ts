// core/kernel/flock.ts — exclusive advisory locks (flock(2) through koffi) so two tsd processes
// never share one state directory. The kernel drops the lock when the holder dies, however it
// dies (kill -9 included): no stale lock files to clean up, no PID-reuse guessing.

import fs from 'node:fs';
import koffi from 'koffi';
import { ConflictError } from '../errors.js';
import { KernelError } from './kernel-error.js';

const libc = koffi.load('libc.so.6');
const flock = libc.func('int flock(int fd, int operation)');
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

export interface FileLock {
  readonly path: string;
  /** Release the lock (idempotent). */
  release(): void;
}

/**
 * Take an exclusive lock on `path` (created if missing) without waiting. The holder's PID is
 * written into the file so the refusal can name it. ConflictError when another process holds it.
 */
export function lockFile(path: string, what: string): FileLock {
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600) // node opens with O_CLOEXEC;
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = koffi.errno();
    let holder = '';
    try {
      holder = fs.readFileSync(path, 'utf8').trim();
    } catch { /* unreadable: say nothing about the holder */ }
    fs.closeSync(fd);
    if (errno === EWOULDBLOCK) {
      throw new ConflictError(`${what} is in use by another tsd${holder ? ` (pid ${holder})` : ''}: lock ${path} is held`);
    }
    throw new KernelError('flock', path, errno);
  }
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try { fs.ftruncateSync(fd, 0); } catch { /* closing releases the lock anyway */ }
      fs.closeSync(fd);
    },
  };
}
