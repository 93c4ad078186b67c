// core/kernel/netns-pin.ts — network namespaces pinned at a file path (bind mount of nsfs), as
// `ip netns` does under /run/netns but at any path tsd chooses (<execRoot>/netns/<id>):
// create a new one, pin a running process's, check, unpin. Uses util-linux `unshare --net=PATH`
// and `nsenter` (argv only, no shell) plus mount(2) through mount.ts.
//
// A later netlink-based netns module may replace the exec calls; the NetnsProvider contract
// (core/service/hooks.ts) stays.

import fs from 'node:fs';
import { execa } from 'execa';
import { KernelError, errnoNumber } from './kernel-error.js';
import { bindMount, unmountIfMounted, MNT } from './mount.js';

async function run(op: string, object: string, file: string, args: string[]): Promise<void> {
  const r = await execa(file, args, { reject: false, timeout: 10_000, stdin: 'ignore' });
  if (r.exitCode !== 0) {
    const detail = (r.stderr || r.stdout || `exit ${r.exitCode}`).trim();
    throw new KernelError(op, object, errnoNumber(/File exists/.test(detail) ? 'EEXIST' : /No such/.test(detail) ? 'ENOENT' : 'EINVAL') ?? 22, detail);
  }
}

export const netnsPins = {
  /** New empty netns pinned at `path`, loopback up. Undone by remove. */
  async create(path: string): Promise<void> {
    fs.writeFileSync(path, '', { flag: 'wx', mode: 0o444 });
    try {
      await run('create netns', path, 'unshare', [`--net=${path}`, '--', 'true']);
      await run('set lo up in netns', path, 'nsenter', [`--net=${path}`, '--', 'ip', 'link', 'set', 'lo', 'up']);
    } catch (e) {
      await netnsPins.remove(path);
      throw e;
    }
  },

  /** Pin the netns of process `pid` at `path`. */
  async pinPid(pid: number, path: string): Promise<void> {
    const src = `/proc/${pid}/ns/net`;
    if (!fs.existsSync(src)) throw new KernelError('pin netns of pid', String(pid), errnoNumber('ESRCH') ?? 3);
    fs.writeFileSync(path, '', { flag: 'wx', mode: 0o444 });
    try {
      bindMount(src, path);
    } catch (e) {
      fs.rmSync(path, { force: true });
      throw e;
    }
  },

  /** Unpin and delete. Idempotent. */
  async remove(path: string): Promise<void> {
    unmountIfMounted(path, MNT.DETACH);
    fs.rmSync(path, { force: true });
  },

  /** Whether `path` names a network namespace (a pinned nsfs file or /proc/PID/ns/net). */
  async isNetns(path: string): Promise<boolean> {
    if (!fs.existsSync(path)) return false;
    const r = await execa('nsenter', [`--net=${path}`, '--', 'true'], { reject: false, timeout: 10_000, stdin: 'ignore' });
    return r.exitCode === 0;
  },
};
