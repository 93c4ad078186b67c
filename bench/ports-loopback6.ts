// bench/ports-loopback6.ts — 1000 published ports on `::` through tsd-bridge with the in-process
// [::1] proxy on and off: the firewall part (target ≤ 100 ms for 1000 ports), the [::1] listeners'
// cost on their own (time to open/close, memory, file descriptors), and Docker's answer to the same
// case, one docker-proxy process per port (start time and resident memory, a bounded sample).
// Runs inside a private netns (scripts/bench.sh); everything it starts it stops by PID.

import fs from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { execa } from 'execa';
import type { PortBinding } from '../core/driver/network-driver.js';
import { createFirewall } from '../core/kernel/firewall/select.js';
import type { Firewall } from '../core/kernel/firewall/firewall.js';
import { createKernel, type Kernel } from '../core/kernel/index.js';
import { silentLogger } from '../core/log.js';
import { MemoryStore } from '../core/store/memory.js';
import { scopeStore } from '../core/store/scoped.js';
import { createBridgeDriver, type BridgeDriver } from '../drivers/network/bridge/index.js';
import { Loopback6Proxy } from '../drivers/network/bridge/loopback6-proxy.js';

const N = 1000;
const ROUNDS = 5;
const DOCKER_PROXY_SAMPLE = 20;
const NET = 'b'.repeat(64);
const EP = 'e'.repeat(64);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f = (x: number) => x.toFixed(1).padStart(8);
const fds = () => fs.readdirSync('/proc/self/fd').length;
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
/** Live JS heap after a full collection, KiB. */
const heapKb = () => { gc(); gc(); return process.memoryUsage().heapUsed / 1024; };
const rssKb = (pid: number | 'self') => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

/** The kernel with the firewall's publish timed on its own. */
function timedKernel(kernel: Kernel, fwMs: number[]): Kernel {
  const fw = kernel.firewall as Firewall;
  const timed = new Proxy(fw, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv) as unknown;
      if (prop === 'publishPorts') {
        return async (...a: unknown[]) => {
          const t0 = performance.now();
          try { return await (v as (...x: unknown[]) => Promise<void>).apply(t, a); } finally { fwMs.push(performance.now() - t0); }
        };
      }
      return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
    },
  });
  return { ...kernel, firewall: timed };
}

interface Raw { progs: number[]; fwMs: number[]; revokes: number[] }
const raw = (): Raw => ({ progs: [], fwMs: [], revokes: [] });

async function driverRun(kernel: Kernel, loopback6: boolean, acc: Raw): Promise<void> {
  const { progs, fwMs, revokes } = acc;
  const bridge: BridgeDriver = createBridgeDriver({
    log: silentLogger, store: scopeStore(new MemoryStore(), 'b/'), kernel: timedKernel(kernel, fwMs), dataDir: os.tmpdir(),
    config: { 'userland-proxy-v6-loopback': loopback6 },
  });
  await bridge.createNetwork({
    networkId: NET, options: { generic: {}, enableIpv4: true, enableIpv6: true, internal: false },
    ipv4Data: [{ addressSpace: 'x', pool: '10.98.0.0/24', gateway: '10.98.0.1/24' }],
    ipv6Data: [{ addressSpace: 'x', pool: 'fd00:98::/64', gateway: 'fd00:98::1/64' }],
  });
  await bridge.createEndpoint({ networkId: NET, endpointId: EP, interface: { address: '10.98.0.2/24', addressIpv6: 'fd00:98::2/64' }, options: {} });
  const portBindings: PortBinding[] = Array.from({ length: N }, (_, i) => ({ proto: 'tcp', ip: '', port: 80, hostIp: '', hostPort: 40000 + i, hostPortEnd: 40000 + i }));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      let t = performance.now();
      await bridge.programExternalConnectivity({ networkId: NET, endpointId: EP, options: { portBindings } });
      progs.push(performance.now() - t);
      t = performance.now();
      await bridge.revokeExternalConnectivity(NET, EP);
      revokes.push(performance.now() - t);
    }
  } finally {
    await bridge.deleteNetwork(NET);
    await bridge.close();
  }
}
const summary = (r: Raw) => ({ program: median(r.progs), fw: median(r.fwMs), revoke: median(r.revokes) });

async function listenersAlone(proto: 'tcp' | 'udp'): Promise<{ open: number; close: number; rssKb: number; heapKb: number; fds: number }> {
  const opens: number[] = [];
  const closes: number[] = [];
  const rss: number[] = [];
  const heap: number[] = [];
  let fdDelta = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const p = new Loopback6Proxy({ log: silentLogger });
    const fd0 = fds();
    const rss0 = rssKb('self');
    const heap0 = heapKb();
    let t = performance.now();
    for (let i = 0; i < N; i++) await p.open({ proto, hostPort: 41000 + i, containerIp: 'fd00:98::2', containerPort: 80 });
    opens.push(performance.now() - t);
    rss.push(rssKb('self') - rss0);
    heap.push(heapKb() - heap0);
    fdDelta = fds() - fd0;
    t = performance.now();
    await p.closeAll();
    closes.push(performance.now() - t);
  }
  return { open: median(opens), close: median(closes), rssKb: median(rss), heapKb: median(heap), fds: fdDelta };
}

const spawnDockerProxy = (port: number) => execa('/usr/sbin/docker-proxy',
  ['-proto', 'tcp', '-host-ip', '::1', '-host-port', String(port), '-container-ip', 'fd00:98::2', '-container-port', '80'],
  { reject: false, stdio: ['ignore', 'ignore', 'pipe', 'pipe'], timeout: 30_000 });

/** docker-proxy (Docker's proxy for [::1]): start a bounded sample, time until each listens, sum RSS. */
async function dockerProxySample(): Promise<{ startMs: number; rssKb: number } | undefined> {
  if (!fs.existsSync('/usr/sbin/docker-proxy')) return undefined;
  const procs: Array<ReturnType<typeof spawnDockerProxy>> = [];
  const starts: number[] = [];
  try {
    for (let i = 0; i < DOCKER_PROXY_SAMPLE; i++) {
      const t = performance.now();
      // fd 3: docker-proxy writes "0\n" there once it listens (its signal to dockerd).
      const p = spawnDockerProxy(42000 + i);
      procs.push(p);
      const sig = p.stdio[3] as NodeJS.ReadableStream;
      await new Promise<void>((res, rej) => {
        sig.once('data', (d: Buffer) => (String(d).startsWith('0') ? res() : rej(new Error(`docker-proxy: ${String(d)}`))));
        p.once('exit', () => rej(new Error('docker-proxy exited')));
      });
      starts.push(performance.now() - t);
    }
    await new Promise((r) => setTimeout(r, 200));
    const rss = procs.reduce((a, p) => a + rssKb(p.pid!), 0) / procs.length;
    return { startMs: median(starts), rssKb: rss };
  } finally {
    for (const p of procs) if (p.pid) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
    await Promise.allSettled(procs);
  }
}

async function main(): Promise<void> {
  const firewall = await createFirewall({ backend: 'nftables' }, { log: silentLogger });
  const kernel = createKernel({ firewall });
  await firewall.reload({ networks: [], ports: [] });
  await driverRun(kernel, true, raw()); // warm-up
  // Off and on alternate in 4 passes (shared, noisy machine), medians over all rounds.
  const rawOff = raw();
  const rawOn = raw();
  for (let pass = 0; pass < 4; pass++) {
    if (pass % 2) { await driverRun(kernel, true, rawOn); await driverRun(kernel, false, rawOff); }
    else { await driverRun(kernel, false, rawOff); await driverRun(kernel, true, rawOn); }
  }
  const off = summary(rawOff);
  const on = summary(rawOn);
  await firewall.purge();
  console.log(`${N} bindings on :: (tcp, dual-stack endpoint: ${2 * N} DNAT elements), median of ${4 * ROUNDS}, ms`);
  console.log(`${'tsd-bridge'.padEnd(34)}  publish  firewall  revoke`);
  console.log(`${'[::1] proxy off'.padEnd(34)}${f(off.program)} ${f(off.fw)} ${f(off.revoke)}`);
  console.log(`${'[::1] proxy on (1000 listeners)'.padEnd(34)}${f(on.program)} ${f(on.fw)} ${f(on.revoke)}`);
  console.log(`target: firewall part of 1000 ports ≤ 100 ms: ${on.fw <= 100 ? 'MET' : 'MISSED'} (${on.fw.toFixed(1)} ms)`);
  for (const proto of ['tcp', 'udp'] as const) {
    const l = await listenersAlone(proto);
    console.log(`${N} [::1] ${proto} listeners alone: open ${l.open.toFixed(1)} ms (${(l.open / N * 1000).toFixed(0)} µs each), close ${l.close.toFixed(1)} ms, ` +
      `RSS +${(l.rssKb / 1024).toFixed(1)} MiB, JS heap +${(l.heapKb / 1024).toFixed(2)} MiB (${(l.heapKb / N).toFixed(2)} KiB each), ${l.fds} fds`);
  }
  const dp = await dockerProxySample();
  if (dp) {
    console.log(`docker-proxy (one process per port, sample of ${DOCKER_PROXY_SAMPLE}): start to listening ${dp.startMs.toFixed(1)} ms each, RSS ${(dp.rssKb / 1024).toFixed(1)} MiB each ` +
      `→ ${N} ports ≈ ${(dp.startMs * N / 1000).toFixed(1)} s serial start, ${(dp.rssKb * N / 1024 / 1024).toFixed(2)} GiB`);
  }
  console.log(`load average: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cpus`);
}

await main();
