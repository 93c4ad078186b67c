// core/errors.ts — the one set of error classes every layer throws.
//
// Each class carries a stable `code`. Edges map codes to their wire form in exactly one place each:
// core/api/http-errors.ts (HTTP status), plugins/server (Err / Error), cli (exit code + one line).
// Messages name the object and the cause, outer to inner, joined with ": ".

export type ErrorCode =
  | 'NotFound'
  | 'Conflict'
  | 'InvalidArgument'
  | 'Forbidden'
  | 'Unavailable'
  | 'NotImplemented'
  | 'Timeout'
  | 'Internal';

export class TsdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = `${code}Error`;
  }
}

export class NotFoundError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('NotFound', message, options); }
}
export class ConflictError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('Conflict', message, options); }
}
export class InvalidArgumentError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('InvalidArgument', message, options); }
}
export class ForbiddenError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('Forbidden', message, options); }
}
export class UnavailableError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('Unavailable', message, options); }
}
export class NotImplementedError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('NotImplemented', message, options); }
}
export class TimeoutError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('Timeout', message, options); }
}
export class InternalError extends TsdError {
  constructor(message: string, options?: { cause?: unknown }) { super('Internal', message, options); }
}

const constructors: Record<ErrorCode, new (m: string, o?: { cause?: unknown }) => TsdError> = {
  NotFound: NotFoundError,
  Conflict: ConflictError,
  InvalidArgument: InvalidArgumentError,
  Forbidden: ForbiddenError,
  Unavailable: UnavailableError,
  NotImplemented: NotImplementedError,
  Timeout: TimeoutError,
  Internal: InternalError,
};

/** Build an error of the given code (used where the code is data, e.g. decoding a remote reply). */
export function errorOf(code: ErrorCode, message: string, options?: { cause?: unknown }): TsdError {
  return new constructors[code](message, options);
}

export function isTsdError(e: unknown): e is TsdError {
  return e instanceof TsdError;
}

/** The stable code of any thrown value; unknown errors are Internal. */
export function codeOf(e: unknown): ErrorCode {
  return isTsdError(e) ? e.code : 'Internal';
}

export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Add context to an error while keeping its code: "create network web: <inner message>".
 * The original error is kept as `cause`.
 */
export function withContext(context: string, e: unknown): TsdError {
  const code = codeOf(e);
  const err = errorOf(code, `${context}: ${messageOf(e)}`, { cause: e });
  // Keep kernel details (errno, op) reachable for callers that branch on them.
  if (e && typeof e === 'object' && 'errno' in e) Object.assign(err, { errno: (e as { errno: unknown }).errno });
  return err;
}

/** Run `fn`, prefixing any error with `context` (netavark's wrap!). */
export async function wrap<T>(context: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw withContext(context, e);
  }
}

/**
 * Several independent failures (teardown continues past each one). The code is the first
 * error's code; the message lists every step that failed.
 */
export class MultiError extends TsdError {
  readonly errors: readonly unknown[];
  constructor(context: string, errors: readonly unknown[]) {
    const first = errors[0];
    super(codeOf(first), `${context}: ${errors.map(messageOf).join('; ')}`, { cause: first });
    this.errors = errors;
  }
}
