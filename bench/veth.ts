// bench/veth.ts — 200 veth pairs (peer in another netns) created and deleted through tsd's
// netlink layer vs `ip` per call vs `ip -batch`, plus teardown as one kernel batch (link group,
// netns deletion) and the sandbox "attach" path (create veth into the sandbox, rename, address,
// up, default route) p50/p99. Run inside a private netns: `bash scripts/bench.sh veth`.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { linksIn } from '../core/kernel/netlink/index.js';
import { createNetns, deleteNetns, type Netns } from '../core/kernel/netns.js';

const N = Number(process.env.VETH_N ?? 200);
const ATTACH = Number(process.env.ATTACH_N ?? 100);
const ROUNDS = Number(process.env.VETH_ROUNDS ?? 5);
const now = () => performance.now();
const ms = (x: number) => `${x.toFixed(1)} ms`;
const host = linksIn();

async function ipBatch(lines: string[]): Promise<void> {
  const f = path.join(os.tmpdir(), `tsd-bench-veth-${process.pid}.batch`);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  try {
    await execa('ip', ['-batch', f]);
  } finally {
    fs.rmSync(f, { force: true });
  }
}

async function hostVethCount(): Promise<number> {
  return (await host.listLinks({ kind: 'veth' })).length;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function main(): Promise<void> {
  const sbName = `bv-sb-${process.pid}`;
  const sb: Netns = createNetns(sbName);
  const rows: Array<[string, number, number | undefined]> = [];
  try {
    // Creation is measured in interleaved rounds, the order of the three methods alternating
    // each round (best and median), because the machine is shared; one-by-one deletion (~16 ms
    // per link in the kernel) only once per method.
    const add = Array.from({ length: N }, (_, i) => `link add bb${i} group 102 type veth peer name bb${i}p netns ${sbName}`);
    const specs = Array.from({ length: N }, (_, i) => ({ name: `bp${i}`, peerName: `bp${i}p`, peerNetns: sb, group: 101 }));
    const oursCreates: number[] = [];
    const pipeCreates: number[] = [];
    const batchCreates: number[] = [];
    const oursGroups: number[] = [];
    const ipGroups: number[] = [];
    let t: number;
    const methods: Array<() => Promise<void>> = [
      async () => {
        t = now();
        for (let i = 0; i < N; i++) await host.createVeth(`bo${i}`, `bo${i}p`, { peerNetns: sb, group: 100 });
        oursCreates.push(now() - t);
        t = now();
        await host.deleteLinkGroup(100);
        oursGroups.push(now() - t);
      },
      async () => {
        t = now();
        await host.createVeths(specs);
        pipeCreates.push(now() - t);
        await host.deleteLinkGroup(101);
      },
      async () => {
        t = now();
        await ipBatch(add);
        batchCreates.push(now() - t);
        t = now();
        await execa('ip', ['link', 'del', 'group', '102']);
        ipGroups.push(now() - t);
      },
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const m of round % 2 ? [...methods].reverse() : methods) await m();
    }
    const oursCreate = Math.min(...oursCreates);
    const pipeCreate = Math.min(...pipeCreates);
    const batchCreate = Math.min(...batchCreates);
    const oursGroup = quantile(oursGroups, 0.5);
    const ipGroup = quantile(ipGroups, 0.5);

    for (let i = 0; i < N; i++) await host.createVeth(`bo${i}`, `bo${i}p`, { peerNetns: sb });
    // Event-loop blocking during one-by-one deletes (they run off the main thread): the longest
    // gap between 1 ms timer ticks.
    let last = now();
    let maxGap = 0;
    const tick = setInterval(() => { const x = now(); maxGap = Math.max(maxGap, x - last); last = x; }, 1);
    t = now();
    for (let i = 0; i < N; i++) await host.deleteLink(`bo${i}`);
    const oursDelete = now() - t;
    clearInterval(tick);
    rows.push(['tsd netlink, createVeth per pair', oursCreate, oursDelete]);
    rows.push(['tsd netlink, createVeths (pipelined)', pipeCreate, undefined]);

    t = now();
    for (let i = 0; i < N; i++) await execa('ip', ['link', 'add', `bi${i}`, 'type', 'veth', 'peer', 'name', `bi${i}p`, 'netns', sbName]);
    const ipCreate = now() - t;
    t = now();
    for (let i = 0; i < N; i++) await execa('ip', ['link', 'del', `bi${i}`]);
    const ipDelete = now() - t;
    rows.push(['ip per call', ipCreate, ipDelete]);

    await ipBatch(add);
    t = now();
    await ipBatch(Array.from({ length: N }, (_, i) => `link del bb${i}`));
    const batchDelete = now() - t;
    rows.push(['ip -batch', batchCreate, batchDelete]);

    // --- teardown by deleting the sandbox netns ------------------------------------------------
    const tmpName = `bv-tmp-${process.pid}`;
    const tmp = createNetns(tmpName);
    for (let i = 0; i < N; i++) await host.createVeth(`bn${i}`, `bn${i}p`, { peerNetns: tmp });
    tmp.close();
    t = now();
    deleteNetns(tmpName);
    const nsReturn = now() - t;
    while ((await hostVethCount()) > 0) await new Promise((r) => setTimeout(r, 2));
    const nsGone = now() - t;

    console.log(`\n${N} veth pairs, peer in another netns (${os.cpus().length} cpus, kernel ${os.release()}, node ${process.version})\n`);
    console.log(`| method | create (tsd and ip -batch: best of ${ROUNDS}) | delete one by one |`);
    console.log('| --- | --- | --- |');
    for (const [name, c, d] of rows) console.log(`| ${name} | ${ms(c)} (${(c / N).toFixed(2)} ms/pair) | ${d === undefined ? '-' : ms(d)} |`);
    const med = quantile;
    const ratios = (xs: number[]) => xs.map((x, i) => x / batchCreates[i]!);
    console.log(`\nrounds (ms): per-pair ${oursCreates.map((x) => x.toFixed(0)).join(' ')} | pipelined ${pipeCreates.map((x) => x.toFixed(0)).join(' ')} | ip -batch ${batchCreates.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`create ratio vs ip -batch (target ≤ 1.2×): createVeths ${(pipeCreate / batchCreate).toFixed(2)}× best, ${(med(pipeCreates, 0.5) / med(batchCreates, 0.5)).toFixed(2)}× median, ` +
      `per-round median ${med(ratios(pipeCreates), 0.5).toFixed(2)}×; createVeth per pair ${(oursCreate / batchCreate).toFixed(2)}× best, ` +
      `${(med(oursCreates, 0.5) / med(batchCreates, 0.5)).toFixed(2)}× median, per-round median ${med(ratios(oursCreates), 0.5).toFixed(2)}×; ip per call / tsd = ${(ipCreate / oursCreate).toFixed(1)}×`);
    console.log(`event loop during ${N} one-by-one deleteLink (off-thread): longest gap between 1 ms ticks ${ms(maxGap)}`);
    console.log(`teardown as one kernel batch (median): tsd deleteLinkGroup ${ms(oursGroup)}, \`ip link del group\` ${ms(ipGroup)}, ` +
      `deleteNetns ${ms(nsReturn)} (returns) / ${ms(nsGone)} (host ends gone); one by one through tsd ${ms(oursDelete)} ` +
      `→ group is ${(oursDelete / oursGroup).toFixed(0)}× faster`);

    // --- attach path ---------------------------------------------------------------------------
    await host.createBridge('bvbr0', { up: true });
    await host.addAddress('bvbr0', '10.199.0.1/16');
    const brIndex = await host.linkIndex('bvbr0');
    const sandboxes: Netns[] = [];
    for (let i = 0; i < ATTACH; i++) sandboxes.push(createNetns(`bv-a${i}-${process.pid}`));
    const lat: number[] = [];
    for (let i = 0; i < ATTACH; i++) {
      const s = sandboxes[i]!;
      const t0 = now();
      const inside = linksIn(s);
      await host.createVeth(`ba${i}`, `tmpa${i}`, { peerNetns: s, group: 103, master: brIndex, up: true });
      const idx = await inside.linkIndex(`tmpa${i}`);
      await inside.setLink(idx, { name: 'eth0', up: true });
      await inside.addAddress(idx, `10.199.${1 + (i >> 8)}.${i & 255}/16`);
      await inside.addRoute({ dst: 'default', gateway: '10.199.0.1' });
      lat.push(now() - t0);
    }
    console.log(`\nattach (veth into sandbox + master/up, rename, address, up, default route: 5 round-trips), ${ATTACH} sandboxes: ` +
      `p50 ${lat.length ? quantile(lat, 0.5).toFixed(3) : '-'} ms, p99 ${quantile(lat, 0.99).toFixed(3)} ms, ` +
      `first ${lat[0]!.toFixed(3)} ms (includes opening the sandbox's netlink socket)`);
    t = now();
    await host.deleteLinkGroup(103);
    console.log(`detach all ${ATTACH} by group: ${ms(now() - t)}`);
    // The same with the peer born under its final name (no rename): 4 round-trips.
    const lat4: number[] = [];
    for (let i = 0; i < ATTACH; i++) {
      const s = sandboxes[i]!;
      const t0 = now();
      const inside = linksIn(s);
      await host.createVeth(`bc${i}`, 'eth0', { peerNetns: s, group: 104, master: brIndex, up: true });
      const idx = await inside.linkIndex('eth0');
      await inside.setLink(idx, { up: true });
      await inside.addAddress(idx, `10.199.${1 + (i >> 8)}.${i & 255}/16`);
      await inside.addRoute({ dst: 'default', gateway: '10.199.0.1' });
      lat4.push(now() - t0);
    }
    console.log(`attach with the peer born as eth0 (4 round-trips): p50 ${quantile(lat4, 0.5).toFixed(3)} ms, p99 ${quantile(lat4, 0.99).toFixed(3)} ms`);
    await host.deleteLinkGroup(104);
    for (const s of sandboxes) { s.close(); deleteNetns(s.name!); }
    await host.deleteLink('bvbr0');
  } finally {
    sb.close();
    deleteNetns(sbName);
    for (const g of ['100', '101', '102', '103', '104']) await execa('ip', ['link', 'del', 'group', g], { reject: false });
  }
}

await main();
