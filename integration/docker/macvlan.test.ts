// integration/docker/macvlan.test.ts — issue 8, tsd-macvlan served as a remote NetworkDriver: a
// dockerd 20.10 (own roots and socket) creates a tsd-macvlan network (tsd-ipam addressing) over a
// veth parent made by the test in the HOST netns (tsdtest-mvp0, its peer tsdtest-mvp1; both up,
// deleted in after()), runs two busybox containers on it that ping each other, and after removal
// no macvlan link, address or nft state of it is left.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUSYBOX_IMAGE, claimNftTable, claimPluginDir, deleteLinks, dockerPreconditions, hostLeaks, importBusybox, makeTempRoot, must, routesOverlapping, run, snapshotHost, startDockerd, startTsd, type Dockerd, type HostSnapshot, type TsdProc, logsOnFailure, finishSuite } from './harness.js';

const SUBNET = '10.231.8.0/24';
const PARENT = 'tsdtest-mvp0';
const PEER = 'tsdtest-mvp1';

interface IpLink { ifname: string; link?: string; linkinfo?: { info_kind?: string; info_data?: { mode?: string } } }

async function macvlansOn(parent: string): Promise<IpLink[]> {
  const all = JSON.parse(await must('ip', ['-j', '-d', 'link'])) as IpLink[];
  return all.filter((l) => l.linkinfo?.info_kind === 'macvlan' && l.link === parent);
}

describe('docker: dockerd uses tsd-macvlan over the plugin protocol', function () {
  this.timeout(180_000);
  let root: string;
  let before0: HostSnapshot | undefined;
  let releasePlugins: (() => Promise<void>) | undefined;
  let releaseNft: (() => Promise<void>) | undefined;
  let tsd: TsdProc | undefined;
  let dockerd: Dockerd | undefined;
  let madeParent = false;
  const docker = (...args: string[]) => dockerd!.docker(args);
  const ipOf = async (c: string) => (await docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', c)).out.trim();

  before(async function () {
    await dockerPreconditions(this);
    const clash = await routesOverlapping(SUBNET);
    if (clash.length) { console.log(`    (skipped: ${SUBNET} overlaps host routes: ${clash.join(', ')})`); this.skip(); }
    if (fs.existsSync(`/sys/class/net/${PARENT}`) || fs.existsSync(`/sys/class/net/${PEER}`)) {
      console.log(`    (skipped: ${PARENT} or ${PEER} already exists on the host; not touching it)`);
      this.skip();
    }
    releasePlugins = await claimPluginDir(this);
    releaseNft = await claimNftTable(this);
    before0 = await snapshotHost();
    root = makeTempRoot('mv');
    await must('ip', ['link', 'add', PARENT, 'type', 'veth', 'peer', 'name', PEER]);
    madeParent = true;
    await must('ip', ['link', 'set', PARENT, 'up']);
    await must('ip', ['link', 'set', PEER, 'up']);
    tsd = await startTsd(path.join(root, 'tsd'), { firewall: 'nftables' });
    dockerd = await startDockerd(path.join(root, 'd'));
    await importBusybox(dockerd);
  });

  afterEach(function () { logsOnFailure(this, dockerd, tsd); });

  after(async () => {
    // Macvlans left on our parent go with it; the veth pair goes as one.
    await finishSuite({ what: 'macvlan', dockerd, tsd, links: async () => { if (madeParent) await deleteLinks([PARENT, PEER].filter((l) => fs.existsSync(`/sys/class/net/${l}`))); }, releases: [releaseNft, releasePlugins], before0, root });
  });

  it('docker network create -d tsd-macvlan -o parent=<veth>: two busybox containers ping each other', async () => {
    const c = await docker('network', 'create', '-d', 'tsd-macvlan', '--ipam-driver', 'tsd-ipam', '--subnet', SUBNET, '-o', `parent=${PARENT}`, 'tsdtest-mv');
    assert.equal(c.code, 0, c.err);
    const n = (JSON.parse((await docker('network', 'inspect', 'tsdtest-mv')).out) as Array<Record<string, any>>)[0]!;
    assert.equal(n.Driver, 'tsd-macvlan');
    assert.deepEqual(n.Options, { parent: PARENT });

    for (const name of ['tsdtest-mva', 'tsdtest-mvb']) {
      const r = await docker('run', '-d', '--name', name, '--network', 'tsdtest-mv', BUSYBOX_IMAGE, 'sleep', '600');
      assert.equal(r.code, 0, r.err);
    }
    const a = await ipOf('tsdtest-mva');
    const b = await ipOf('tsdtest-mvb');
    assert.match(a, /^10\.231\.8\.\d+$/);
    assert.match(b, /^10\.231\.8\.\d+$/);
    // Inside (seen from the host with nsenter): eth0 is a macvlan in bridge mode — dockerd moved
    // tsd's link in and renamed it (Join's SrcName/DstPrefix).
    const pid = (await docker('inspect', '-f', '{{.State.Pid}}', 'tsdtest-mva')).out.trim();
    const inside = JSON.parse(await must('nsenter', ['-t', pid, '-n', 'ip', '-j', '-d', 'link', 'show', 'eth0'])) as IpLink[];
    assert.equal(inside[0]?.linkinfo?.info_kind, 'macvlan');
    assert.equal(inside[0]?.linkinfo?.info_data?.mode, 'bridge');
    // The host keeps no macvlan of the containers: both were moved into their namespaces.
    assert.deepEqual((await macvlansOn(PARENT)).map((l) => l.ifname), []);

    const ab = await docker('exec', 'tsdtest-mva', 'ping', '-c', '2', '-W', '3', b);
    assert.equal(ab.code, 0, ab.out + ab.err);
    assert.match(ab.out, /2 packets received/);
    const ba = await docker('exec', 'tsdtest-mvb', 'ping', '-c', '2', '-W', '3', a);
    assert.equal(ba.code, 0, ba.out + ba.err);
    // By name too: dockerd's embedded DNS answers for a remote driver's network.
    const byName = await docker('exec', 'tsdtest-mva', 'ping', '-c', '1', '-W', '3', 'tsdtest-mvb');
    assert.equal(byName.code, 0, byName.out + byName.err);
    assert.match(byName.out, new RegExp(`PING tsdtest-mvb \\(${b.replace(/\./g, '\\.')}\\)`));
  });

  it('docker rm -f + docker network rm: no macvlan, address or tsd state of it is left; the parent is untouched', async () => {
    const rm = await docker('rm', '-f', 'tsdtest-mva', 'tsdtest-mvb');
    assert.equal(rm.code, 0, rm.err);
    const nrm = await docker('network', 'rm', 'tsdtest-mv');
    assert.equal(nrm.code, 0, nrm.err);
    // dockerd calls Leave while the link is still in the container and only then moves it back to
    // the host under its SrcName (osl Interface.Remove): DeleteEndpoint must delete it there.
    const stray = (await macvlansOn(PARENT)).map((l) => l.ifname);
    assert.deepEqual(stray, []);
    const parent = JSON.parse(await must('ip', ['-j', 'link', 'show', PARENT])) as Array<{ flags: string[] }>;
    assert.ok(parent[0]!.flags.includes('UP'), 'the parent is still up');
    const addrs = (await run('ip', ['-j', 'addr'])).out;
    assert.doesNotMatch(addrs, /"10\.231\.8\./);
    const leaks = hostLeaks(before0!, await snapshotHost(), [root])
      .filter((l) => !/^nft table inet tsd$|^mount /.test(l) && !l.startsWith('plugin socket') && !l.startsWith(`link ${PARENT}`) && !l.startsWith(`link ${PEER}`));
    assert.deepEqual(leaks, [], 'only the test\'s own veth parent remains');
  });
});
