// core/service/firewall-watch.ts — tsd repairs its firewall by itself when someone flushes it
// (moby#12294, netavark#1258, firewalld#534): the firewall backend reports damage (kernel events,
// or a periodic check on iptables-legacy); a burst of reports is coalesced (debounce, with a cap so
// a steady stream cannot postpone the repair for ever), uncertain damage is confirmed with the
// backend's check, then the same rebuild as `POST /firewall/reload` runs. One repair at a time;
// damage reported during a repair schedules one more after it.

import type { FirewallDamage, FirewallWatcher } from '../kernel/firewall/types.js';
import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';

export interface FirewallWatchDeps {
  /** Start the backend's watch (Firewall.watch bound to its options). */
  watch(onDamage: (d: FirewallDamage) => void): FirewallWatcher;
  /** The backend's check (what is missing now), used to confirm uncertain damage. */
  check?(): Promise<string[]>;
  /** The rebuild: FirewallService.reload. */
  repair(): Promise<unknown>;
  log: Logger;
  /** Quiet time after the last report before repairing (default 150 ms). */
  debounceMs?: number;
  /** Longest wait after the first report of a burst (default 1000 ms). */
  maxDelayMs?: number;
}

/** For GET /info. */
export interface FirewallWatchStatus {
  Enabled: boolean;
  /** events (nftables, iptables-nft) or check (iptables-legacy, every sweep interval). */
  Mode: 'events' | 'check' | 'off';
  /** Damage reports received (before coalescing). */
  Reports: number;
  /** Repairs run (each one rebuild). */
  Repairs: number;
  RepairFailures: number;
  LastRepair?: { At: string; Vanished: string[]; By?: string; DurationMs: number; Reports: number };
}

export interface FirewallWatch {
  status(): FirewallWatchStatus;
  stop(): void;
}

const MAX_WHAT = 20;

export function startFirewallWatch(d: FirewallWatchDeps): FirewallWatch {
  const debounceMs = d.debounceMs ?? 150;
  const maxDelayMs = d.maxDelayMs ?? 1000;
  const st: FirewallWatchStatus = { Enabled: true, Mode: 'off', Reports: 0, Repairs: 0, RepairFailures: 0 };
  let batch: { what: Set<string>; certain: boolean; by: Set<string>; reports: number; first: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let stopped = false;

  const onDamage = (dmg: FirewallDamage) => {
    if (stopped) return;
    st.Reports++;
    const now = Date.now();
    batch ??= { what: new Set(), certain: false, by: new Set(), reports: 0, first: now };
    for (const w of dmg.what) if (batch.what.size < MAX_WHAT) batch.what.add(w);
    if (dmg.by) batch.by.add(dmg.by);
    batch.certain ||= dmg.certain;
    batch.reports++;
    if (running) return; // picked up when the running repair ends
    schedule(now);
  };

  const schedule = (now: number) => {
    if (!batch) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void run(), Math.max(0, Math.min(debounceMs, batch.first + maxDelayMs - now)));
  };

  const run = async () => {
    timer = undefined;
    const b = batch;
    batch = undefined;
    if (!b || stopped) return;
    running = true;
    const t0 = performance.now();
    try {
      let what = [...b.what];
      if (!b.certain && d.check) {
        const missing = await d.check();
        if (!missing.length) {
          d.log.debug('firewall change checked: nothing of tsd missing', { changed: what });
          return;
        }
        what = missing;
      }
      await d.repair();
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      st.Repairs++;
      st.LastRepair = { At: new Date().toISOString(), Vanished: what, DurationMs: ms, Reports: b.reports, ...(b.by.size ? { By: [...b.by].join(', ') } : {}) };
      d.log.info('firewall repaired', { vanished: what, by: [...b.by], reports: b.reports, ms });
    } catch (e) {
      st.RepairFailures++;
      d.log.error('firewall repair failed', { vanished: [...b.what], err: messageOf(e) });
    } finally {
      running = false;
      if (batch && !stopped) schedule(Date.now());
    }
  };

  const watcher = d.watch(onDamage);
  st.Mode = watcher.mode;
  d.log.info(`firewall watch on (${watcher.mode === 'events' ? 'nftables events' : 'periodic check'})`);
  return {
    status: () => ({ ...st }),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}

/** Status when the watch is off (config `firewall-watch: false`, or a backend without one). */
export function firewallWatchOff(): FirewallWatchStatus {
  return { Enabled: false, Mode: 'off', Reports: 0, Repairs: 0, RepairFailures: 0 };
}
