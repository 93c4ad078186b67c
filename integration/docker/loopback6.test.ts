// integration/docker/loopback6.test.ts — real Docker as the client: a dockerd 20.10 (own roots and
// socket) runs a busybox container on a tsd-bridge network with `-p PORT:8080`; the host reaches
// it through `[::1]:PORT` (nc -6), served by the tsd process itself, where Docker would start a
// docker-proxy process; `docker rm -f` closes the listener. Runs in the HOST netns (traffic only
// to ::1; tsd's own `inet tsd` table, claimed and purged by the harness).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  BUSYBOX_IMAGE, claimNftTable, claimPluginDir, deleteLinks, dockerPreconditions, finishSuite, freeLoopbackPort, importBusybox, logsOnFailure,
  makeTempRoot, routesOverlapping, run, snapshotHost, startDockerd, startTsd, type Dockerd, type HostSnapshot, type TsdProc,
} from './harness.js';

const SUBNET = '10.231.11.0/24';
const BRIDGE = 'tsdtest-br6';

/** Owners (pid) of [::1]:port tcp listeners, per ss. */
async function loopback6Owners(port: number): Promise<number[]> {
  const r = await run('ss', ['-Hltnp', `sport = :${port}`]);
  return r.out.split('\n').filter((l) => l.includes(`[::1]:${port}`)).map((l) => Number(/pid=(\d+)/.exec(l)?.[1]));
}

describe('docker: -p PORT:8080 on tsd-bridge is reachable on [::1] without docker-proxy', function () {
  this.timeout(180_000);
  let root: string;
  let before0: HostSnapshot | undefined;
  let releasePlugins: (() => Promise<void>) | undefined;
  let releaseNft: (() => Promise<void>) | undefined;
  let tsd: TsdProc | undefined;
  let dockerd: Dockerd | undefined;
  let hostPort = 0;
  const docker = (...args: string[]) => dockerd!.docker(args);

  before(async function () {
    await dockerPreconditions(this);
    const clash = await routesOverlapping(SUBNET);
    if (clash.length) { console.log(`    (skipped: ${SUBNET} overlaps host routes: ${clash.join(', ')})`); this.skip(); }
    releasePlugins = await claimPluginDir(this);
    releaseNft = await claimNftTable(this);
    before0 = await snapshotHost();
    root = makeTempRoot('l6');
    hostPort = await freeLoopbackPort();
    tsd = await startTsd(path.join(root, 'tsd'), { firewall: 'nftables' });
    dockerd = await startDockerd(path.join(root, 'd'));
    await importBusybox(dockerd);
  });

  afterEach(function () { logsOnFailure(this, dockerd, tsd); });

  after(async () => {
    await finishSuite({ what: 'loopback6', dockerd, tsd, links: () => deleteLinks([BRIDGE].filter((l) => fs.existsSync(`/sys/class/net/${l}`))), releases: [releaseNft, releasePlugins], before0, root });
  });

  it('nc -6 ::1 PORT reaches the container; the listener is tsd; docker rm -f closes it', async () => {
    const c = await docker('network', 'create', '-d', 'tsd-bridge', '--ipam-driver', 'tsd-ipam', '--subnet', SUBNET, '-o', `com.docker.network.bridge.name=${BRIDGE}`, 'tsdtest-net6');
    assert.equal(c.code, 0, c.err);
    const r = await docker('run', '-d', '--name', 'tsdtest-web6', '--network', 'tsdtest-net6', '-p', `${hostPort}:8080`, BUSYBOX_IMAGE,
      'sh', '-c', 'while true; do echo hello-from-tsdtest-web6 | nc -l -p 8080; done');
    assert.equal(r.code, 0, r.err);
    const owners = await loopback6Owners(hostPort);
    assert.deepEqual(owners, [tsd!.pid], 'one [::1] listener, in the tsd process (no docker-proxy)');
    let got = '';
    for (let i = 0; i < 50 && !got.includes('hello-from-tsdtest-web6'); i++) {
      got = (await run('nc', ['-6', '-w', '3', '::1', String(hostPort)], { input: '', timeoutMs: 10_000 })).out;
      if (!got.includes('hello-from-tsdtest-web6')) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(got.trim(), 'hello-from-tsdtest-web6');
    const rm = await docker('rm', '-f', 'tsdtest-web6');
    assert.equal(rm.code, 0, rm.err);
    assert.deepEqual(await loopback6Owners(hostPort), [], 'closed with the container');
    assert.equal((await docker('network', 'rm', 'tsdtest-net6')).code, 0);
  });
});
