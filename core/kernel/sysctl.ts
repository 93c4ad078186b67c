// core/kernel/sysctl.ts — read and write /proc/sys, per network namespace.
//
// /proc/sys/net/* shows the netns of the thread that *opens* the file (not of /proc's mounter),
// so the open happens inside a withNetns window; the read/write on that fd is then correct from
// anywhere. Sync fs only: libuv's threadpool never enters the window (toolchain.md §3).
// Keys use sysctl(8) dots ("net.ipv4.ip_forward") or slashes ("net/ipv4/conf/eth0.100/forwarding",
// for interface names that contain dots).

import fs from 'node:fs';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { KernelError } from './kernel-error.js';
import { hostNetns, withNetns, type Netns } from './netns.js';

const keyRe = /^[A-Za-z0-9_.\-/:@]+$/;

/** "net.ipv4.ip_forward" → "/proc/sys/net/ipv4/ip_forward"; rejects anything escaping /proc/sys. */
export function sysctlPath(key: string): string {
  if (typeof key !== 'string' || !keyRe.test(key)) {
    throw new InvalidArgumentError(`sysctl key: ${JSON.stringify(key)} has characters outside [A-Za-z0-9_.-/:@]`);
  }
  const rel = key.includes('/') ? key : key.replaceAll('.', '/');
  const parts = rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new InvalidArgumentError(`sysctl key: ${JSON.stringify(key)} is not a sysctl path`);
  }
  return `/proc/sys/${rel}`;
}

/** The per-interface key, safe for names with dots: netConfKey(4, 'eth0.5', 'forwarding'). */
export function netConfKey(family: 4 | 6, ifname: string, setting: string): string {
  return `net/${family === 4 ? 'ipv4' : 'ipv6'}/conf/${ifname}/${setting}`;
}

function openIn(ns: Netns, key: string, flags: number): number {
  const p = sysctlPath(key);
  return withNetns(ns, () => {
    try {
      return fs.openSync(p, flags);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') throw new NotFoundError(`sysctl ${key}: no such key in netns ${String(ns)}`);
      throw new KernelError('open sysctl', key, -(err.errno ?? -5));
    }
  });
}

/** Read a sysctl (trailing newline removed). */
export function readSysctl(key: string, ns: Netns = hostNetns()): string {
  const fd = openIn(ns, key, fs.constants.O_RDONLY);
  try {
    return fs.readFileSync(fd, 'utf8').replace(/\n$/, '');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Write a sysctl and return its previous value (the undo is writeSysctl(key, previous, ns)).
 * Skips the write when the value is already set.
 */
export function writeSysctl(key: string, value: string | number, ns: Netns = hostNetns()): string {
  const fd = openIn(ns, key, fs.constants.O_RDWR);
  try {
    const previous = fs.readFileSync(fd, 'utf8').replace(/\n$/, '');
    const next = String(value);
    if (previous !== next) {
      try {
        fs.writeSync(fd, next, 0);
      } catch (e) {
        throw new KernelError('write sysctl', `${key}=${next}`, -((e as NodeJS.ErrnoException).errno ?? -5));
      }
    }
    return previous;
  } finally {
    fs.closeSync(fd);
  }
}

export const sysctlApi = { read: readSysctl, write: writeSysctl, path: sysctlPath, netConfKey };
export type SysctlApi = typeof sysctlApi;
