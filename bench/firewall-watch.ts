// bench/firewall-watch.ts — what the firewall watch costs and how fast it repairs. Inside a
// private netns (scripts/bench.sh):
//  1. tsd's own hot path with the watch reading its events: 1000 mappings published and removed
//     (NftablesFirewall, netlink elements), CPU of this process including the event drain, watch
//     on vs off (alternating passes).
//  2. time to repair after `nft flush ruleset` with 1 and 1000 published ports: from the flush
//     command's exit to the rebuilt table (debounce 150 ms included), and the rebuild alone.
//  3. a burst of 20 flushes: repairs run, and the CPU they cost.
// Peers: Docker (moby#12294) and netavark (netavark#1258) do not notice a flush at all; their
// answer is a manual command (`netavark firewall-reload`, restarting dockerd), so there is no
// peer figure for "time to repair by itself" to compare with: it is unbounded there.

import { spawnSync } from 'node:child_process';
import { NftablesFirewall } from '../core/kernel/firewall/nftables/backend.js';
import { LibnftablesTransport } from '../core/kernel/firewall/nftables/transport-libnftables.js';
import type { FirewallDesired, FirewallNetwork, FirewallWatcher, PortMapping } from '../core/kernel/firewall/types.js';
import { silentLogger } from '../core/log.js';
import { startFirewallWatch } from '../core/service/firewall-watch.js';

const N = 1000;
const net: FirewallNetwork = { id: 'bench', bridge: 'tsdbench0', subnets: ['10.99.0.0/16'], masquerade: true, internal: false, icc: true, isolate: true };
const mappings = (base: number, n: number): PortMapping[] =>
  Array.from({ length: n }, (_, i) => ({ networkId: 'bench', proto: 'tcp' as const, hostPort: base + i, containerIp: `10.99.${(i >> 8) & 255}.${(i & 255) || 1}`, containerPort: 80 }));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f = (n: number) => n.toFixed(2).padStart(8);

function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/**
 * publish + unpublish 1000, then let the poll handle drain the events; CPU of the whole, and its
 * system part (with a listener the kernel also builds one notification per element, in the
 * committing process: that is system time, not our decoder).
 */
async function hotPath(fw: NftablesFirewall, sys: number[]): Promise<number> {
  const m = mappings(10000, N);
  const c0 = process.cpuUsage();
  await fw.publishPorts(m);
  await fw.unpublishPorts(m);
  await sleep(30); // the event drain runs on the loop after the batches
  const d = process.cpuUsage(c0);
  sys.push(d.system / 1000);
  return (d.user + d.system) / 1000;
}

async function main(): Promise<void> {
  const fw = new NftablesFirewall(new LibnftablesTransport(), silentLogger);
  await fw.reload({ networks: [net], ports: [] });

  // 1. hot path, watch off vs on (alternating passes; the events are only read while a watch is open)
  let reports = 0;
  const on: number[] = [];
  const off: number[] = [];
  const onSys: number[] = [];
  const offSys: number[] = [];
  for (let pass = 0; pass < 6; pass++) {
    for (const watched of [false, true]) {
      const w: FirewallWatcher | undefined = watched ? fw.watch(() => reports++) : undefined;
      for (let r = 0; r < 3; r++) (watched ? on : off).push(await hotPath(fw, watched ? onSys : offSys));
      w?.close();
    }
  }
  console.log(`${N} mappings published + removed (CPU ms of this process, median of ${on.length}, event drain included)`);
  console.log(`  watch off ${f(median(off))} (sys ${median(offSys).toFixed(2)})   watch on ${f(median(on))} (sys ${median(onSys).toFixed(2)})   on/off ${(median(on) / median(off)).toFixed(2)}x   damage reports from tsd's own batches: ${reports}`);

  // 2. repair latency
  for (const ports of [1, N]) {
    const desired: FirewallDesired = { networks: [net], ports: mappings(20000, ports) };
    await fw.reload(desired);
    let repaired: () => void = () => undefined;
    const rebuildMs: number[] = [];
    const watch = startFirewallWatch({
      watch: (cb) => fw.watch(cb),
      check: () => fw.check(),
      repair: async () => {
        const t = performance.now();
        await fw.reload(desired);
        rebuildMs.push(performance.now() - t);
        repaired();
      },
      log: silentLogger,
    });
    const lat: number[] = [];
    for (let r = 0; r < 7; r++) {
      const done = new Promise<void>((res) => (repaired = res));
      const flushed = spawnSync('nft', ['flush', 'ruleset']);
      if (flushed.status !== 0) throw new Error(String(flushed.stderr));
      const t = performance.now();
      await done;
      lat.push(performance.now() - t);
      await sleep(50);
    }
    console.log(`repair after nft flush ruleset, ${String(ports).padStart(4)} port(s): flush→repaired median ${f(median(lat))} ms (debounce 150 ms), rebuild alone ${f(median(rebuildMs))} ms`);
    watch.stop();
  }

  // 3. burst: 20 flushes in a row
  const desired: FirewallDesired = { networks: [net], ports: mappings(20000, 100) };
  await fw.reload(desired);
  let repairs = 0;
  const watch = startFirewallWatch({ watch: (cb) => fw.watch(cb), repair: async () => { repairs++; await fw.reload(desired); }, log: silentLogger });
  const c0 = cpuMs();
  for (let i = 0; i < 20; i++) spawnSync('nft', ['-f', '-'], { input: 'add table inet tsd\nadd chain inet tsd standin\nadd rule inet tsd standin accept\nflush ruleset\n' });
  await sleep(1500);
  const s = watch.status();
  console.log(`burst of 20 flushes: ${s.Reports} reports → ${repairs} repair(s), tsd CPU ${(cpuMs() - c0).toFixed(1)} ms`);
  watch.stop();
  await fw.purge();
  fw.close();
  console.log(`load average: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} cpus`);
}

await main();
