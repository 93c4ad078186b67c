// bench/bridge-kernel.ts — the kernel alone: cost of attaching the i-th veth to one bridge (host
// end on the bridge, peer born in namespace i, peer up, IPv4 address + default route in the
// namespace), at 10 vs ~1000 ports, under variants of bridge/host settings, to find what makes
// the kernel's per-attach cost grow with the port count (`sudo bash scripts/bench.sh
// bridge-kernel`). No tsd service code: core/kernel only. Bounds: KERNEL_N (default 1000).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createNetnsAt, removeNetnsAt } from '../core/kernel/netns-at.js';
import { linksIn } from '../core/kernel/netlink/index.js';
import { openNetns } from '../core/kernel/netns.js';
import { writeSysctl } from '../core/kernel/sysctl.js';

const N = Math.min(1000, Number(process.env.KERNEL_N ?? 1000));
const VARIANTS = (process.env.KERNEL_VARIANTS ?? 'plain,nosnoop,noipv6host,mac,all').split(',');
const now = () => performance.now();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

async function variant(name: string, paths: string[]): Promise<void> {
  const host = linksIn();
  const group = 0x6b000002;
  const br = 'kbr0';
  const opts = new Set(name === 'all' ? ['nosnoop', 'noipv6host', 'mac'] : [name]);
  writeSysctl('net.ipv6.conf.default.disable_ipv6', opts.has('noipv6host') ? 1 : 0);
  await host.createBridge(br, { up: false, group, ...(opts.has('nosnoop') ? { mcastSnooping: false } : {}) });
  if (opts.has('mac')) await host.setLink(br, { mac: '02:42:0a:c8:00:01' });
  await host.setLink(br, { up: true });
  await host.addAddress(br, '10.200.0.1/16');
  const steps = { create: [] as number[], up: [] as number[], addr: [] as number[], route: [] as number[] };
  try {
    for (let i = 0; i < N; i++) {
      const ns = openNetns({ path: paths[i]! });
      const sb = linksIn(ns);
      const ip = `10.200.${(i + 2) >> 8}.${(i + 2) & 255}`;
      const t0 = now();
      await host.createVeth(`kv${i}`, 'eth0', { group, master: br, up: true, peerNetns: ns, peerMac: `02:42:0a:c8:${((i + 2) >> 8).toString(16).padStart(2, '0')}:${((i + 2) & 255).toString(16).padStart(2, '0')}` });
      const t1 = now();
      const idx = await sb.linkIndex('eth0');
      await sb.setLink(idx, { up: true });
      const t2 = now();
      await sb.addAddress(idx, `${ip}/16`, { broadcast: 'auto' });
      const t3 = now();
      await sb.addRoute({ dst: 'default', gateway: '10.200.0.1' });
      const t4 = now();
      steps.create.push(t1 - t0);
      steps.up.push(t2 - t1);
      steps.addr.push(t3 - t2);
      steps.route.push(t4 - t3);
      ns.close();
    }
  } finally {
    await host.deleteLinkGroup(group).catch(() => undefined);
    writeSysctl('net.ipv6.conf.default.disable_ipv6', 0);
  }
  const hi = N >= 1000 ? 995 : N - 5;
  const at = (xs: number[], k: number) => median(xs.slice(k - 5, k + 5));
  const cell = (xs: number[]) => `${at(xs, 10).toFixed(3)} → ${at(xs, hi).toFixed(3)}`;
  const sum = (k: number) => at(steps.create, k) + at(steps.up, k) + at(steps.addr, k) + at(steps.route, k);
  console.log(`| ${name} | ${cell(steps.create)} | ${cell(steps.up)} | ${cell(steps.addr)} | ${cell(steps.route)} | ${sum(10).toFixed(3)} → ${sum(hi).toFixed(3)} (${(sum(hi) / sum(10)).toFixed(2)}×) |`);
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-bench-bk-'));
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', root]);
  console.log(`# bridge-kernel: ${os.cpus().length} cpus, kernel ${os.release()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, N=${N}`);
  const paths = Array.from({ length: N }, (_, i) => path.join(root, `ns${i}`));
  try {
    for (const p of paths) (await createNetnsAt(p, { ipv6DisabledByDefault: true })).close();
    console.log(`| variant | veth create ms (10th → ${N >= 1000 ? 995 : N - 5}th) | peer up | address | route | sum |\n| --- | --- | --- | --- | --- | --- |`);
    for (const v of VARIANTS) await variant(v, paths);
    console.log(`# load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    for (const p of paths) { try { removeNetnsAt(p); } catch { /* not created */ } }
    await execa('umount', ['-l', root], { reject: false });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
