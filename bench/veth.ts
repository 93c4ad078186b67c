// bench/veth.ts — 200 veth pairs (peer in another netns) created and deleted through tsd's
// netlink layer vs `ip` per call vs `ip -batch`, plus teardown as one kernel batch (link group,
// netns deletion) and the sandbox "attach" path (create veth into the sandbox, rename, address,
// up, default route) p50/p99. Run inside a private netns: `sudo bash scripts/bench.sh veth`.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { linksIn } from '../core/kernel/netlink/index.js';
import { createNetns, deleteNetns, type Netns } from '../core/kernel/netns.js';

const N = Number(process.env.VETH_N ?? 200);
const ATTACH = Number(process.env.ATTACH_N ?? 100);
const ROUNDS = 3;
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
    // Creation is measured in interleaved rounds (best and median) because the machine is shared;
    // one-by-one deletion (~16 ms per link in the kernel) only once per method.
    const add = Array.from({ length: N }, (_, i) => `link add bb${i} group 102 type veth peer name bb${i}p netns ${sbName}`);
    const oursCreates: number[] = [];
    const batchCreates: number[] = [];
    const oursGroups: number[] = [];
    const ipGroups: number[] = [];
    let t: number;
    for (let round = 0; round < ROUNDS; round++) {
      t = now();
      for (let i = 0; i < N; i++) await host.createVeth(`bo${i}`, `bo${i}p`, { peerNetns: sb, group: 100 });
      oursCreates.push(now() - t);
      t = now();
      await host.deleteLinkGroup(100);
      oursGroups.push(now() - t);
      t = now();
      await ipBatch(add);
      batchCreates.push(now() - t);
      t = now();
      await execa('ip', ['link', 'del', 'group', '102']);
      ipGroups.push(now() - t);
    }
    const oursCreate = Math.min(...oursCreates);
    const batchCreate = Math.min(...batchCreates);
    const oursGroup = quantile(oursGroups, 0.5);
    const ipGroup = quantile(ipGroups, 0.5);

    for (let i = 0; i < N; i++) await host.createVeth(`bo${i}`, `bo${i}p`, { peerNetns: sb });
    t = now();
    for (let i = 0; i < N; i++) await host.deleteLink(`bo${i}`);
    const oursDelete = now() - t;
    rows.push(['tsd netlink', oursCreate, oursDelete]);

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
    console.log(`\ncreate ratio tsd / ip -batch = ${(oursCreate / batchCreate).toFixed(2)}× best, ${(quantile(oursCreates, 0.5) / quantile(batchCreates, 0.5)).toFixed(2)}× median (target ≤ 1.2×); ip per call / tsd = ${(ipCreate / oursCreate).toFixed(1)}×`);
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
    for (const s of sandboxes) { s.close(); deleteNetns(s.name!); }
    await host.deleteLink('bvbr0');
  } finally {
    sb.close();
    deleteNetns(sbName);
    for (const g of ['100', '102', '103']) await execa('ip', ['link', 'del', 'group', g], { reject: false });
  }
}

await main();
