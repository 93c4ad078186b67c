// bench/bridge-steps.ts — where one NetworkService.connect spends its time, at the 10th vs the
// 1000th endpoint on one network (`bash scripts/bench.sh bridge-steps`), plus the kernel
// alone in the same run: a veth created with its peer in a netns at 10 vs 1000 existing
// namespaces, with and without a bridge, to separate what grows in tsd from what grows in the
// kernel. Instrumentation wraps methods in this process only (no production code changes):
// drivers, IPAM, sandbox networking, DNS, store, hosts file, every netlink request by operation.
// Bounds: STEPS_N (default 1000, ≤ 1000).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { DriverRegistry } from '../core/driver/registry.js';
import { createFirewall } from '../core/kernel/firewall/select.js';
import { createKernel } from '../core/kernel/index.js';
import { createNetnsAt, removeNetnsAt } from '../core/kernel/netns-at.js';
import { linksIn } from '../core/kernel/netlink/index.js';
import { openNetns } from '../core/kernel/netns.js';
import { NetlinkSocket } from '../core/kernel/netlink/socket.js';
import { silentLogger } from '../core/log.js';
import { createKernelNetnsProvider } from '../core/sandbox/kernel-netns-provider.js';
import { createKernelSandboxNetworking } from '../core/sandbox/kernel-sandbox-networking.js';
import { noopDnsRegistry } from '../core/service/hooks.js';
import { createServices } from '../core/service/index.js';
import { SandboxFiles } from '../core/service/sandbox-files.js';
import { MemoryStore } from '../core/store/memory.js';
import { scopeStore } from '../core/store/scoped.js';
import { createDefaultIpamDriver } from '../drivers/ipam/default/index.js';
import { BRIDGE_DRIVER_ALIASES, createBridgeDriver } from '../drivers/network/bridge/index.js';
import { settle } from './lib/settle.js';

const N = Math.min(1000, Number(process.env.STEPS_N ?? 1000));
const now = () => performance.now();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

// ---- per-attach accumulators: label → [ms, count]
let acc: Map<string, [number, number]> | undefined;
function add(label: string, ms: number): void {
  if (!acc) return;
  const c = acc.get(label) ?? [0, 0];
  c[0] += ms;
  c[1]++;
  acc.set(label, c);
}
function wrap<T extends object>(obj: T, names: Array<keyof T & string>, prefix: string): void {
  for (const n of names) {
    const orig = obj[n] as unknown as (...a: unknown[]) => unknown;
    if (typeof orig !== 'function') continue;
    (obj as Record<string, unknown>)[n] = function (this: unknown, ...a: unknown[]) {
      const t = now();
      const r = orig.apply(this, a);
      if (r instanceof Promise) return r.finally(() => add(`${prefix}.${n}`, now() - t));
      add(`${prefix}.${n}`, now() - t);
      return r;
    };
  }
}

// Every netlink request by operation (sync request, batch, off-thread send).
wrap(NetlinkSocket.prototype, ['request', 'requestBatch'], 'netlink');
{
  const orig = NetlinkSocket.prototype.request;
  NetlinkSocket.prototype.request = function (op, object, msg) {
    const t = now();
    try { return orig.call(this, op, object, msg); } finally { add(`  nl:${op}`, now() - t); }
  };
}
wrap(SandboxFiles.prototype, ['updateHosts'], 'files');
{
  const origOpen = fs.openSync;
  (fs as { openSync: typeof fs.openSync }).openSync = function (p: fs.PathLike, ...rest: unknown[]) {
    const t = now();
    try { return (origOpen as (...a: unknown[]) => number)(p, ...rest); } finally { if (String(p).startsWith('/proc/sys/')) add('  sysctl open', now() - t); }
  } as typeof fs.openSync;
}

function report(name: string, samples: Array<Map<string, [number, number]>>, totals: number[], a: number, b: number): void {
  const labels = new Set<string>();
  for (const s of samples) for (const k of s.keys()) labels.add(k);
  const col = (lo: number, hi: number, k: string) => {
    const xs = samples.slice(lo, hi).map((s) => s.get(k)?.[0] ?? 0);
    const cs = samples.slice(lo, hi).map((s) => s.get(k)?.[1] ?? 0);
    return `${median(xs).toFixed(3)} (${median(cs)})`;
  };
  console.log(`\n${name}: median ms (calls) per attach, attaches ${a - 5}-${a + 4} vs ${b - 5}-${b + 4}`);
  console.log(`| step | at ${a} | at ${b} |\n| --- | --- | --- |`);
  console.log(`| whole connect | ${median(totals.slice(a - 5, a + 5)).toFixed(3)} | ${median(totals.slice(b - 5, b + 5)).toFixed(3)} |`);
  for (const k of [...labels].sort()) console.log(`| ${k} | ${col(a - 5, a + 5, k)} | ${col(b - 5, b + 5, k)} |`);
}

async function tsdSteps(root: string): Promise<void> {
  const store = new MemoryStore();
  wrap(store, ['get', 'list', 'put', 'delete', 'commit'], 'store');
  // STEPS_FW=none: no firewall backend (to see what the ruleset costs the kernel per attach).
  const firewall = process.env.STEPS_FW === 'none' ? undefined : await createFirewall({ backend: 'nftables' }, { log: silentLogger });
  const kernel = createKernel(firewall ? { firewall } : {});
  kernel.sysctl = { ...kernel.sysctl };
  wrap(kernel.sysctl, ['read', 'write'], 'sysctl');
  kernel.netns = { ...kernel.netns };
  wrap(kernel.netns, ['open', 'release'], 'netns');
  const ctx = (name: string) => ({ log: silentLogger, store: scopeStore(store, `drivers/${name}/`), kernel, dataDir: root, config: {} });
  const registry = new DriverRegistry();
  const bridge = createBridgeDriver(ctx('tsd-bridge'));
  const ipam = createDefaultIpamDriver(ctx('tsd-ipam'));
  wrap(bridge, ['createEndpoint', 'join', 'programExternalConnectivity'], 'driver');
  wrap(ipam, ['requestAddress'], 'ipam');
  registry.register('NetworkDriver', bridge, BRIDGE_DRIVER_ALIASES);
  registry.register('IpamDriver', ipam, ['default']);
  await bridge.restore();
  const sandboxNetworking = createKernelSandboxNetworking(kernel);
  wrap(sandboxNetworking, ['attach'], 'sandbox');
  const dns = { ...noopDnsRegistry };
  wrap(dns, ['add'], 'dns');
  const services = createServices({
    store, registry, netns: createKernelNetnsProvider(), sandboxNetworking,
    dns, log: silentLogger, dataRoot: root, execRoot: path.join(root, 'run'), embeddedDns: false,
  });
  await services.networks.create({ name: 'steps', ipam: { config: [{ subnet: '10.100.0.0/16' }] } });
  for (let i = 0; i < N; i++) await services.sandboxes.create({ name: `s${i}` });
  await settle('steps');
  const samples: Array<Map<string, [number, number]>> = [];
  const totals: number[] = [];
  const t0 = now();
  for (let i = 0; i < N; i++) {
    acc = new Map();
    const t = now();
    await services.networks.connect({ network: 'steps', sandbox: `s${i}` });
    totals.push(now() - t);
    samples.push(acc);
    acc = undefined;
  }
  console.log(`tsd: ${N} attaches in ${(now() - t0).toFixed(0)} ms, p50 ${median(totals).toFixed(3)} ms`);
  if (N >= 1000) report('tsd connect', samples, totals, 10, 995);
  else report('tsd connect', samples, totals, 10, N - 5);
  const rec = await services.networks.inspectRecord('steps');
  await bridge.deleteNetwork(rec.id);
  await services.networks.remove('steps', { force: true });
  for (const s of await services.sandboxes.list()) await services.sandboxes.remove(s.Id);
}

/** Kernel alone: veth with its peer created in namespace i (i-th of N), optionally on a bridge. */
async function kernelVeth(root: string, variant: 'bridge' | 'nobridge' | 'host-bridge'): Promise<void> {
  const dir = path.join(root, `k-${variant}`);
  fs.mkdirSync(dir, { recursive: true });
  const host = linksIn();
  const br = `kbr-${variant.slice(0, 6)}`;
  if (variant !== 'nobridge') await host.createBridge(br, { up: true, group: 0x6b000001 });
  const paths = Array.from({ length: N }, (_, i) => path.join(dir, `ns${i}`));
  if (variant !== 'host-bridge') for (const p of paths) (await createNetnsAt(p, { ipv6DisabledByDefault: true })).close();
  const create: number[] = [];
  const up: number[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const ns = variant === 'host-bridge' ? undefined : openNetns({ path: paths[i]! });
      const t = now();
      await host.createVeth(`kv${i}`, variant === 'host-bridge' ? `kp${i}` : 'eth0', {
        group: 0x6b000001, up: true, ...(variant !== 'nobridge' ? { master: br } : {}), ...(ns ? { peerNetns: ns } : {}),
      });
      const t1 = now();
      const peer = ns ? linksIn(ns) : host;
      await peer.setLink(variant === 'host-bridge' ? `kp${i}` : 'eth0', { up: true });
      const t2 = now();
      create.push(t1 - t);
      up.push(t2 - t1);
      ns?.close();
    }
  } finally {
    await host.deleteLinkGroup(0x6b000001).catch(() => undefined);
    for (const p of paths) { try { removeNetnsAt(p); } catch { /* never created */ } }
  }
  const at = (xs: number[], k: number) => median(xs.slice(k - 5, k + 5));
  const hi = N >= 1000 ? 995 : N - 5;
  console.log(`| kernel veth, ${variant} | create ${at(create, 10).toFixed(3)} → ${at(create, hi).toFixed(3)} ms (${(at(create, hi) / at(create, 10)).toFixed(2)}×) | peer up ${at(up, 10).toFixed(3)} → ${at(up, hi).toFixed(3)} ms |`);
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-bench-steps-'));
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', root]);
  console.log(`# bridge-steps: ${os.cpus().length} cpus, kernel ${os.release()}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, N=${N}`);
  try {
    await tsdSteps(root);
    console.log(`\nkernel alone (attach i creates its veth into namespace i of ${N}; 10th vs ${N >= 1000 ? 995 : N - 5}th):`);
    if (process.env.STEPS_KERNEL !== '0') for (const v of ['bridge', 'nobridge'] as const) await kernelVeth(root, v);
    console.log(`# load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    await execa('umount', ['-l', root], { reject: false });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
