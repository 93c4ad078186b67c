// bin/tsctl.ts — tsctl's entry point: real stdio, a y/N prompt when interactive, and the process
// seam for `sandbox exec` (nsenter --net=PATH [--root=ROOT --wd=/] -- argv, inherited stdio; without a
// root, the sandbox's resolv.conf and hosts are bound over /etc's in a private mount namespace).

import { spawn } from 'node:child_process';
import readline from 'node:readline/promises';
import { runCli } from '../cli/main.js';

function spawnInNetns(netnsPath: string, argv: string[], opts: { root?: string; resolvConf?: string; hosts?: string } = {}): Promise<number> {
  return new Promise((resolve) => {
    let args: string[];
    if (opts.root) {
      args = [`--net=${netnsPath}`, `--root=${opts.root}`, '--wd=/', '--', ...argv];
    } else {
      // No root filesystem: do what `ip netns exec` does with /etc/netns/NAME — a private mount
      // namespace with the sandbox's resolv.conf and hosts bound over the host's, so the command
      // resolves through the sandbox's resolver (127.0.0.11). Best effort per file: an /etc entry
      // that cannot be bound over (a dangling symlink) leaves the host's file, not a failed exec.
      // argv reaches the command as "$@", never through the shell's parser.
      const binds = '[ -f "$1" ] && mount --bind "$1" /etc/resolv.conf 2>/dev/null; [ -f "$2" ] && mount --bind "$2" /etc/hosts 2>/dev/null; shift 2; exec "$@"';
      args = [`--net=${netnsPath}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', binds, 'sh', opts.resolvConf ?? '', opts.hosts ?? '', ...argv];
    }
    const child = spawn('nsenter', args, { stdio: 'inherit' });
    child.on('error', (e) => {
      process.stderr.write(`Error: exec ${argv[0]}: ${e.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  spawnInNetns,
  stdin: process.stdin,
  stdoutStream: process.stdout,
  stdoutIsTTY: !!process.stdout.isTTY,
  stderrIsTTY: !!process.stderr.isTTY,
  ...(process.stdin.isTTY ? { confirm } : {}),
});
// Let stdout drain before exiting (pipes).
process.stdout.write('', () => process.exit(code));
