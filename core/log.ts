// core/log.ts — the structured logger injected everywhere (JSON lines, levels, child fields).
//
// Hot paths (attach, publish, DNS answer) do not log; they publish to diagnostics_channel.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
const rank: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. { driver: 'bridge' }). */
  child(fields: LogFields): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

export interface LogSink {
  write(line: string): void;
}

export function isLogLevel(s: string): s is LogLevel {
  return s in rank;
}

function serialiseError(e: unknown): unknown {
  if (e instanceof Error) {
    const out: Record<string, unknown> = { message: e.message, name: e.name };
    if ('code' in e) out.code = (e as { code: unknown }).code;
    if ('errno' in e) out.errno = (e as { errno: unknown }).errno;
    return out;
  }
  return e;
}

class JsonLogger implements Logger {
  constructor(
    readonly level: LogLevel,
    private readonly sink: LogSink,
    private readonly bound: LogFields,
  ) {}

  isLevelEnabled(level: LogLevel): boolean {
    return rank[level] >= rank[this.level];
  }

  private emit(level: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields): void {
    if (rank[level] < rank[this.level]) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...this.bound };
    if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = k === 'err' ? serialiseError(v) : v;
    this.sink.write(JSON.stringify(rec) + '\n');
  }

  trace(msg: string, fields?: LogFields): void { this.emit('trace', msg, fields); }
  debug(msg: string, fields?: LogFields): void { this.emit('debug', msg, fields); }
  info(msg: string, fields?: LogFields): void { this.emit('info', msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.emit('warn', msg, fields); }
  error(msg: string, fields?: LogFields): void { this.emit('error', msg, fields); }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.level, this.sink, { ...this.bound, ...fields });
  }
}

export function createLogger(opts: { level?: LogLevel; sink?: LogSink; fields?: LogFields } = {}): Logger {
  return new JsonLogger(opts.level ?? 'info', opts.sink ?? process.stderr, opts.fields ?? {});
}

/** A logger that drops everything (unit tests, tools). */
export const silentLogger: Logger = createLogger({ level: 'silent', sink: { write() {} } });

/** A logger that keeps lines in memory, for tests that assert what was logged. */
export function createMemoryLogger(level: LogLevel = 'trace'): Logger & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level, sink: { write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
  return Object.assign(logger, { lines });
}
