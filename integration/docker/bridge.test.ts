// integration/docker/bridge.test.ts — issue 4 item 6, real Docker as the client of tsd-bridge and
// tsd-ipam: a dockerd 20.10 (own roots and socket) finds tsd's NetworkDriver and IpamDriver
// sockets in /run/docker/plugins, creates a network with them, runs two busybox containers that
// ping each other, publishes a port on 127.0.0.1 that the host reaches with nc (and one on [::1]
// through tsd's in-process listener, no docker-proxy), and after
// `docker rm -f` + `docker network rm` no link, nft element or address of it is left. Runs in the
// HOST netns (tsd's own `inet tsd` table, purged at the end; the subnet is checked free first).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUSYBOX_IMAGE, claimNftTable, claimPluginDir, deleteLinks, dockerPreconditions, freeLoopbackPort, hostLeaks, importBusybox, makeTempRoot, nftTsdElements, routesOverlapping, run, snapshotHost, startDockerd, startTsd, type Dockerd, type HostSnapshot, type TsdProc, logsOnFailure, finishSuite } from './harness.js';

const SUBNET = '10.231.7.0/24';
const GATEWAY = '10.231.7.1';
const BRIDGE = 'tsdtest-br0';
const INT_SUBNET = '10.231.10.0/24';
const INT_BRIDGE = 'tsdtest-br1';

interface IpLink { ifname: string; master?: string; operstate: string; linkinfo?: { info_kind?: string } }
interface IpAddr { ifname: string; addr_info: Array<{ family: string; local: string; prefixlen: number }> }

async function ipJson<T>(args: string[]): Promise<T> {
  const r = await run('ip', ['-j', ...args]);
  return (r.code === 0 && r.out.trim() ? JSON.parse(r.out) : []) as T;
}

/** IPv4 addresses (CIDR) on the host inside our subnet. */
async function hostAddrsInSubnet(): Promise<string[]> {
  const all = await ipJson<IpAddr[]>(['addr']);
  return all.flatMap((l) => l.addr_info.filter((a) => a.family === 'inet' && a.local.startsWith('10.231.7.')).map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`));
}

describe('docker: dockerd uses tsd-bridge + tsd-ipam over the plugin protocol', function () {
  this.timeout(180_000);
  let root: string;
  let before0: HostSnapshot | undefined;
  let releasePlugins: (() => Promise<void>) | undefined;
  let releaseNft: (() => Promise<void>) | undefined;
  let tsd: TsdProc | undefined;
  let tsdArgs: string[] = [];
  let dockerd: Dockerd | undefined;
  let hostPort = 0;
  const docker = (...args: string[]) => dockerd!.docker(args);
  const ipOf = async (c: string) => (await docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', c)).out.trim();

  before(async function () {
    await dockerPreconditions(this);
    const clash = [...await routesOverlapping(SUBNET), ...await routesOverlapping(INT_SUBNET)];
    if (clash.length) { console.log(`    (skipped: ${SUBNET} or ${INT_SUBNET} overlaps host routes: ${clash.join(', ')})`); this.skip(); }
    releasePlugins = await claimPluginDir(this);
    releaseNft = await claimNftTable(this);
    before0 = await snapshotHost();
    root = makeTempRoot('br');
    hostPort = await freeLoopbackPort();
    // [::1] for any-address ports too (off by default: docs/ports.md), as Docker's userland proxy.
    const cfg = path.join(root, 'tsd.yaml');
    fs.writeFileSync(cfg, 'drivers:\n  tsd-bridge:\n    userland-proxy-v6-loopback: true\n');
    tsdArgs = ['--config', cfg];
    tsd = await startTsd(path.join(root, 'tsd'), { firewall: 'nftables', args: tsdArgs });
    dockerd = await startDockerd(path.join(root, 'd'));
    await importBusybox(dockerd);
  });

  afterEach(function () { logsOnFailure(this, dockerd, tsd); });

  after(async () => {
    await finishSuite({ what: 'bridge', dockerd, tsd, links: () => deleteLinks([BRIDGE, INT_BRIDGE].filter((l) => fs.existsSync(`/sys/class/net/${l}`))), releases: [releaseNft, releasePlugins], before0, root });
  });

  it('docker network create -d tsd-bridge --ipam-driver tsd-ipam: the bridge, its gateway and tsd\'s nft sets', async () => {
    const c = await docker('network', 'create', '-d', 'tsd-bridge', '--ipam-driver', 'tsd-ipam', '--subnet', SUBNET, '--gateway', GATEWAY,
      '-o', `com.docker.network.bridge.name=${BRIDGE}`, 'tsdtest-net');
    assert.equal(c.code, 0, c.err);
    const n = (JSON.parse((await docker('network', 'inspect', 'tsdtest-net')).out) as Array<Record<string, any>>)[0]!;
    assert.equal(n.Driver, 'tsd-bridge');
    assert.equal(n.IPAM.Driver, 'tsd-ipam');
    assert.deepEqual(n.IPAM.Config.map((x: { Subnet: string }) => x.Subnet), [SUBNET]);
    const link = (await ipJson<IpLink[]>(['-d', 'link', 'show', BRIDGE]))[0];
    assert.equal(link?.linkinfo?.info_kind, 'bridge');
    assert.deepEqual(await hostAddrsInSubnet(), [`${BRIDGE} ${GATEWAY}/24`]);
    const els = await nftTsdElements();
    assert.ok(els.includes(`bridges: "${BRIDGE}"`), els.join('\n'));
  });

  it('two busybox containers on it get addresses from tsd-ipam and ping each other', async () => {
    for (const name of ['tsdtest-a', 'tsdtest-b']) {
      const r = await docker('run', '-d', '--name', name, '--network', 'tsdtest-net', BUSYBOX_IMAGE, 'sleep', '600');
      assert.equal(r.code, 0, r.err);
    }
    const a = await ipOf('tsdtest-a');
    const b = await ipOf('tsdtest-b');
    assert.match(a, /^10\.231\.7\.\d+$/);
    assert.match(b, /^10\.231\.7\.\d+$/);
    assert.notEqual(a, b);
    // Inside: the interface dockerd moved and renamed (Join's SrcName/DstPrefix), the gateway route.
    const addr = await docker('exec', 'tsdtest-a', 'ip', '-o', '-4', 'addr', 'show', 'eth0');
    assert.match(addr.out, new RegExp(`inet ${a.replace(/\./g, '\\.')}/24`));
    const route = await docker('exec', 'tsdtest-a', 'ip', 'route');
    assert.match(route.out, new RegExp(`default via ${GATEWAY.replace(/\./g, '\\.')} dev eth0`));
    // On the host: two veths enslaved to the bridge.
    const ports = await ipJson<IpLink[]>(['link', 'show', 'master', BRIDGE]);
    assert.equal(ports.length, 2, JSON.stringify(ports));
    const ab = await docker('exec', 'tsdtest-a', 'ping', '-c', '2', '-W', '3', b);
    assert.equal(ab.code, 0, ab.out + ab.err);
    assert.match(ab.out, /2 packets received/);
    const ba = await docker('exec', 'tsdtest-b', 'ping', '-c', '2', '-W', '3', a);
    assert.equal(ba.code, 0, ba.out + ba.err);
  });

  it('a port published on 127.0.0.1 is reachable from the host (nc), through tsd\'s pub4 map', async () => {
    const r = await docker('run', '-d', '--name', 'tsdtest-web', '--network', 'tsdtest-net', '-p', `127.0.0.1:${hostPort}:8080`, BUSYBOX_IMAGE,
      'sh', '-c', 'while true; do echo hello-from-tsdtest-web | nc -l -p 8080; done');
    assert.equal(r.code, 0, r.err);
    const ip = await ipOf('tsdtest-web');
    const els = await nftTsdElements();
    assert.ok(els.some((e) => e.startsWith('pub4: ') && e.includes(`${hostPort}`) && e.includes(ip)), els.join('\n'));
    let got = '';
    for (let i = 0; i < 50 && !got.includes('hello-from-tsdtest-web'); i++) {
      got = (await run('nc', ['-w', '3', '127.0.0.1', String(hostPort)], { input: '', timeoutMs: 10_000 })).out;
      if (!got.includes('hello-from-tsdtest-web')) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(got.trim(), 'hello-from-tsdtest-web');
  });

  it('-p PORT:8080 is reachable on [::1] (nc -6) through tsd itself, no docker-proxy; docker rm -f closes it', async () => {
    const port6 = await freeLoopbackPort();
    const r = await docker('run', '-d', '--name', 'tsdtest-web6', '--network', 'tsdtest-net', '-p', `${port6}:8080`, BUSYBOX_IMAGE,
      'sh', '-c', 'while true; do echo hello-from-tsdtest-web6 | nc -l -p 8080; done');
    assert.equal(r.code, 0, r.err);
    const owners = async () => (await run('ss', ['-Hltnp', `sport = :${port6}`])).out.split('\n').filter((l) => l.includes(`[::1]:${port6}`)).map((l) => Number(/pid=(\d+)/.exec(l)?.[1]));
    assert.deepEqual(await owners(), [tsd!.pid], 'one [::1] listener, in the tsd process');
    let got = '';
    for (let i = 0; i < 50 && !got.includes('hello-from-tsdtest-web6'); i++) {
      got = (await run('nc', ['-6', '-w', '3', '::1', String(port6)], { input: '', timeoutMs: 10_000 })).out;
      if (!got.includes('hello-from-tsdtest-web6')) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(got.trim(), 'hello-from-tsdtest-web6');
    assert.equal((await docker('rm', '-f', 'tsdtest-web6')).code, 0);
    assert.deepEqual(await owners(), [], 'closed with the container');
  });

  it('an --internal network: its bridge is in tsd\'s internal set, and its containers and tsdtest-net\'s cannot reach each other', async () => {
    const c = await docker('network', 'create', '-d', 'tsd-bridge', '--ipam-driver', 'tsd-ipam', '--internal', '--subnet', INT_SUBNET,
      '-o', `com.docker.network.bridge.name=${INT_BRIDGE}`, 'tsdtest-int');
    assert.equal(c.code, 0, c.err);
    assert.equal((await docker('network', 'inspect', '-f', '{{.Internal}}', 'tsdtest-int')).out, 'true');
    assert.ok((await nftTsdElements()).includes(`internal: "${INT_BRIDGE}"`));
    const r = await docker('run', '-d', '--name', 'tsdtest-i1', '--network', 'tsdtest-int', BUSYBOX_IMAGE, 'sleep', '600');
    assert.equal(r.code, 0, r.err);
    const i1 = await ipOf('tsdtest-i1');
    assert.match(i1, /^10\.231\.10\.\d+$/);
    // tsdtest-a routes via its gateway (the host), which must not forward into the internal bridge.
    const across = await docker('exec', 'tsdtest-a', 'ping', '-c', '1', '-W', '2', i1);
    assert.notEqual(across.code, 0, `ping ${i1} from tsdtest-net got through: ${across.out}`);
    const back = await docker('exec', 'tsdtest-i1', 'ping', '-c', '1', '-W', '2', await ipOf('tsdtest-a'));
    assert.notEqual(back.code, 0, `ping from the internal network got out: ${back.out}`);
    assert.equal((await docker('rm', '-f', 'tsdtest-i1')).code, 0);
    assert.equal((await docker('network', 'rm', 'tsdtest-int')).code, 0);
    assert.equal(fs.existsSync(`/sys/class/net/${INT_BRIDGE}`), false);
    assert.ok(!(await nftTsdElements()).some((e) => e.includes(INT_BRIDGE) || e.includes('10.231.10.')), 'nothing of the internal network in nft');
  });

  it('tsd killed (-9) and restarted under running containers: pings and the published port still work, teardown reaches the new tsd', async () => {
    const dir = tsd!.dir;
    await tsd!.kill('SIGKILL');
    tsd = await startTsd(dir, { firewall: 'nftables', args: tsdArgs });
    assert.match(tsd.log(), /"msg":"bridge driver restored".*"networks":1,"endpoints":3/);
    const b = await ipOf('tsdtest-b');
    const ab = await docker('exec', 'tsdtest-a', 'ping', '-c', '1', '-W', '3', b);
    assert.equal(ab.code, 0, ab.out + ab.err);
    const got = (await run('nc', ['-w', '3', '127.0.0.1', String(hostPort)], { input: '', timeoutMs: 10_000 })).out;
    assert.equal(got.trim(), 'hello-from-tsdtest-web');
    assert.equal((await ipJson<IpLink[]>(['link', 'show', 'master', BRIDGE])).length, 3);
  });

  it('docker rm -f + docker network rm: no link, nft element or address of it is left', async () => {
    const rm = await docker('rm', '-f', 'tsdtest-a', 'tsdtest-b', 'tsdtest-web');
    assert.equal(rm.code, 0, rm.err);
    assert.deepEqual(await ipJson<IpLink[]>(['link', 'show', 'master', BRIDGE]), [], 'the veths are gone');
    assert.ok(!(await nftTsdElements()).some((e) => e.startsWith('pub4')), 'the published port is gone');
    const nrm = await docker('network', 'rm', 'tsdtest-net');
    assert.equal(nrm.code, 0, nrm.err);
    assert.equal(fs.existsSync(`/sys/class/net/${BRIDGE}`), false, 'the bridge is gone');
    assert.deepEqual(await nftTsdElements(), [], 'tsd\'s nft table holds nothing of the network');
    assert.deepEqual(await hostAddrsInSubnet(), []);
    const leaks = hostLeaks(before0!, await snapshotHost(), [root]).filter((l) => !/^nft table inet tsd$|^mount /.test(l) && !l.startsWith('plugin socket'));
    assert.deepEqual(leaks, [], 'no link or address left behind while tsd and dockerd still run');
  });
});
