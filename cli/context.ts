// cli/context.ts — what every tsctl command gets: the API client, output streams, the process
// seam for `sandbox exec` (injected by bin/tsctl.ts so cli/ never spawns anything itself), and
// helpers shared by the command groups (repeatable k=v flags, filters).

import { ApiClient } from './api-client.js';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  /** Run argv inside the network namespace at `netnsPath` (chrooted into `root` when given); resolves to the exit code. */
  spawnInNetns?: (netnsPath: string, argv: string[], opts?: { root?: string; resolvConf?: string; hosts?: string }) => Promise<number>;
  /** Ask the user a yes/no question (prune); undefined = not interactive. */
  confirm?: (question: string) => Promise<boolean>;
  /** Byte streams for `layer import -` / `layer export` (stdout as a stream, binary-safe). */
  stdin?: NodeJS.ReadableStream;
  stdoutStream?: NodeJS.WritableStream;
  stdoutIsTTY?: boolean;
  /** Progress bars are drawn only on a terminal. */
  stderrIsTTY?: boolean;
}

export class CliContext {
  exitCode = 0;
  private clientInstance?: ApiClient;
  socketPath = '';
  constructor(readonly io: CliIo) {}

  get client(): ApiClient {
    this.clientInstance ??= new ApiClient(this.socketPath);
    return this.clientInstance;
  }

  out(s: string): void { this.io.stdout(s); }
  /** One line "Error: …" on stderr; marks the run failed. */
  fail(message: string): void {
    this.io.stderr(`Error: ${message}\n`);
    this.exitCode = 1;
  }
}

/** Usage errors (bad flag values) exit 2 like commander's own. */
export class UsageError extends Error {}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** "k=v" list → map; `requireValue` false lets "k" mean k="" (labels). */
export function keyValues(list: string[] | undefined, flag: string, requireValue = true): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const i = item.indexOf('=');
    if (i === 0 || (i < 0 && requireValue)) throw new UsageError(`invalid ${flag} ${JSON.stringify(item)}: expected key=value`);
    if (i < 0) out[item] = '';
    else out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** `--filter k=v` (repeatable) → Docker's filters JSON object. */
export function filtersOf(list: string[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of list ?? []) {
    const i = f.indexOf('=');
    if (i <= 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`);
    (out[f.slice(0, i)] ??= []).push(f.slice(i + 1));
  }
  return out;
}

export function labelsText(labels: Record<string, string> | null | undefined): string {
  return Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}
