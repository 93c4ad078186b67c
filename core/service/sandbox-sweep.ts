// core/service/sandbox-sweep.ts — the daemon's background sweep of vanished sandboxes
// (peers.md #30, libnetwork#786): every interval, SandboxService.sweepVanished removes the
// sandboxes whose namespace or adopted process is gone, so `network ls/inspect`, DNS and IPAM
// stop holding a dead endpoint without waiting for a restart or a `network rm`. One pass at a
// time (the next is armed when one ends); the timer never keeps the process alive, and stop()
// ends it before the store closes.

import type { Logger } from '../log.js';
import type { SandboxService } from './sandboxes.js';

export interface SandboxSweep {
  /** Run one pass now (after the one in flight, if any). */
  runNow(): Promise<{ removed: string[]; failed: string[] }>;
  /** Disarm the timer and wait for the pass in flight (it stops between sandboxes). Idempotent. */
  stop(): Promise<void>;
}

export function startSandboxSweep(o: { sandboxes: SandboxService; intervalMs: number; log: Logger }): SandboxSweep {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<{ removed: string[]; failed: string[] }> | undefined;
  const pass = async () => {
    const t0 = process.hrtime.bigint();
    const r = await o.sandboxes.sweepVanished(() => stopped);
    if (r.removed.length || r.failed.length) {
      o.log.info('sweep: pass done', { removed: r.removed, failed: r.failed, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    }
    return r;
  };
  const runNow = (): Promise<{ removed: string[]; failed: string[] }> => {
    if (stopped) return Promise.resolve({ removed: [], failed: [] });
    const prev = inFlight ?? Promise.resolve(undefined);
    const mine = prev.then(pass, pass).catch((e: unknown) => {
      // listSandboxes failed (store trouble): the next pass retries.
      o.log.error('sweep: pass failed', { err: e });
      return { removed: [], failed: [] };
    });
    inFlight = mine;
    void mine.finally(() => { if (inFlight === mine) inFlight = undefined; });
    return mine;
  };
  const arm = () => {
    if (stopped || o.intervalMs <= 0) return;
    timer = setTimeout(() => { timer = undefined; void runNow().finally(arm); }, o.intervalMs);
    timer.unref();
  };
  arm();
  if (o.intervalMs > 0) o.log.info('sweep: vanished sandboxes are checked periodically', { intervalMs: o.intervalMs });
  return {
    runNow,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
