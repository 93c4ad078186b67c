// core/kernel/exec.ts — run a helper binary (cp, mount, nft, iptables-restore) and collect its
// output: the kernel layer's only process seam. Plain child_process, so the daemon does not load
// execa (~0.2 s of module loading at start-up) for commands it runs only on fallback paths.

import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit code; undefined when the command could not start, was killed or timed out. */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** One line describing a failure ("" on success). */
  message: string;
}

export interface CommandOptions {
  /** Written to stdin (stdin is /dev/null without it). */
  input?: string;
  cwd?: string;
  /** Kill with SIGKILL after this many ms. */
  timeout?: number;
}

/** Never rejects: a missing binary or a timeout is a result with exitCode undefined and a message. */
export function runCommand(cmd: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let message = '';
    let timer: NodeJS.Timeout | undefined;
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => { message ||= `${cmd}: ${e.message}`; });
    if (opts.timeout) timer = setTimeout(() => { message = `${cmd}: timed out after ${opts.timeout} ms`; child.kill('SIGKILL'); }, opts.timeout);
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => { /* EPIPE: the command exited early; its exit status tells why */ });
      child.stdin!.end(opts.input);
    }
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (!message && code !== 0) message = signal ? `${cmd}: killed by ${signal}` : `${cmd}: exit status ${code}`;
      resolve({ exitCode: code ?? undefined, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), message });
    });
  });
}
