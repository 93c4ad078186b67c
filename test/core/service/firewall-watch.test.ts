// test/core/service/firewall-watch.test.ts — the repair loop on a fake watcher: bursts coalesce
// into one repair, uncertain damage is checked first, damage during a repair brings one more,
// stop() closes the watcher and cancels a pending repair.

import assert from 'node:assert/strict';
import type { FirewallDamage } from '../../../core/kernel/firewall/types.js';
import { createMemoryLogger } from '../../../core/log.js';
import { startFirewallWatch } from '../../../core/service/firewall-watch.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function harness(opts: { check?: () => Promise<string[]>; repairMs?: number } = {}) {
  let report: (d: FirewallDamage) => void = () => undefined;
  let closed = false;
  let repairs = 0;
  const log = createMemoryLogger('debug');
  const w = startFirewallWatch({
    watch: (cb) => { report = cb; return { mode: 'events', close: () => { closed = true; } }; },
    ...(opts.check ? { check: opts.check } : {}),
    repair: async () => { repairs++; await sleep(opts.repairMs ?? 0); },
    log, debounceMs: 20, maxDelayMs: 100,
  });
  return { w, log, report: (d: FirewallDamage) => report(d), repairs: () => repairs, closed: () => closed };
}

describe('firewall watch (service)', () => {
  it('coalesces a burst of reports into one repair and records it', async () => {
    const h = harness();
    for (let i = 0; i < 20; i++) h.report({ what: ['table inet tsd'], certain: true, by: 'nft pid 7' });
    await sleep(80);
    assert.equal(h.repairs(), 1);
    const s = h.w.status();
    assert.deepEqual([s.Enabled, s.Mode, s.Reports, s.Repairs, s.RepairFailures], [true, 'events', 20, 1, 0]);
    assert.deepEqual(s.LastRepair?.Vanished, ['table inet tsd']);
    assert.equal(s.LastRepair?.By, 'nft pid 7');
    const line = h.log.lines.find((l) => l.msg === 'firewall repaired');
    assert.deepEqual(line?.vanished, ['table inet tsd']);
    assert.equal(typeof line?.ms, 'number');
    h.w.stop();
  });

  it('a steady stream of reports cannot postpone the repair past maxDelayMs', async () => {
    const h = harness();
    const t0 = Date.now();
    while (Date.now() - t0 < 250) {
      h.report({ what: ['x'], certain: true });
      await sleep(10);
    }
    assert.ok(h.repairs() >= 2, `${h.repairs()} repairs during 250 ms of reports`);
    h.w.stop();
  });

  it('uncertain damage is checked first: nothing missing → no repair; something missing → repair naming it', async () => {
    let missing: string[] = [];
    const h = harness({ check: async () => missing });
    h.report({ what: ['rules of chain ip filter FORWARD'], certain: false });
    await sleep(60);
    assert.equal(h.repairs(), 0);
    missing = ['iptables jump filter FORWARD -j TSD-FORWARD'];
    h.report({ what: ['rules of chain ip filter FORWARD'], certain: false });
    await sleep(60);
    assert.equal(h.repairs(), 1);
    assert.deepEqual(h.w.status().LastRepair?.Vanished, missing);
    h.w.stop();
  });

  it('damage during a repair brings exactly one more repair after it', async () => {
    const h = harness({ repairMs: 60 });
    h.report({ what: ['a'], certain: true });
    await sleep(35); // repair running
    h.report({ what: ['b'], certain: true });
    h.report({ what: ['c'], certain: true });
    await sleep(200);
    assert.equal(h.repairs(), 2);
    assert.deepEqual(h.w.status().LastRepair?.Vanished, ['b', 'c']);
    h.w.stop();
  });

  it('a failed repair is counted and logged; stop() closes the watcher and cancels a pending repair', async () => {
    let report: (d: FirewallDamage) => void = () => undefined;
    let closed = false;
    const log = createMemoryLogger();
    const w = startFirewallWatch({
      watch: (cb) => { report = cb; return { mode: 'check', close: () => { closed = true; } }; },
      repair: () => Promise.reject(new Error('nft: boom')),
      log, debounceMs: 10,
    });
    report({ what: ['a'], certain: true });
    await sleep(40);
    assert.equal(w.status().RepairFailures, 1);
    assert.match(String(log.lines.find((l) => l.msg === 'firewall repair failed')?.err), /boom/);
    report({ what: ['b'], certain: true });
    w.stop();
    await sleep(40);
    assert.equal(closed, true);
    assert.equal(w.status().RepairFailures, 1, 'the pending repair never ran');
  });
});
