// bench/bridge.ts — tsd-bridge vs netavark (Debian's /usr/lib/podman/netavark) in one run, inside
// a private netns (`bash scripts/bench.sh bridge`):
//  - attach / detach latency p50/p99 with 1, 100 and 1000 endpoints on one network. tsd: the whole
//    NetworkService.connect (IPAM, driver, sandbox networking, records; memory store). netavark:
//    one `netavark setup NSPATH` per container (what podman runs), JSON on stdin.
//  - 1, 200 and 1000 published ports: tsd publishes them through the driver (one firewall
//    transaction); netavark sets up a container with that many port_mappings (minus the same
//    setup without ports). Flatness: one more port with 0 vs 1000 already published.
// Detach is sampled (≤ 100 per size); the rest goes with the network (one link-group delete).
// benchTsd / benchPortsTsd are exported for bench/bridge-dockerd.ts (tsd vs dockerd, same run).
// Bounds: BRIDGE_SIZES (default 1,100,1000), NETAVARK_MAX (default 1000), NETAVARK_PORTS_MAX (200).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { DriverRegistry } from '../core/driver/registry.js';
import { createFirewall } from '../core/kernel/firewall/select.js';
import { createKernel } from '../core/kernel/index.js';
import { createNetnsAt, removeNetnsAt } from '../core/kernel/netns-at.js';
import { silentLogger } from '../core/log.js';
import type { PortBinding } from '../core/driver/network-driver.js';
import { createKernelNetnsProvider } from '../core/sandbox/kernel-netns-provider.js';
import { createKernelSandboxNetworking } from '../core/sandbox/kernel-sandbox-networking.js';
import { noopDnsRegistry } from '../core/service/hooks.js';
import { createServices } from '../core/service/index.js';
import { MemoryStore } from '../core/store/memory.js';
import { scopeStore } from '../core/store/scoped.js';
import { createDefaultIpamDriver } from '../drivers/ipam/default/index.js';
import { BRIDGE_DRIVER_ALIASES, createBridgeDriver } from '../drivers/network/bridge/index.js';
import { settle } from './lib/settle.js';

const SIZES = (process.env.BRIDGE_SIZES ?? '1,100,1000').split(',').map(Number);
const NETAVARK_MAX = Number(process.env.NETAVARK_MAX ?? 1000);
const PORTS = [1, 200, 1000];
// netavark 1.4 writes one iptables rule per port with a process per rule: 1000 ports take
// minutes (measured once: 248 s setup, 274 s teardown), so by default it runs up to 200.
const NETAVARK_PORTS_MAX = Number(process.env.NETAVARK_PORTS_MAX ?? 200);
const DETACH_SAMPLE = 100;
const NETAVARK = '/usr/lib/podman/netavark';
const now = () => performance.now();
const f1 = (x: number) => x.toFixed(2);

export function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
}
export const median = (xs: number[]) => q(xs, 0.5);

const rows: string[] = [];
function row(...cells: Array<string | number>): void {
  const line = `| ${cells.join(' | ')} |`;
  rows.push(line);
  console.log(line);
}

async function tsdStack(root: string) {
  const store = new MemoryStore();
  const firewall = await createFirewall({ backend: 'nftables' }, { log: silentLogger });
  const kernel = createKernel({ firewall });
  const ctx = (name: string) => ({ log: silentLogger, store: scopeStore(store, `drivers/${name}/`), kernel, dataDir: root, config: {} });
  const registry = new DriverRegistry();
  const bridge = createBridgeDriver(ctx('tsd-bridge'));
  registry.register('NetworkDriver', bridge, BRIDGE_DRIVER_ALIASES);
  registry.register('IpamDriver', createDefaultIpamDriver(ctx('tsd-ipam')), ['default']);
  await bridge.restore();
  const services = createServices({
    store, registry, netns: createKernelNetnsProvider(), sandboxNetworking: createKernelSandboxNetworking(kernel),
    dns: noopDnsRegistry, log: silentLogger, dataRoot: root, execRoot: path.join(root, 'run'), embeddedDns: false,
  });
  return { services, bridge };
}

interface Result {
  attach: number[]; detach: number[]; total: number;
  /** tsd's own CPU per attach, ms: user, and sys (its syscalls' kernel time). */
  cpu: { user: number; sys: number };
  /** Interleaved attaches at ~1000 vs ~10 ports (only for n ≥ 1000). */
  growth?: { big: number[]; small: number[] };
}

/**
 * Growth with the port count, robust to this machine's load and to JIT warm-up: in the warm
 * process, with `net` holding ~1000 ports, attach GROWTH_PAIRS more alternately to `net` and to a
 * second network holding 10, so both series see the same load over time. (The sequential ratio
 * "attaches 990-999 vs 5-14" compares a cold start with a warm end under a load that drifts.)
 */
const GROWTH_PAIRS = 20;
async function growth(services: Awaited<ReturnType<typeof tsdStack>>['services'], net: string, tag: string): Promise<{ big: number[]; small: number[] }> {
  const small = `${net}-small`;
  await services.networks.create({ name: small, ipam: { config: [{ subnet: '10.103.0.0/16' }] } });
  for (let i = 0; i < 10 + GROWTH_PAIRS; i++) await services.sandboxes.create({ name: `${tag}-gs${i}` });
  for (let i = 0; i < GROWTH_PAIRS; i++) await services.sandboxes.create({ name: `${tag}-gb${i}` });
  for (let i = 0; i < 10; i++) await services.networks.connect({ network: small, sandbox: `${tag}-gs${i}` });
  await settle('growth');
  const big: number[] = [];
  const smallT: number[] = [];
  for (let k = 0; k < GROWTH_PAIRS; k++) {
    const one = async (network: string, sandbox: string, into: number[]) => {
      const t = now();
      await services.networks.connect({ network, sandbox });
      into.push(now() - t);
    };
    if (k % 2) {
      await one(net, `${tag}-gb${k}`, big);
      await one(small, `${tag}-gs${10 + k}`, smallT);
    } else {
      await one(small, `${tag}-gs${10 + k}`, smallT);
      await one(net, `${tag}-gb${k}`, big);
    }
  }
  return { big, small: smallT };
}

export async function benchTsd(root: string, n: number): Promise<Result> {
  const { services, bridge } = await tsdStack(path.join(root, `tsd-${n}`));
  const net = `bench${n}`;
  await services.networks.create({ name: net, ipam: { config: [{ subnet: '10.100.0.0/16' }] } });
  for (let i = 0; i < n; i++) await services.sandboxes.create({ name: `s${n}-${i}` });
  await settle(`tsd ${n}`);
  const attach: number[] = [];
  const c0 = process.cpuUsage();
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    await services.networks.connect({ network: net, sandbox: `s${n}-${i}` });
    attach.push(now() - t);
  }
  const total = now() - t0;
  const c1 = process.cpuUsage(c0);
  const cpu = { user: c1.user / 1000 / n, sys: c1.system / 1000 / n };
  const grown = n >= 1000 ? await growth(services, net, `s${n}`) : undefined;
  const detach: number[] = [];
  for (let i = 0; i < Math.min(n, DETACH_SAMPLE); i++) {
    const t = now();
    await services.networks.disconnect(net, `s${n}-${i}`);
    detach.push(now() - t);
  }
  // The rest in one kernel batch (the driver deletes the network's link group), then the records.
  for (const name of grown ? [net, `${net}-small`] : [net]) {
    const rec = await services.networks.inspectRecord(name);
    await bridge.deleteNetwork(rec.id);
    await services.networks.remove(name, { force: true });
  }
  for (const s of await services.sandboxes.list()) await services.sandboxes.remove(s.Id);
  return { attach, detach, total, cpu, ...(grown ? { growth: grown } : {}) };
}

function netavarkConfig(i: number, ports: number, portBase = 20000) {
  const ip = `10.101.${(i + 2) >> 8}.${(i + 2) & 255}`;
  return JSON.stringify({
    container_id: (`c${i}`).padEnd(64, '0'),
    container_name: `c${i}`,
    port_mappings: Array.from({ length: ports }, (_, k) => ({ host_ip: '', container_port: 80 + k, host_port: portBase + k, range: 1, protocol: 'tcp' })),
    networks: { bench: { static_ips: [ip], interface_name: 'eth0' } },
    network_info: {
      bench: {
        name: 'bench', id: 'b'.repeat(64), driver: 'bridge', network_interface: 'nvbr0',
        subnets: [{ subnet: '10.101.0.0/16', gateway: '10.101.0.1' }],
        ipv6_enabled: false, internal: false, dns_enabled: false, ipam_options: { driver: 'host-local' },
      },
    },
  });
}

async function netavark(cmd: 'setup' | 'teardown', cfgDir: string, nsPath: string, input: string): Promise<number> {
  const t = now();
  const r = await execa(NETAVARK, ['--config', cfgDir, cmd, nsPath], { input, reject: false, env: { NETAVARK_FW: 'iptables' } });
  const dt = now() - t;
  if (r.exitCode !== 0) throw new Error(`netavark ${cmd} ${nsPath}: ${r.stderr}`);
  return dt;
}

async function benchNetavark(root: string, n: number): Promise<Result> {
  const dir = path.join(root, `nv-${n}`);
  fs.mkdirSync(dir, { recursive: true });
  const ns = Array.from({ length: n }, (_, i) => path.join(dir, `ns${i}`));
  for (const p of ns) (await createNetnsAt(p)).close();
  await settle(`netavark ${n}`);
  const attach: number[] = [];
  const t0 = now();
  for (let i = 0; i < n; i++) attach.push(await netavark('setup', dir, ns[i]!, netavarkConfig(i, 0)));
  const total = now() - t0;
  const detach: number[] = [];
  for (let i = 0; i < n; i++) {
    const dt = await netavark('teardown', dir, ns[i]!, netavarkConfig(i, 0));
    if (i < DETACH_SAMPLE) detach.push(dt);
  }
  for (const p of ns) removeNetnsAt(p);
  await execa('ip', ['link', 'del', 'nvbr0'], { reject: false });
  return { attach, detach, total, cpu: { user: NaN, sys: NaN } };
}

export async function benchPortsTsd(root: string) {
  const { services, bridge } = await tsdStack(path.join(root, 'tsd-ports'));
  await services.networks.create({ name: 'ports', ipam: { config: [{ subnet: '10.102.0.0/16' }] } });
  await services.sandboxes.create({ name: 'pa' });
  await services.sandboxes.create({ name: 'pb' });
  const a = await services.networks.connect({ network: 'ports', sandbox: 'pa' });
  const b = await services.networks.connect({ network: 'ports', sandbox: 'pb' });
  const bindings = (count: number, base: number): PortBinding[] =>
    Array.from({ length: count }, (_, k) => ({ proto: 'tcp', ip: '', port: 80 + k, hostIp: '', hostPort: base + k, hostPortEnd: base + k }));
  const out: Record<number, { publish: number; unpublish: number }> = {};
  for (const count of PORTS) {
    const t = now();
    await bridge.programExternalConnectivity({ networkId: a.networkId, endpointId: a.id, options: { portBindings: bindings(count, 20000) } });
    const publish = now() - t;
    const u = now();
    await bridge.revokeExternalConnectivity(a.networkId, a.id);
    out[count] = { publish, unpublish: now() - u };
  }
  // Flatness: one more port with 0 vs 1000 already published (median of 20 each).
  const one = async () => {
    const xs: number[] = [];
    for (let k = 0; k < 20; k++) {
      const t = now();
      await bridge.programExternalConnectivity({ networkId: b.networkId, endpointId: b.id, options: { portBindings: bindings(1, 40000) } });
      xs.push(now() - t);
      await bridge.revokeExternalConnectivity(b.networkId, b.id);
    }
    return median(xs);
  };
  const empty = await one();
  await bridge.programExternalConnectivity({ networkId: a.networkId, endpointId: a.id, options: { portBindings: bindings(1000, 20000) } });
  const full = await one();
  for (const s of await services.sandboxes.list()) await services.sandboxes.remove(s.Id);
  await services.networks.remove('ports', { force: true });
  return { out, empty, full };
}

async function benchPortsNetavark(root: string) {
  const dir = path.join(root, 'nv-ports');
  fs.mkdirSync(dir, { recursive: true });
  const nsPath = path.join(dir, 'ns');
  (await createNetnsAt(nsPath)).close();
  const out: Record<number, { publish: number; unpublish: number }> = {};
  const base = { setup: [] as number[], teardown: [] as number[] };
  for (let k = 0; k < 3; k++) {
    base.setup.push(await netavark('setup', dir, nsPath, netavarkConfig(0, 0)));
    base.teardown.push(await netavark('teardown', dir, nsPath, netavarkConfig(0, 0)));
  }
  for (const count of PORTS.filter((c) => c <= NETAVARK_PORTS_MAX)) {
    const s = await netavark('setup', dir, nsPath, netavarkConfig(0, count));
    const t = await netavark('teardown', dir, nsPath, netavarkConfig(0, count));
    out[count] = { publish: s - median(base.setup), unpublish: t - median(base.teardown) };
  }
  removeNetnsAt(nsPath);
  await execa('ip', ['link', 'del', 'nvbr0'], { reject: false });
  return out;
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-bench-bridge-'));
  // tsd's data root (sandbox hosts/resolv.conf files) on a tmpfs inside the bench's private mount
  // namespace: this machine's disk is shared and its latency would swamp the network path (netavark
  // writes no such files; dockerd keeps them on disk).
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', root]);
  console.log(`# bridge bench: ${os.cpus().length} cpus, kernel ${os.release()}, node ${process.version}, netavark ${(await execa(NETAVARK, ['--version'])).stdout.trim()} (iptables)`);
  try {
    row('endpoints', 'tsd attach p50 / p99 ms', 'netavark attach p50 / p99 ms', 'tsd detach p50 / p99 ms', 'netavark detach p50 / p99 ms', 'tsd total attach ms', 'netavark total ms', 'tsd 1000th/10th');
    row('---', '---', '---', '---', '---', '---', '---', '---');
    for (const n of SIZES) {
      const t = await benchTsd(root, n);
      const nv = n <= NETAVARK_MAX ? await benchNetavark(root, n) : undefined;
      const late = n >= 1000 ? median(t.attach.slice(990, 1000)) / median(t.attach.slice(5, 15)) : NaN;
      row(
        n,
        `${f1(median(t.attach))} / ${f1(q(t.attach, 0.99))}`,
        nv ? `${f1(median(nv.attach))} / ${f1(q(nv.attach, 0.99))}` : '-',
        `${f1(median(t.detach))} / ${f1(q(t.detach, 0.99))}`,
        nv ? `${f1(median(nv.detach))} / ${f1(q(nv.detach, 0.99))}` : '-',
        f1(t.total), nv ? f1(nv.total) : '-',
        Number.isNaN(late) ? '-' : `${late.toFixed(2)}× (median of 990-999 vs 5-14)`,
      );
      console.log(`  tsd CPU per attach: user ${f1(t.cpu.user)} ms + sys ${f1(t.cpu.sys)} ms (its syscalls; the link-watch worker's kernel time is not in it)`);
      if (t.growth) {
        const g = t.growth;
        console.log(`  growth, interleaved in the warm process: attach p50 at ~1000 ports ${f1(median(g.big))} ms vs at ~10 ports ${f1(median(g.small))} ms = ${(median(g.big) / median(g.small)).toFixed(2)}× (${GROWTH_PAIRS} pairs; big: ${g.big.map(f1).join(' ')}; small: ${g.small.map(f1).join(' ')})`);
      }
      if (nv) console.log(`  ratio attach p50 netavark/tsd = ${(median(nv.attach) / median(t.attach)).toFixed(1)}×, detach p50 = ${(median(nv.detach) / median(t.detach)).toFixed(1)}×`);
    }
    const tp = await benchPortsTsd(root);
    const np = await benchPortsNetavark(root);
    row('ports', 'tsd publish ms', 'tsd unpublish ms', 'netavark publish ms (setup − setup without ports)', 'netavark unpublish ms', 'publish ratio', '', '');
    row('---', '---', '---', '---', '---', '---', '', '');
    for (const c of PORTS) {
      const nv = np[c];
      row(c, f1(tp.out[c]!.publish), f1(tp.out[c]!.unpublish), nv ? f1(nv.publish) : '(skipped)', nv ? f1(nv.unpublish) : '(skipped)', nv ? `${(nv.publish / tp.out[c]!.publish).toFixed(1)}×` : '-', '', '');
    }
    console.log(`flatness: one port published with 0 ports present ${f1(tp.empty)} ms, with 1000 present ${f1(tp.full)} ms`);
  } finally {
    await execa('umount', ['-l', root], { reject: false });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

// Run only as a script: bench/bridge-dockerd.ts imports the tsd measurements above.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
