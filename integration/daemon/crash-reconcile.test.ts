// integration/daemon/crash-reconcile.test.ts — peers.md #34, end to end: a real tsd child on
// nftables runs connects/disconnects (static IPs, published ports), network create + rm -f,
// sandbox create + rm, and sandbox create --rootfs --volume + rm through its API, four workers
// at once, and is killed with SIGKILL at a random instant, ROUNDS times (every third restart is
// itself killed, aimed at its reconcile). After every restart, independent tools must agree with
// tsd's records: `ip -j link` on the host and in every sandbox netns (no veth or bridge nobody's
// record claims, no half-made interface), `nft -j list table inet tsd` (port elements ==
// published ports of the records, bridges set == networks), the pinned netns files == sandbox
// records, mounts under tsd's dirs, read-write layers and volume references == the rootfs
// sandboxes, the IPAM's leases == endpoint addresses + gateways, no intent left; and the same
// static IP connects again.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createDefaultIpamDriver } from '../../drivers/ipam/default/index.js';
import { LmdbStore } from '../../core/store/lmdb.js';
import { scopeStore } from '../../core/store/scoped.js';
import { call, killDuringStart, mountsUnder, must, tsdChild, type TsdChild } from './tsd-child.js';

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 24);
const BASE_SUBNET = '10.232.0';
const SANDBOXES = ['cr0', 'cr1', 'cr2'];
const TMP_SLOTS = 3;

interface ApiNet {
  Id: string; Name: string; Options: Record<string, string>;
  IPAM: { Config: Array<{ Subnet?: string; Gateway?: string }> };
  Containers: Record<string, { Name: string; EndpointID: string; IPv4Address: string }>;
}
interface ApiSandbox { Id: string; Name: string; NetnsPath: string }

function ipJson<T>(args: string[], netns?: string): T {
  const argv = netns ? ['nsenter', `--net=${netns}`, 'ip', '-j', ...args] : ['ip', '-j', ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as T;
}

interface IpLink { ifname: string; operstate: string; linkinfo?: { info_kind?: string } }
interface IpAddr { ifname: string; addr_info: Array<{ family: string; local: string }> }

/** Port elements of tsd's maps as "hostport->container:port", and the bridges set. */
function nftState(): { ports: string[]; bridges: string[] } {
  const r = spawnSync('nft', ['-j', 'list', 'table', 'inet', 'tsd'], { encoding: 'utf8' });
  if (r.status !== 0) return { ports: [], bridges: [] };
  const ports: string[] = [];
  let bridges: string[] = [];
  type Elem = unknown;
  for (const o of (JSON.parse(r.stdout) as { nftables: Array<Record<string, { name: string; elem?: Elem[] }>> }).nftables) {
    const s = o.map ?? o.set;
    if (!s) continue;
    if (s.name === 'bridges') bridges = (s.elem ?? []).map((e) => String(e)).sort();
    if (/^pub[46]/.test(s.name)) {
      for (const e of s.elem ?? []) {
        const [k, v] = e as [{ concat: unknown[] }, { concat: unknown[] }];
        ports.push(`${String(k.concat.at(-1))}->${String(v.concat[0])}:${String(v.concat[1])}`);
      }
    }
  }
  return { ports: ports.sort(), bridges };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 at random instants during connect/disconnect/network create+rm/sandbox create+rm (peers.md #34)', function () {
  this.timeout(600_000);
  let t: TsdChild;
  let layer = '';
  const sock = () => t.sock;
  // Left by earlier files of the same integration run (one namespace): not ours to judge.
  let before0 = { links: new Set<string>(), ports: new Set<string>(), bridges: new Set<string>() };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    const fw0 = nftState();
    before0 = { links: new Set(ipJson<IpLink[]>(['link', 'show']).map((l) => l.ifname)), ports: new Set(fw0.ports), bridges: new Set(fw0.bridges) };
    t = tsdChild('tsdit-crash-', ['--firewall-backend', 'nftables', '--no-dns']);
    await t.start();
    await must(sock(), 'POST', '/networks/create', { Name: 'base', IPAM: { Config: [{ Subnet: `${BASE_SUBNET}.0/24` }] }, Options: { 'com.docker.network.bridge.name': 'tsdcr0' } });
    for (const n of SANDBOXES) await must(sock(), 'POST', '/sandboxes/create', { Name: n });
    // A root filesystem layer and a volume for the sandboxes of the rootfs worker.
    const rootfs = path.join(t.dir, 'rootfs');
    fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'etc/os-release'), 'NAME=tsdtest-crash\n');
    const tar = path.join(t.dir, 'rootfs.tar');
    assert.equal(spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']).status, 0);
    const imp = t.tsctl('layer', 'import', tar);
    assert.equal(imp.code, 0, imp.err);
    layer = imp.out.trim();
    assert.equal(t.tsctl('volume', 'create', 'crvol').code, 0);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`--- tsd log (tail) ---\n${t.log().slice(-6000)}`);
  });

  after(async () => {
    if (!t) return;
    await t.destroy();
    for (const l of ipJson<IpLink[]>(['link', 'show'])) {
      if (!before0.links.has(l.ifname) && (l.ifname.startsWith('tsdcr') || l.ifname.startsWith('veth'))) spawnSync('ip', ['link', 'del', l.ifname]);
    }
    spawnSync('nft', ['delete', 'table', 'inet', 'tsd']);
  });

  /** Three workers drive the API until `stop` is set; every error (the kill) is ignored. */
  function workload(stop: { now: boolean }, round: number): Promise<unknown> {
    const ignore = (p: Promise<unknown>) => p.catch(() => undefined);
    const base = async () => {
      for (let k = 0; !stop.now; k++) {
        const i = k % SANDBOXES.length;
        const sb = SANDBOXES[i]!;
        const r = await call(sock(), 'POST', '/networks/base/connect', {
          Container: sb, EndpointConfig: { IPAMConfig: { IPv4Address: `${BASE_SUBNET}.${10 + i}` } }, PortBindings: { '80/tcp': [{ HostPort: String(19000 + i) }] },
        }).catch(() => undefined);
        if (r?.status === 403) await call(sock(), 'POST', '/networks/base/disconnect', { Container: sb }).catch(() => undefined);
      }
    };
    const tmpNets = async () => {
      for (let k = 0; !stop.now; k++) {
        const slot = (round + k) % TMP_SLOTS;
        const name = `tmp${slot}`;
        await ignore(call(sock(), 'DELETE', `/networks/${name}?force=true`));
        await ignore(call(sock(), 'POST', '/networks/create', {
          Name: name, IPAM: { Config: [{ Subnet: `10.233.${slot}.0/24` }] }, Options: { 'com.docker.network.bridge.name': `tsdcrt${slot}` },
        }));
        await ignore(call(sock(), 'POST', `/networks/${name}/connect`, { Container: SANDBOXES[slot % SANDBOXES.length], EndpointConfig: { IPAMConfig: { IPv4Address: `10.233.${slot}.5` } } }));
        await ignore(call(sock(), 'DELETE', `/networks/${name}?force=true`));
      }
    };
    const sandboxes = async () => {
      for (let k = 0; !stop.now; k++) {
        const name = `x${k % 2}`;
        await ignore(call(sock(), 'POST', '/sandboxes/create', { Name: name }));
        await ignore(call(sock(), 'POST', '/networks/base/connect', { Container: name, PortBindings: { '81/tcp': [{ HostPort: String(19100 + (k % 2)) }] } }));
        await ignore(call(sock(), 'DELETE', `/sandboxes/${name}`));
      }
    };
    const rootfsSandboxes = async () => {
      for (let k = 0; !stop.now; k++) {
        const name = `r${k % 2}`;
        await ignore(call(sock(), 'POST', '/sandboxes/create', { Name: name, RootFs: layer, Volumes: ['crvol:/data'] }));
        await ignore(call(sock(), 'DELETE', `/sandboxes/${name}`));
      }
    };
    return Promise.all([base(), tmpNets(), sandboxes(), rootfsSandboxes()]);
  }

  /** Everything the kernel and the IPAM hold matches tsd's records. Polls briefly (veths are reaped in batches). */
  async function checkConsistent(label: string): Promise<{ endpoints: number }> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 30; attempt++) {
      try {
        return await checkOnce(label);
      } catch (e) {
        lastErr = e;
        await sleep(100);
      }
    }
    throw lastErr;
  }

  async function checkOnce(label: string): Promise<{ endpoints: number }> {
    const nets = await must<ApiNet[]>(sock(), 'GET', '/networks');
    const sbs = await must<ApiSandbox[]>(sock(), 'GET', '/sandboxes');
    const sbById = new Map(sbs.map((s) => [s.Id, s]));
    const eps = nets.flatMap((n) => Object.entries(n.Containers).map(([sbId, c]) => ({ net: n, sbId, ...c })));

    // No half-made endpoint: every one has an id, an address in its subnet, and a live sandbox.
    for (const e of eps) {
      assert.match(e.EndpointID, /^[0-9a-f]{64}$/, `${label}: endpoint of ${e.Name} on ${e.net.Name}`);
      assert.ok(e.IPv4Address.startsWith(e.net.IPAM.Config[0]!.Subnet!.split('.').slice(0, 3).join('.') + '.'), `${label}: ${e.Name} on ${e.net.Name} has ${e.IPv4Address}`);
      assert.ok(sbById.has(e.sbId), `${label}: endpoint ${e.Name} on ${e.net.Name} has no sandbox`);
    }

    // Host links: bridges == networks, veths == endpoints (host end veth<11 hex of the id>).
    const links = ipJson<IpLink[]>(['-d', 'link', 'show']).filter((l) => !before0.links.has(l.ifname));
    const bridges = links.filter((l) => l.linkinfo?.info_kind === 'bridge').map((l) => l.ifname).sort();
    assert.deepEqual(bridges, nets.map((n) => n.Options['com.docker.network.bridge.name']!).sort(), `${label}: bridges`);
    const veths = links.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => l.ifname).sort();
    assert.deepEqual(veths, eps.map((e) => `veth${e.EndpointID.slice(0, 11)}`).sort(), `${label}: host veths`);

    // Inside every sandbox: exactly its endpoints' interfaces, each holding its address.
    for (const sb of sbs) {
      const mine = eps.filter((e) => e.sbId === sb.Id).map((e) => e.IPv4Address.split('/')[0]!).sort();
      const addrs = ipJson<IpAddr[]>(['addr', 'show'], sb.NetnsPath).filter((a) => a.ifname !== 'lo');
      const held = addrs.flatMap((a) => a.addr_info.filter((i) => i.family === 'inet').map((i) => i.local)).sort();
      assert.deepEqual(held, mine, `${label}: addresses in sandbox ${sb.Name}`);
      assert.equal(addrs.length, mine.length, `${label}: interfaces in sandbox ${sb.Name}: ${addrs.map((a) => a.ifname).join(',')}`);
    }

    // Pinned namespaces == sandbox records.
    const netnsDir = path.join(t.dir, 'run', 'netns');
    const pinned = fs.existsSync(netnsDir) ? fs.readdirSync(netnsDir).map((f) => path.join(netnsDir, f)).sort() : [];
    assert.deepEqual(pinned, sbs.map((s) => s.NetnsPath).sort(), `${label}: pinned netns`);

    // nftables: port elements == the records' published ports; bridges set == networks.
    const fw0 = nftState();
    const fw = { ports: fw0.ports.filter((x) => !before0.ports.has(x)), bridges: fw0.bridges.filter((x) => !before0.bridges.has(x)) };
    const wantPorts = eps.filter((e) => e.net.Name === 'base').map((e) => {
      const ip = e.IPv4Address.split('/')[0]!;
      const fixed = SANDBOXES.indexOf(e.Name);
      return fixed >= 0 ? `${19000 + fixed}->${ip}:80` : `${19100 + Number(e.Name.slice(1))}->${ip}:81`;
    }).sort();
    assert.deepEqual(fw.ports, wantPorts, `${label}: nft port elements`);
    assert.deepEqual(fw.bridges, bridges, `${label}: nft bridges set`);

    // Root filesystems: mounts under tsd's dirs == an overlay root and a volume bind per rootfs
    // sandbox; the volume's references == those sandboxes.
    const withRoot = sbs.filter((s) => /^r\d$/.test(s.Name));
    const fsMounts = mountsUnder(t.dir).filter((m) => !m.includes('/run/netns/'));
    assert.equal(fsMounts.length, 2 * withRoot.length, `${label}: mounts ${fsMounts.join(', ')} for rootfs sandboxes ${withRoot.map((s) => s.Name).join(',')}`);
    const vol = await must<{ UsageData: { RefCount: number } }>(sock(), 'GET', '/volumes/crvol');
    assert.equal(vol.UsageData.RefCount, withRoot.length, `${label}: crvol references`);

    // IPAM leases == endpoint addresses + gateways; no intent left (read from the store itself:
    // LMDB serves readers in other processes).
    const store = LmdbStore.open(path.join(t.dataRoot, 'store'));
    try {
      const ipam = createDefaultIpamDriver({ store: scopeStore(store, 'drivers/tsd-ipam/'), config: {} });
      const pools = await ipam.listPools();
      assert.deepEqual(pools.map((p) => p.subnet).sort(), nets.map((n) => n.IPAM.Config[0]!.Subnet!).sort(), `${label}: IPAM pools`);
      assert.ok(pools.every((p) => p.refs === 1), `${label}: pool refs ${JSON.stringify(pools)}`);
      const leases = (await Promise.all(pools.map((p) => ipam.listAddresses(p.poolId)))).flat().sort();
      const want = [...nets.map((n) => n.IPAM.Config[0]!.Gateway!), ...eps.map((e) => e.IPv4Address.split('/')[0]!)].sort();
      assert.deepEqual(leases, want, `${label}: IPAM leases`);
      assert.deepEqual((await store.list('tsd/intents/')).map((e) => e.key), [], `${label}: intents left`);
      const rw = (await store.list<{ id: string; owner: string }>('tsd/layers-rw/')).map((e) => e.value);
      assert.deepEqual(rw.map((r) => r.owner).sort(), withRoot.map((s) => s.Id).sort(), `${label}: read-write layers and their sandboxes`);
      const dirs = fs.readdirSync(path.join(t.dataRoot, 'drivers', 'tsd-overlay2')).filter((e) => e !== 'l' && e !== layer).sort();
      assert.deepEqual(dirs, rw.map((r) => r.id).sort(), `${label}: overlay2 read-write layer dirs`);
    } finally {
      await store.close();
    }
    return { endpoints: eps.length };
  }

  it(`nothing leaks across ${ROUNDS} SIGKILLs at random instants; the same static IP connects again`, async () => {
    await checkConsistent('start');
    const report: string[] = [];
    const startKills: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const stop = { now: false };
      const work = workload(stop, round);
      const ms = 40 + Math.floor(Math.random() * 700);
      await sleep(ms);
      await t.stop('SIGKILL');
      stop.now = true;
      await work;
      if (round % 3 === 2) {
        // Also killed while starting (inside its reconcile, when the instant is right): the next
        // start must finish what this one began.
        startKills.push(await killDuringStart(t, 2000, 300));
      }
      await t.start();
      const { endpoints } = await checkConsistent(`round ${round} (killed after ${ms} ms)`);
      const rec = /"msg":"reconciled".*$/m.exec(t.log().split('\n').filter((l) => l.includes('"msg":"reconciled"')).at(-1) ?? '')?.[0] ?? '';
      const recovered = /"intentsRecovered":(\d+)/.exec(rec)?.[1] ?? '?';
      report.push(`${ms}ms:${endpoints}ep/${recovered}i`);
    }
    console.log(`      rounds (kill instant: endpoints after restart / intents recovered): ${report.join(' ')}`);
    console.log(`      starts killed (before / inside / after their reconcile): ${startKills.join(' ')}`);
    const recoveredTotal = report.reduce((a, r) => a + Number(/\/(\d+)i/.exec(r)?.[1] ?? 0), 0);
    assert.ok(recoveredTotal > 0, 'at least one kill landed inside an operation (else the test proved nothing)');

    // The same static IP connects again, and its port is published exactly once.
    await call(sock(), 'POST', '/networks/base/disconnect', { Container: 'cr0' });
    await must(sock(), 'POST', '/networks/base/connect', { Container: 'cr0', EndpointConfig: { IPAMConfig: { IPv4Address: `${BASE_SUBNET}.10` } }, PortBindings: { '80/tcp': [{ HostPort: '19000' }] } });
    const base = await must<ApiNet>(sock(), 'GET', '/networks/base');
    assert.equal(Object.values(base.Containers).find((c) => c.Name === 'cr0')?.IPv4Address, `${BASE_SUBNET}.10/24`);
    await checkConsistent('final');
  });
});
