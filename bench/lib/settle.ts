// bench/lib/settle.ts — let the kernel finish a bench's asynchronous aftermath before a timed
// phase (not a bench itself: scripts/bench.sh runs dist/bench/*.js only).

import fs from 'node:fs';

const now = () => performance.now();

/** Network namespaces allocated in the kernel, dying ones included (struct net's slab). */
function netnsAllocated(): number {
  const line = fs.readFileSync('/proc/slabinfo', 'utf8').split('\n').find((l) => l.startsWith('net_namespace '));
  return line ? Number(line.split(/\s+/)[1]) : NaN;
}

/**
 * Wait until the kernel has worked off what the bench's setup left behind: removed namespaces are
 * cleaned up asynchronously (cleanup_net, under the rtnl lock), and the work that follows creating
 * a thousand namespaces runs for a while too; a timed phase started meanwhile pays for it (1000
 * attaches: 4.7–6.4 s right after setup and the previous phase, 3.8 s after this wait). Done when
 * the count of struct net has not fallen for 1 s (other users of the machine create namespaces
 * too, so "back to the count before" is no test); at most 30 s. Prints what it waited.
 */
export async function settle(label: string): Promise<void> {
  const t0 = now();
  let last = netnsAllocated();
  let stableSince = now();
  while (now() - t0 < 30_000 && now() - stableSince < 1000) {
    await new Promise((r) => setTimeout(r, 100));
    const n = netnsAllocated();
    if (Number.isNaN(n) || n < last) stableSince = now();
    last = n;
  }
  console.log(`  (${label}: kernel settled in ${((now() - t0) / 1000).toFixed(1)} s, ${last} struct net allocated)`);
}
