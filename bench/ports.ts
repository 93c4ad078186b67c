// bench/ports.ts — 1000 port mappings published and removed through tsd's firewall backends:
// nftables via libnftables (in-process), nftables via a spawned `nft -f FILE`, and iptables via
// iptables-restore (nft and legacy variants); then the cost of one publish/unpublish with 0 vs
// 1000 mappings present (must be flat). Run inside a private netns by scripts/bench.sh.
// The default nftables transport sends published-port elements over NETLINK_NETFILTER
// (elements-netlink.ts); "all text via libnftables" is the same backend with that turned off.
// Target (issue 3): 1000 mappings in ≤ 20 ms through libnftables.

import type { Firewall } from '../core/kernel/firewall/firewall.js';
import { IptablesFirewall } from '../core/kernel/firewall/iptables/backend.js';
import { NftablesFirewall } from '../core/kernel/firewall/nftables/backend.js';
import { ExecNftTransport } from '../core/kernel/firewall/nftables/transport-exec.js';
import { LibnftablesTransport } from '../core/kernel/firewall/nftables/transport-libnftables.js';
import type { FirewallNetwork, PortMapping } from '../core/kernel/firewall/types.js';
import { silentLogger } from '../core/log.js';

const N = 1000;
const net: FirewallNetwork = { id: 'bench', bridge: 'tsdbench0', subnets: ['10.99.0.0/16'], masquerade: true, internal: false, icc: true, isolate: true };
const mappings = (base: number, n: number): PortMapping[] =>
  Array.from({ length: n }, (_, i) => ({ networkId: 'bench', proto: 'tcp' as const, hostPort: base + i, containerIp: `10.99.${(i >> 8) & 255}.${(i & 255) || 1}`, containerPort: 80 }));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

async function time(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

interface Result { name: string; add: number; del: number; addCpu: number; delCpu: number; addBest: number; delBest: number; raw?: Raw }
interface Raw { adds: number[]; dels: number[]; addCpu: number[]; delCpu: number[] }

/** CPU ms (user + system) this process spent: the machine is shared, wall time is inflated by
 * other load; for libnftables all work (parse, netlink, kernel commit) is in this process. */
async function cpu(fn: () => Promise<void>): Promise<[number, number]> {
  const c = process.cpuUsage();
  const wall = await time(fn);
  const d = process.cpuUsage(c);
  return [wall, (d.user + d.system) / 1000];
}

async function bulk(name: string, fw: Firewall, rounds: number, acc?: Raw): Promise<Result> {
  await fw.reload({ networks: [net], ports: [] });
  const m = mappings(10000, N);
  const raw = acc ?? { adds: [], dels: [], addCpu: [], delCpu: [] };
  const { adds, dels, addCpu, delCpu } = raw;
  for (let r = 0; r < rounds; r++) {
    const [a, ac] = await cpu(() => fw.publishPorts(m));
    const [d, dc] = await cpu(() => fw.unpublishPorts(m));
    adds.push(a);
    dels.push(d);
    addCpu.push(ac);
    delCpu.push(dc);
  }
  await fw.purge();
  return { name, add: median(adds), del: median(dels), addCpu: median(addCpu), delCpu: median(delCpu), addBest: Math.min(...adds), delBest: Math.min(...dels), raw };
}

async function perOp(fw: Firewall, present: number, ops: number): Promise<{ add: number; del: number; addP99: number }> {
  await fw.reload({ networks: [net], ports: mappings(30000, present) });
  const one = mappings(20000, ops);
  const adds: number[] = [];
  const dels: number[] = [];
  for (const m of one) {
    adds.push(await time(() => fw.publishPorts([m])));
    dels.push(await time(() => fw.unpublishPorts([m])));
  }
  await fw.purge();
  return { add: median(adds), del: median(dels), addP99: p99(adds) };
}

const f = (x: number) => x.toFixed(2).padStart(8);

async function main(): Promise<void> {
  const lib = new NftablesFirewall(new LibnftablesTransport(), silentLogger);
  const libText = new NftablesFirewall(new LibnftablesTransport({ netlinkElements: false }), silentLogger);
  const exec = new NftablesFirewall(new ExecNftTransport(), silentLogger);
  const iptNft = new IptablesFirewall('nft', silentLogger);
  const iptLegacy = new IptablesFirewall('legacy', silentLogger);

  await bulk('warm-up', lib, 3);
  await bulk('warm-up', libText, 3);
  // The two libnftables variants alternate in 6 passes of 3 rounds (shared, noisy machine).
  const rawNl: Raw = { adds: [], dels: [], addCpu: [], delCpu: [] };
  const rawText: Raw = { adds: [], dels: [], addCpu: [], delCpu: [] };
  let nl!: Result;
  let text!: Result;
  for (let pass = 0; pass < 6; pass++) {
    if (pass % 2) { text = await bulk('x', libText, 3, rawText); nl = await bulk('x', lib, 3, rawNl); }
    else { nl = await bulk('x', lib, 3, rawNl); text = await bulk('x', libText, 3, rawText); }
  }
  nl.name = 'tsd nftables: ports over netlink (default)';
  text.name = 'tsd nftables: all text via libnftables';
  const results = [
    nl,
    text,
    await bulk('tsd nftables via spawned nft -f', exec, 7),
    await bulk('tsd iptables via iptables-nft-restore', iptNft, 5),
    await bulk('tsd iptables via iptables-legacy-restore', iptLegacy, 5),
  ];
  const base = results[0]!;
  console.log(`${N} port mappings in one call (median ms); ratio = peer / libnftables`);
  console.log(`${'method'.padEnd(44)}  publish   remove   best pub  best rm  ratio(pub) ratio(rm)`);
  for (const r of results) console.log(`${r.name.padEnd(44)}${f(r.add)} ${f(r.del)} ${f(r.addBest)} ${f(r.delBest)}   ${(r.add / base.add).toFixed(1).padStart(6)}x  ${(r.del / base.del).toFixed(1).padStart(6)}x`);
  console.log(`CPU time (this process, user+sys, median): netlink ports publish ${base.addCpu.toFixed(2)} ms, remove ${base.delCpu.toFixed(2)} ms; ` +
    `libnftables text publish ${text.addCpu.toFixed(2)} ms, remove ${text.delCpu.toFixed(2)} ms`);
  console.log(`target: ${N} mappings ≤ 20 ms through libnftables: publish ${base.add <= 20 ? 'MET' : 'MISSED'} (wall), ${base.addCpu <= 20 ? 'MET' : 'MISSED'} (cpu); remove ${base.del <= 20 ? 'MET' : 'MISSED'} (wall), ${base.delCpu <= 20 ? 'MET' : 'MISSED'} (cpu)`);
  console.log(`load average: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} cpus`);

  console.log('\none mapping published then removed (median ms, p99 of publish), with 0 vs 1000 mappings present');
  for (const [name, fw, ops] of [['netlink ports', lib, 300], ['libnftables text', libText, 150], ['spawned nft', exec, 40], ['iptables-nft-restore', iptNft, 40]] as const) {
    const empty = await perOp(fw, 0, ops);
    const full = await perOp(fw, N, ops);
    console.log(`${name.padEnd(22)} 0 present: pub ${f(empty.add)} rm ${f(empty.del)} p99 ${f(empty.addP99)} | 1000 present: pub ${f(full.add)} rm ${f(full.del)} p99 ${f(full.addP99)} | 1000/0 ${(full.add / empty.add).toFixed(2)}x`);
  }
  lib.close();
  libText.close();
  exec.close();
}

await main();
