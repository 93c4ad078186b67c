// bench/bridge-kernel.ts — the kernel alone: cost of attaching the i-th veth to one bridge (host
// end on the bridge, peer born in namespace i, peer up, IPv4 address + default route in the
// namespace), at 10 vs ~1000 ports, for each of tsd-bridge's kernel-side choices, to show which
// one removes which growth (`bash scripts/bench.sh bridge-kernel`). No tsd service code:
// core/kernel only. Bridge always as tsd makes it (fixed MAC, multicast snooping off).
//   before   host end: its own random MAC, IPv6 on, kernel-default queues; bridge MTU automatic
//   v6off    + host end net.ipv6.conf.<veth>.disable_ipv6=1 before the peer is up
//   mac      + host end takes the bridge's MAC (one static FDB entry instead of one per port)
//   mtu      + bridge MTU user-set (no br_mtu_auto_adjust walk per enslave)
//   after    all of the above + one queue per end (= tsd-bridge today)
//   pool     the design that would take the enslave off the attach path: N veths made ahead
//            ("after" settings, host end already on the bridge, peer parked in a netns of its
//            own); the timed attach moves the peer into namespace i, renamed and up, in one
//            RTM_SETLINK ("veth create" column), then address + route. The bridge holds all N
//            ports from the start, so compare its absolute times with "after", not its ratio.
// Bounds: KERNEL_N (default 1000), KERNEL_VARIANTS. KERNEL_PERF=DIR also records
// `perf record -a -g -e cpu-clock` around attaches 10-69 and N-60..N-1 of each variant into
// DIR/<variant>-{lo,hi}.data (read with `perf report -i F --pid PID --children --sort sym`; the
// pid is printed; the link-watch kworker's share is under comm kworker).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createNetnsAt, removeNetnsAt } from '../core/kernel/netns-at.js';
import { linksIn } from '../core/kernel/netlink/index.js';
import { openNetns } from '../core/kernel/netns.js';
import { writeSysctl } from '../core/kernel/sysctl.js';

const N = Math.min(1000, Number(process.env.KERNEL_N ?? 1000));
const VARIANTS = (process.env.KERNEL_VARIANTS ?? 'before,v6off,mac,mtu,after').split(',');
const PERF_DIR = process.env.KERNEL_PERF;
const WINDOW = 60;
const now = () => performance.now();
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(p * s.length)]! : NaN;
};
const BRIDGE_MAC = '02:42:0a:c8:00:01';

async function perfAround<T>(file: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (!file) return fn();
  const perf = spawn('perf', ['record', '-a', '-g', '-e', 'cpu-clock', '-F', '10000', '-o', file], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  try {
    return await fn();
  } finally {
    perf.kill('SIGINT');
    await new Promise((r) => perf.on('exit', r));
  }
}

async function variant(name: string, paths: string[]): Promise<void> {
  const host = linksIn();
  const group = 0x6b000002;
  const br = 'kbr0';
  const on = (o: string) => name === 'after' || name === o;
  await host.createBridge(br, { up: true, group, mcastSnooping: false, mac: BRIDGE_MAC, ...(on('mtu') ? { mtu: 1500 } : {}) });
  await host.addAddress(br, '10.200.0.1/16');
  const steps = { create: [] as number[], v6: [] as number[], up: [] as number[], addr: [] as number[] };
  const pool = name === 'pool' ? await fillPool(paths, br, group) : undefined;
  const attach = async (i: number) => {
    const ns = openNetns({ path: paths[i]! });
    const sb = linksIn(ns);
    const ip = `10.200.${(i + 2) >> 8}.${(i + 2) & 255}`;
    if (pool) {
      const t0 = now();
      await pool.links.setLink(`p${i}`, { netns: ns, name: 'eth0', up: true });
      const t1 = now();
      const idx = await sb.linkIndex('eth0');
      await sb.addAddress(idx, `${ip}/16`, { broadcast: 'auto' });
      await sb.addRoute({ dst: 'default', gateway: '10.200.0.1' });
      const t2 = now();
      steps.create.push(t1 - t0);
      steps.v6.push(0);
      steps.up.push(0);
      steps.addr.push(t2 - t1);
      ns.close();
      return;
    }
    const t0 = now();
    await host.createVeth(`kv${i}`, 'eth0', {
      group, master: br, up: true, peerNetns: ns,
      peerMac: `02:42:0a:c8:${((i + 2) >> 8).toString(16).padStart(2, '0')}:${((i + 2) & 255).toString(16).padStart(2, '0')}`,
      ...(on('mac') ? { mac: BRIDGE_MAC } : {}), ...(name === 'after' ? { queues: 1 } : {}),
    });
    const t1 = now();
    if (on('v6off')) writeSysctl(`net/ipv6/conf/kv${i}/disable_ipv6`, 1);
    const t2 = now();
    const idx = await sb.linkIndex('eth0');
    await sb.setLink(idx, { up: true });
    const t3 = now();
    await sb.addAddress(idx, `${ip}/16`, { broadcast: 'auto' });
    await sb.addRoute({ dst: 'default', gateway: '10.200.0.1' });
    const t4 = now();
    steps.create.push(t1 - t0);
    steps.v6.push(t2 - t1);
    steps.up.push(t3 - t2);
    steps.addr.push(t4 - t3);
    ns.close();
  };
  const lo = 10;
  const hi = N - WINDOW;
  try {
    for (let i = 0; i < lo; i++) await attach(i);
    await perfAround(PERF_DIR && path.join(PERF_DIR, `${name}-lo.data`), async () => { for (let i = lo; i < lo + WINDOW; i++) await attach(i); });
    for (let i = lo + WINDOW; i < hi; i++) await attach(i);
    await perfAround(PERF_DIR && path.join(PERF_DIR, `${name}-hi.data`), async () => { for (let i = hi; i < N; i++) await attach(i); });
  } finally {
    await host.deleteLinkGroup(group).catch(() => undefined);
    if (pool) pool.close();
  }
  const total = (i: number) => steps.create[i]! + steps.v6[i]! + steps.up[i]! + steps.addr[i]!;
  const win = (xs: number[], a: number) => xs.slice(a, a + WINDOW);
  const totals = Array.from({ length: N }, (_, i) => total(i));
  const cell = (xs: number[]) => `${q(win(xs, lo), 0.5).toFixed(3)} → ${q(win(xs, hi), 0.5).toFixed(3)}`;
  const ratio = (p: number) => (q(win(totals, hi), p) / q(win(totals, lo), p)).toFixed(2);
  console.log(`| ${name} | ${cell(steps.create)} | ${cell(steps.v6)} | ${cell(steps.up)} | ${cell(steps.addr)} | ${cell(totals)} (${ratio(0.5)}×) | ${q(win(totals, lo), 0.1).toFixed(3)} → ${q(win(totals, hi), 0.1).toFixed(3)} (${ratio(0.1)}×) |`);
}

/** The pool variant's untimed set-up: N veths as tsd-bridge makes them, peers parked in a netns. */
async function fillPool(paths: string[], br: string, group: number) {
  const parkPath = path.join(path.dirname(paths[0]!), 'park');
  const park = await createNetnsAt(parkPath, { ipv6DisabledByDefault: true });
  const host = linksIn();
  for (let i = 0; i < paths.length; i++) {
    await host.createVeth(`kv${i}`, `p${i}`, { group, master: br, up: true, peerNetns: park, mac: BRIDGE_MAC, queues: 1 });
    writeSysctl(`net/ipv6/conf/kv${i}/disable_ipv6`, 1);
  }
  return {
    links: linksIn(park),
    close: () => { park.close(); removeNetnsAt(parkPath); },
  };
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-bench-bk-'));
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', root]);
  if (PERF_DIR) fs.mkdirSync(PERF_DIR, { recursive: true });
  console.log(`# bridge-kernel: ${os.cpus().length} cpus, kernel ${os.release()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, N=${N}, pid ${process.pid}`);
  const paths = Array.from({ length: N }, (_, i) => path.join(root, `ns${i}`));
  try {
    for (const p of paths) (await createNetnsAt(p, { ipv6DisabledByDefault: true })).close();
    console.log(`| variant (median ms, attaches 10-69 → ${N - WINDOW}-${N - 1}) | veth create | host-end IPv6 off | peer up | address + route | sum | sum p10 |`);
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const v of VARIANTS) await variant(v, paths);
    console.log(`# load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    for (const p of paths) { try { removeNetnsAt(p); } catch { /* not created */ } }
    await execa('umount', ['-l', root], { reject: false });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
