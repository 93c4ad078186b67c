// integration/network/stack.ts — a tsd network stack for real-kernel tests: the NetworkService and
// SandboxService over a store, with the real tsd-bridge/host/none drivers, the default IPAM, the
// kernel-backed NetnsProvider/SandboxNetworking and the nftables firewall. Several stacks can
// share one store (a "restarted" daemon). Plus helpers to look at sandboxes with ip/nsenter/socat.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { DriverRegistry } from '../../core/driver/registry.js';
import type { DriverContext } from '../../core/driver/context.js';
import { createFirewall } from '../../core/kernel/firewall/select.js';
import { createKernel, type Kernel } from '../../core/kernel/index.js';
import { silentLogger } from '../../core/log.js';
import { createKernelNetnsProvider } from '../../core/sandbox/kernel-netns-provider.js';
import { createKernelSandboxNetworking } from '../../core/sandbox/kernel-sandbox-networking.js';
import { MemoryDnsRegistry } from '../../core/service/hooks.js';
import { createServices, type Services } from '../../core/service/index.js';
import { scopeStore } from '../../core/store/scoped.js';
import type { Store } from '../../core/store/store.js';
import { createDefaultIpamDriver } from '../../drivers/ipam/default/index.js';
import { BRIDGE_DRIVER_ALIASES, createBridgeDriver, type BridgeDriver } from '../../drivers/network/bridge/index.js';
import { createHostDriver, HOST_DRIVER_ALIASES } from '../../drivers/network/host/index.js';
import { createNoneDriver } from '../../drivers/network/none/index.js';

export interface Stack {
  services: Services;
  bridge: BridgeDriver;
  kernel: Kernel;
  root: string;
}

/** `bridgeConfig`: tsd-bridge's driver keys (the daemon's `drivers: tsd-bridge:` section). */
export async function makeStack(
  store: Store, root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdnet-')), bridgeConfig: Record<string, unknown> = {},
): Promise<Stack> {
  const firewall = await createFirewall({ backend: 'nftables' }, { log: silentLogger });
  const kernel = createKernel({ firewall });
  const ctx = (name: string): DriverContext => ({
    log: silentLogger, store: scopeStore(store, `drivers/${name}/`), kernel, dataDir: path.join(root, name), config: {},
  });
  const registry = new DriverRegistry();
  const bridge = createBridgeDriver({ ...ctx('tsd-bridge'), config: bridgeConfig });
  registry.register('NetworkDriver', bridge, BRIDGE_DRIVER_ALIASES);
  registry.register('NetworkDriver', createHostDriver(ctx('tsd-host')), HOST_DRIVER_ALIASES);
  registry.register('NetworkDriver', createNoneDriver(), ['null', 'tsd-none']);
  registry.register('IpamDriver', createDefaultIpamDriver(ctx('tsd-ipam')), ['default']);
  await bridge.restore(); // startup reconcile + firewall reload, as the daemon does
  const services = createServices({
    store, registry, netns: createKernelNetnsProvider(), sandboxNetworking: createKernelSandboxNetworking(kernel),
    dns: new MemoryDnsRegistry(), log: silentLogger, dataRoot: root, execRoot: path.join(root, 'run'), embeddedDns: false,
  });
  await services.reconcile();
  return { services, bridge, kernel, root };
}

export async function run(cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}) {
  return execa(cmd, args, { reject: false, input: opts.input ?? '', timeout: opts.timeout ?? 10_000 });
}

/** Run argv inside the netns at `nsPath`. */
export async function inNs(nsPath: string, argv: string[], opts: { input?: string; timeout?: number } = {}) {
  return run('nsenter', [`--net=${nsPath}`, '--', ...argv], opts);
}

export async function ipJ<T = any>(args: string[], nsPath?: string): Promise<T> {
  const r = nsPath ? await inNs(nsPath, ['ip', '-j', ...args]) : await run('ip', ['-j', ...args]);
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return (String(r.stdout).trim() ? JSON.parse(String(r.stdout)) : []) as T;
}

/** One reply out of two within a few seconds: neighbour discovery can take a moment on a loaded host. */
export async function ping(nsPath: string, addr: string, v6 = false): Promise<boolean> {
  const r = await inNs(nsPath, ['busybox', 'ping', ...(v6 ? ['-6'] : []), '-c2', '-W3', addr], { timeout: 5000 });
  return r.exitCode === 0;
}

const servers: ResultPromise[] = [];

/** TCP (answers its peer address) or UDP (answers "udp-ok") server inside a sandbox. */
export async function serve(nsPath: string, proto: 'tcp' | 'udp', port: number): Promise<void> {
  // UDP: one long-lived node socket answering every datagram (socat's fork-per-datagram server
  // lost answers under load).
  const udpServer = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('udp-ok\\n',r.port,r.address));s.bind(${port});`;
  const argv = proto === 'tcp'
    ? ['socat', `TCP-LISTEN:${port},reuseaddr,fork`, 'EXEC:printenv SOCAT_PEERADDR']
    : [process.execPath, '-e', udpServer];
  const p = execa('nsenter', [`--net=${nsPath}`, '--', ...argv], { reject: false, stdio: 'ignore' });
  servers.push(p);
  const flag = proto === 'tcp' ? '-Hltn' : '-Hlun';
  for (let i = 0; i < 100; i++) {
    const r = await inNs(nsPath, ['ss', flag, `sport = :${port}`]);
    if (String(r.stdout).includes(String(port))) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`server ${proto}/${port} in ${nsPath} did not start`);
}

/** Connect (from `nsPath`, or this test netns) and return what the server answered, or undefined. */
export async function dial(nsPath: string | undefined, proto: 'tcp' | 'udp', addr: string, port: number): Promise<string | undefined> {
  const target = proto === 'tcp' ? `TCP:${addr}:${port},connect-timeout=1` : `UDP:${addr}:${port}`;
  // -t: after our EOF, wait for the answer (the server forks per connection: slow on a loaded host).
  const argv = ['socat', '-t5', '-T5', '-', target];
  // TCP sends nothing: unread data at the server's close would turn its FIN into a RST that can
  // overtake the answer. UDP needs a datagram to answer.
  const input = proto === 'tcp' ? '' : 'x\n';
  // UDP may lose a datagram (the server forks per packet; the host may be loaded): five tries.
  for (let i = 0; i < (proto === 'udp' ? 5 : 1); i++) {
    const r = nsPath ? await inNs(nsPath, argv, { input, timeout: 8000 }) : await run(argv[0]!, argv.slice(1), { input, timeout: 8000 });
    const out = String(r.stdout ?? '').trim();
    if (out) return out;
  }
  return undefined;
}

export async function stopServers(): Promise<void> {
  for (const s of servers.splice(0)) {
    if (s.pid) {
      try { process.kill(s.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await s.catch(() => undefined);
  }
}

export async function nftTable(): Promise<any[]> {
  const r = await run('nft', ['-j', 'list', 'table', 'inet', 'tsd']);
  return r.exitCode === 0 ? (JSON.parse(String(r.stdout)).nftables as any[]) : [];
}

/** Elements of an nft set/map of tsd's table ([] when empty or missing). */
export async function nftElements(name: string): Promise<unknown[]> {
  for (const o of await nftTable()) {
    const s = o.set ?? o.map;
    if (s && s.name === name) return (s.elem as unknown[] | undefined) ?? [];
  }
  return [];
}
