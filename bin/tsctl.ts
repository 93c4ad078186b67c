// bin/tsctl.ts — tsctl's entry point: real stdio, a y/N prompt when interactive, and the process
// seam for `sandbox exec` (nsenter --net=PATH [--root=ROOT --wd=/] -- argv, inherited stdio, no shell).

import { spawn } from 'node:child_process';
import readline from 'node:readline/promises';
import { runCli } from '../cli/main.js';

function spawnInNetns(netnsPath: string, argv: string[], opts: { root?: string } = {}): Promise<number> {
  return new Promise((resolve) => {
    const root = opts.root ? [`--root=${opts.root}`, '--wd=/'] : [];
    const child = spawn('nsenter', [`--net=${netnsPath}`, ...root, '--', ...argv], { stdio: 'inherit' });
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
