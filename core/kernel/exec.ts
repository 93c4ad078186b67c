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
    if (child.pid) rememberChild(child.pid);
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

/**
 * PIDs of the last commands tsd ran (a small ring). The firewall watch tells tsd's own nft /
 * iptables-nft transactions from everyone else's by the committing pid the kernel reports; a
 * child's events may be read after it exited, so its pid is kept for a while, not only while it runs.
 */
const RECENT = 256;
const recent: number[] = [];
let next = 0;

function rememberChild(pid: number): void {
  recent[next] = pid;
  next = (next + 1) % RECENT;
}

/** Whether `pid` is one of the last commands runCommand started. */
export function isRecentChild(pid: number): boolean {
  return recent.includes(pid);
}
