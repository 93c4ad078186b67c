// core/kernel/kernel-error.ts — the typed error every kernel call throws: errno (number and
// name), the operation and the object, e.g. "create veth tsd1234: File exists (EEXIST)".

import os from 'node:os';
import { TsdError, type ErrorCode } from '../errors.js';

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(os.constants.errno)) errnoNames.set(num, name);
// Node's table lacks some Linux errnos that mount(2) returns.
if (!errnoNames.has(15)) errnoNames.set(15, 'ENOTBLK');

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

export function errnoNumber(name: string): number | undefined {
  return (os.constants.errno as Record<string, number>)[name];
}

const messages: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ERANGE: 'Numerical result out of range',
  ENAMETOOLONG: 'File name too long',
  ENOTEMPTY: 'Directory not empty',
  ENOTSUP: 'Operation not supported',
  EOPNOTSUPP: 'Operation not supported',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENETDOWN: 'Network is down',
  ENETUNREACH: 'Network is unreachable',
  ENOBUFS: 'No buffer space available',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
  EHOSTUNREACH: 'No route to host',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EPROTONOSUPPORT: 'Protocol not supported',
  EMLINK: 'Too many links',
  ENOTBLK: 'Block device required',
};

export function strerror(errno: number): string {
  const name = errnoName(errno);
  return messages[name] ?? name;
}

function codeForErrno(name: string): ErrorCode {
  switch (name) {
    case 'ENOENT':
    case 'ENODEV':
    case 'ESRCH':
    case 'EADDRNOTAVAIL':
      return 'NotFound';
    case 'EEXIST':
    case 'EBUSY':
    case 'ENOTEMPTY':
    case 'EADDRINUSE':
      return 'Conflict';
    case 'EINVAL':
    case 'ERANGE':
    case 'ENAMETOOLONG':
    case 'ENOTBLK':
      return 'InvalidArgument';
    case 'EPERM':
    case 'EACCES':
    case 'EROFS':
      return 'Forbidden';
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
    case 'EAFNOSUPPORT':
    case 'EPROTONOSUPPORT':
      return 'NotImplemented';
    case 'ETIMEDOUT':
      return 'Timeout';
    default:
      return 'Internal';
  }
}

export class KernelError extends TsdError {
  /** errno number (positive). */
  readonly errno: number;
  /** errno name, e.g. "EEXIST". */
  readonly errnoName: string;
  /** Operation, e.g. "create veth". */
  readonly op: string;
  /** Object acted on, e.g. "tsd1234". */
  readonly object: string;

  constructor(op: string, object: string, errno: number, detail?: string) {
    const name = errnoName(errno);
    const subject = object ? `${op} ${object}` : op;
    super(codeForErrno(name), `${subject}: ${strerror(errno)} (${name})${detail ? `: ${detail}` : ''}`);
    this.name = 'KernelError';
    this.errno = errno;
    this.errnoName = name;
    this.op = op;
    this.object = object;
  }
}

export function isKernelError(e: unknown, errnoName?: string): e is KernelError {
  return e instanceof KernelError && (errnoName === undefined || e.errnoName === errnoName);
}
