// bench/bridge-dockerd.ts — tsd-bridge vs dockerd's built-in `bridge` driver (libnetwork, Debian's
// docker.io 20.10) in one run (`bash scripts/bench.sh bridge-dockerd`; the name is not
// docker-*, so scripts/bench.sh runs it inside a private net+mount namespace).
//
// SAFETY: dockerd runs here with iptables ON (published ports are iptables DNAT rules), which
// rewrites the firewall of the network namespace it runs in. The bench refuses to start in the
// host's netns; in the private one, its bridges, veths, iptables/nft rules, ip_forward and the
// container namespaces exist only there and vanish with it. /run/docker (libnetwork's netns dir)
// and the data/exec roots are tmpfs mounts of the private mount namespace. dockerd, containerd and
// the shims are killed by PID; everything under the bench's dir is unmounted, even on failure.
//
// dockerd side, through the Engine API on its unix socket (no CLI start-up in the figures):
//  - attach = POST /networks/{id}/connect of a running busybox `sleep` container (started on the
//    network, then disconnected, so it has only lo), detach = POST /networks/{id}/disconnect;
//    p50/p99 with 1 and 100 endpoints on one user-defined bridge network. 1000 containers take too
//    long on this machine (≈ 0.3 s each to create+start+disconnect, ≈ 6 min before measuring):
//    DOCKERD_MAX (default 100).
//  - published ports: POST /containers/create + /start of a container with 1, 200 (and 1000)
//    published ports (one range 20000-…) minus the same without ports run right before it (for
//    1 port the median of 7 such pairs); removal (DELETE ?force) minus removal without ports. dockerd runs with --userland-proxy=false (with
//    the proxy it would start one docker-proxy process per port). 1000 ports are skipped when 200
//    took longer than DOCKERD_PORTS_BUDGET_S (default 60 s) scaled ×5.
// tsd side, in the same process before dockerd starts: bench/bridge.ts's benchTsd (the whole
// NetworkService.connect) at the same sizes and benchPortsTsd (publish through the driver).
// Bounds: DOCKERD_SIZES (default 1,100), DOCKERD_MAX (100), DOCKERD_PORTS (1,200,1000).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { importBusybox, removeBusyboxTar, startDockerd, BUSYBOX_IMAGE, type Dockerd } from '../integration/docker/harness.js';
import { benchPortsTsd, benchTsd, median, q } from './bridge.js';
import { assertPrivateNetns, cleanupOnSignals, dockerApi, removeDockerdLeftovers } from './lib/dockerd.js';

const DOCKERD_MAX = Number(process.env.DOCKERD_MAX ?? 100);
const SIZES = (process.env.DOCKERD_SIZES ?? '1,100').split(',').map(Number);
const PORTS = (process.env.DOCKERD_PORTS ?? '1,200,1000').split(',').map(Number);
const PORTS_BUDGET_S = Number(process.env.DOCKERD_PORTS_BUDGET_S ?? 60);
const DETACH_SAMPLE = 100;
const NET = 'tsdtest-benchnet';
const SUBNET = '10.92.0.0/16';
const now = () => performance.now();
const f1 = (x: number) => x.toFixed(2);
const pq = (xs: number[]) => `${f1(median(xs))} / ${f1(q(xs, 0.99))}`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`;

/** dockerApi (bench/lib/dockerd.ts), refused once cleanup has begun (signal): no new containers. */
function api<T = any>(socket: string, method: string, p: string, body?: unknown): Promise<T> {
  if (cleaning) return Promise.reject(new Error(`${method} ${p}: bench is stopping`));
  return dockerApi<T>(socket, method, p, body);
}

/** Run `fn` over `items` with at most `k` at a time. */
async function pool<T>(items: T[], k: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(k, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

function containerSpec(ports: number, name: string) {
  const keys = Array.from({ length: ports }, (_, k) => `${20000 + k}/tcp`);
  return {
    Image: BUSYBOX_IMAGE, Cmd: ['sleep', '3600'],
    ExposedPorts: Object.fromEntries(keys.map((k) => [k, {}])),
    HostConfig: { NetworkMode: NET, PortBindings: Object.fromEntries(keys.map((k) => [k, [{ HostIp: '', HostPort: k.split('/')[0] }]])) },
    NetworkingConfig: { EndpointsConfig: { [NET]: {} } },
    _name: name,
  };
}

async function create(sock: string, ports: number, name: string): Promise<string> {
  const { _name, ...spec } = containerSpec(ports, name);
  return (await api<{ Id: string }>(sock, 'POST', `/containers/create?name=${_name}`, spec)).Id;
}

interface DResult { attach: number[]; detach: number[]; total: number; bridgePorts: number }

async function benchDockerd(sock: string, netId: string, n: number): Promise<DResult> {
  const ids: string[] = [];
  const t0 = now();
  // Containers started on the network, then disconnected: running, only lo.
  await pool(Array.from({ length: n }, (_, i) => i), 3, async (i) => {
    const id = await create(sock, 0, `tsdtest-e${n}-${i}`);
    await api(sock, 'POST', `/containers/${id}/start`);
    await api(sock, 'POST', `/networks/${netId}/disconnect`, { Container: id });
    ids[i] = id;
  });
  console.log(`  (dockerd ${n}: ${n} containers created, started, disconnected in ${((now() - t0) / 1000).toFixed(1)} s)`);
  try {
    const attach: number[] = [];
    const t1 = now();
    for (const id of ids) {
      const t = now();
      await api(sock, 'POST', `/networks/${netId}/connect`, { Container: id });
      attach.push(now() - t);
    }
    const total = now() - t1;
    // Independent check: the kernel's bridge has n ports (veth host ends), and the network n endpoints.
    const br = `br-${netId.slice(0, 12)}`;
    const bridgePorts = (JSON.parse((await execa('ip', ['-j', 'link', 'show', 'master', br])).stdout) as unknown[]).length;
    const inspected = await api<{ Containers: Record<string, unknown> }>(sock, 'GET', `/networks/${netId}`);
    if (bridgePorts !== n || Object.keys(inspected.Containers ?? {}).length !== n) {
      throw new Error(`after ${n} attaches: ${bridgePorts} ports on ${br}, ${Object.keys(inspected.Containers ?? {}).length} endpoints in dockerd`);
    }
    const detach: number[] = [];
    for (const id of ids.slice(0, DETACH_SAMPLE)) {
      const t = now();
      await api(sock, 'POST', `/networks/${netId}/disconnect`, { Container: id });
      detach.push(now() - t);
    }
    return { attach, detach, total, bridgePorts };
  } finally {
    await pool(ids.filter(Boolean), 3, async (id) => { await api(sock, 'DELETE', `/containers/${id}?force=1`).catch(() => undefined); });
  }
}

async function dnatRules(): Promise<number> {
  const out = (await execa('iptables-save', ['-t', 'nat'])).stdout;
  return out.split('\n').filter((l) => l.startsWith('-A DOCKER ') && l.includes('DNAT')).length;
}

/** create+start and removal of a container with `ports` published ports, ms. */
async function portsRun(sock: string, ports: number, tag: string): Promise<{ up: number; down: number; rules: number }> {
  const t = now();
  const id = await create(sock, ports, `tsdtest-p${tag}`);
  await api(sock, 'POST', `/containers/${id}/start`);
  const up = now() - t;
  const rules = await dnatRules();
  const u = now();
  await api(sock, 'DELETE', `/containers/${id}?force=1`);
  return { up, down: now() - u, rules };
}

/**
 * Each size paired with a run without ports right before it (the create+start of a container alone
 * spreads by ±100 ms here, more than one port costs): the median of PAIRS differences for sizes up
 * to 10 ports, one pair above (200 ports take ≈ 20 s a pair).
 */
const SMALL_PAIRS = 7;
async function benchPortsDockerd(sock: string) {
  await portsRun(sock, 0, 'warm');
  const out: Record<number, { publish: number; unpublish: number; up: number; rules: number; pairs: number } | string> = {};
  const base = { up: [] as number[], down: [] as number[] };
  let perPortS = 0;
  for (const count of PORTS) {
    const estimate = perPortS * count;
    if (estimate > PORTS_BUDGET_S * 5) { out[count] = `skipped (≈${estimate.toFixed(0)} s estimated from the previous size)`; continue; }
    const pairs = count <= 10 ? SMALL_PAIRS : 1;
    const dUp: number[] = [];
    const dDown: number[] = [];
    let last = { up: 0, down: 0, rules: 0 };
    for (let k = 0; k < pairs; k++) {
      const b = await portsRun(sock, 0, `base${count}-${k}`);
      base.up.push(b.up);
      base.down.push(b.down);
      last = await portsRun(sock, count, `${count}-${k}`);
      if (last.rules !== count) throw new Error(`${count} ports published but ${last.rules} DNAT rules in the DOCKER chain`);
      if ((await dnatRules()) !== 0) throw new Error(`DNAT rules left after removing the ${count}-port container`);
      dUp.push(last.up - b.up);
      dDown.push(last.down - b.down);
    }
    out[count] = { publish: median(dUp), unpublish: median(dDown), up: last.up, rules: last.rules, pairs };
    perPortS = (last.up + last.down) / 1000 / count;
  }
  return { out, base: { up: median(base.up), down: median(base.down) } };
}

let dockerd: Dockerd | undefined;
let benchRoot: string | undefined;

async function main(): Promise<void> {
  await assertPrivateNetns();
  const root = benchRoot = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsdtest-brdockerd-')));
  // Everything on tmpfs of this private mount namespace: tsd's data root (as bench/bridge.ts), dockerd's
  // data/exec roots, and /run/docker (libnetwork keeps its container netns files under /var/run/docker).
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', root]);
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', '/run/docker']);
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  try {
    console.log(`# bridge-dockerd bench: ${os.cpus().length} cpus, kernel ${os.release()}, node ${process.version}, load ${load()}`);
    // tsd first (dockerd not running yet), same method as bench/bridge.ts.
    const tsd = new Map<number, Awaited<ReturnType<typeof benchTsd>>>();
    for (const n of SIZES) tsd.set(n, await benchTsd(root, n));
    const tp = await benchPortsTsd(root);
    console.log(`  (tsd done, load ${load()})`);

    const cfg = path.join(root, 'daemon.json');
    fs.writeFileSync(cfg, '{}\n');
    const d = dockerd = await startDockerd(path.join(root, 'dockerd'), ['--iptables=true', '--userland-proxy=false', '--config-file', cfg]);
    const sock = d.socket;
    await importBusybox(d);
    const ver = await api<{ Version: string }>(sock, 'GET', '/version');
    const netId = (await api<{ Id: string }>(sock, 'POST', '/networks/create', { Name: NET, Driver: 'bridge', CheckDuplicate: true, IPAM: { Config: [{ Subnet: SUBNET }] } })).Id;
    console.log(`# dockerd ${ver.Version} (bridge driver, iptables on, --userland-proxy=false, --ip6tables=false), network ${NET} ${SUBNET}, load ${load()}`);

    const dk = new Map<number, DResult>();
    for (const n of SIZES.filter((x) => x <= DOCKERD_MAX)) {
      dk.set(n, await benchDockerd(sock, netId, n));
      console.log(`  (dockerd ${n} done, load ${load()})`);
    }
    const dp = await benchPortsDockerd(sock);

    console.log('');
    console.log('| endpoints | tsd attach p50 / p99 ms | dockerd attach p50 / p99 ms | attach p50 dockerd/tsd | tsd detach p50 / p99 ms | dockerd detach p50 / p99 ms | detach p50 dockerd/tsd | tsd total s | dockerd total s |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const n of SIZES) {
      const t = tsd.get(n)!;
      const k = dk.get(n);
      console.log(`| ${n} | ${pq(t.attach)} | ${k ? pq(k.attach) : `(not run: DOCKERD_MAX=${DOCKERD_MAX})`} | ${k ? ratio(median(k.attach), median(t.attach)) : '-'} | ${pq(t.detach)} | ${k ? pq(k.detach) : '-'} | ${k ? ratio(median(k.detach), median(t.detach)) : '-'} | ${f1(t.total / 1000)} | ${k ? f1(k.total / 1000) : '-'} |`);
    }
    console.log('');
    console.log(`| ports | tsd publish ms | dockerd publish ms (create+start − the same without ports, paired; median without ${f1(dp.base.up)} ms) | publish dockerd/tsd | tsd unpublish ms | dockerd unpublish ms (rm − rm without; ${f1(dp.base.down)} ms) | unpublish dockerd/tsd |`);
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const c of PORTS) {
      const t = tp.out[c];
      const k = dp.out[c];
      const tPub = t ? f1(t.publish) : '-';
      const tUn = t ? f1(t.unpublish) : '-';
      if (typeof k === 'object') {
        console.log(`| ${c} | ${tPub} | ${f1(k.publish)}${k.pairs > 1 ? ` (median of ${k.pairs})` : ''} | ${t ? ratio(k.publish, t.publish) : '-'} | ${tUn} | ${f1(k.unpublish)} | ${t ? ratio(k.unpublish, t.unpublish) : '-'} |`);
      } else {
        console.log(`| ${c} | ${tPub} | ${k ?? '-'} | - | ${tUn} | - | - |`);
      }
    }
    console.log(`(load at the end ${load()})`);
  } finally {
    await cleanup();
  }
}

let cleaning: Promise<void> | undefined;
/** Stop dockerd (and what it started) by PID, unmount and remove the bench's dirs. Idempotent. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (dockerd) await dockerd.stop().catch((e) => console.error(`dockerd stop: ${String(e)}`));
    removeBusyboxTar();
    if (benchRoot) await removeDockerdLeftovers(benchRoot, { processes: !!dockerd });
  })();
  return cleaning;
}

// Interrupted (Ctrl-C, timeout): dockerd and containerd would otherwise live on in the private
// namespace, keeping it alive; clean up as on failure, then exit.
cleanupOnSignals('bridge-dockerd', cleanup);

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
