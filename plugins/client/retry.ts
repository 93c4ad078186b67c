// plugins/client/retry.ts — dockerd's backoff (pkg/plugins/client.go, plugin-protocol.md §2.6):
// delay = 1 s × 2^n capped at 30 s, give up when elapsed + next delay ≥ 30 s. Attempts land at
// ≈ 0, 1, 3, 7, 15 s (§10.2: "30 s" is really ~15 s). Used for discovery of a missing plugin file
// and for transport-level call failures; HTTP error statuses are never retried.

import { TimeoutError } from '../../core/errors.js';

export interface RetryPolicy {
  /** First delay (dockerd: 1000). */
  baseDelayMs: number;
  /** Cap of one delay (dockerd: 30000). */
  maxDelayMs: number;
  /** Stop when elapsed + next delay reaches this (dockerd: 30000). */
  giveUpAfterMs: number;
}

export const DOCKER_RETRY: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 30_000, giveUpAfterMs: 30_000 };
/** One attempt only (scans: a stale socket must not slow `volume ls`, moby#22653). */
export const NO_RETRY: RetryPolicy = { baseDelayMs: 0, maxDelayMs: 0, giveUpAfterMs: 0 };

export function backoffDelay(p: RetryPolicy, retries: number): number {
  let d = p.baseDelayMs;
  for (let i = 0; i < retries && d < p.maxDelayMs; i++) d *= 2;
  return Math.min(d, p.maxDelayMs);
}

/** The delays dockerd would sleep between attempts, in order (for tests and docs). */
export function backoffSchedule(p: RetryPolicy): number[] {
  const out: number[] = [];
  let elapsed = 0;
  for (let retries = 0; ; retries++) {
    const d = backoffDelay(p, retries);
    if (d <= 0 || elapsed + d >= p.giveUpAfterMs) return out;
    out.push(d);
    elapsed += d;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Run `attempt` until it succeeds, `retryable(e)` says no, or the policy gives up (then the last
 * error is thrown). Elapsed time is measured from the first attempt, like dockerd.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  retryable: (e: unknown) => boolean,
  opts: { signal?: AbortSignal; onRetry?: (e: unknown, delayMs: number) => void } = {},
): Promise<T> {
  const start = Date.now();
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      if (!retryable(e)) throw e;
      const delay = backoffDelay(policy, n);
      if (delay <= 0 || Date.now() - start + delay >= policy.giveUpAfterMs) throw e;
      opts.onRetry?.(e, delay);
      await sleep(delay, opts.signal);
    }
  }
}

export function isTimeout(e: unknown): e is TimeoutError {
  return e instanceof TimeoutError;
}
