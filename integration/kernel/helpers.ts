// integration/kernel/helpers.ts — shared bits of the real-kernel tests: run `ip`/`bridge` with
// argv arrays and parse their JSON, a unique name prefix per run, and the root check.
// These tests run inside `unshare --net --mount` (scripts/test-integration.sh).

import { execa } from 'execa';

/** Short unique prefix (names must fit IFNAMSIZ=15 with a suffix). */
export const prefix = `k${(process.pid % 1000).toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;

export async function run(cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/** `ip [-n NS] -j ARGS` parsed. */
export async function ipJson<T = any>(args: string[], netns?: string): Promise<T> {
  const out = await run('ip', [...(netns ? ['-n', netns] : []), '-j', ...args]);
  return (out.trim() ? JSON.parse(out) : []) as T;
}

export async function bridgeJson<T = any>(args: string[], netns?: string): Promise<T> {
  const out = await run('bridge', [...(netns ? ['-n', netns] : []), '-j', ...args]);
  return (out.trim() ? JSON.parse(out) : []) as T;
}

export function requireRoot(ctx: Mocha.Context): void {
  if (process.getuid?.() !== 0) ctx.skip();
}
