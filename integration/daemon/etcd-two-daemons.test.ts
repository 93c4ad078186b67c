// integration/daemon/etcd-two-daemons.test.ts — two tsd daemons on one etcd key prefix (the
// coming overlay driver's setup): each recovers only its own intents and sandboxes. A real etcd
// on loopback; a network driver served by this test over Docker's plugin protocol (scope global)
// whose Join the test can hold, so a daemon is caught in the middle of a connect for certain.
// Daemon B runs in a private mount namespace (`unshare --mount`): the pins of its sandboxes are
// invisible to A, as on another host.
//
// A and B each connect a sandbox and are held in Join; A is killed with SIGKILL and restarted.
// A's restart rolls back A's connect (the plugin gets A's DeleteEndpoint, etcd keeps no intent of
// A's, A's address is free again) and leaves B alone: B's intent stays in etcd, B's endpoint gets
// no DeleteEndpoint, B's finished sandbox (whose netns A cannot see) stays, B's reserved address
// is not given back. Released, B's connect finishes with its address.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { CreateEndpointRequest, JoinRequest, JoinResponse, NetworkDriver } from '../../core/driver/network-driver.js';
import { openStore } from '../../core/store/open.js';
import { scopeStore } from '../../core/store/scoped.js';
import type { Store } from '../../core/store/store.js';
import type { Intent } from '../../core/model/intent.js';
import { createDefaultIpamDriver } from '../../drivers/ipam/default/index.js';
import { servePlugin, type ServedPlugin } from '../../plugins/server/index.js';
import { startEtcd, type EtcdServer } from '../store/etcd-server.js';
import { tsdChild, type TsdChild, call, must } from './tsd-child.js';

const SUBNET = '10.235.1';
const DRIVER = 'tsdit-xd';

const link = (ep: string) => `xd${ep.slice(0, 10)}`;
function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
}

/** A network driver whose endpoints are veth pairs (one end moved into the sandbox) (moved into the sandbox) and whose Join waits while held. */
function holdingDriver() {
  const calls: string[] = [];
  const joined = new Map<string, () => void>();
  let hold: Promise<void> | undefined;
  const waiters: Array<() => void> = [];
  const driver: NetworkDriver = {
    name: DRIVER,
    async getCapabilities() { return { scope: 'global', connectivityScope: 'global' }; },
    async createNetwork() { calls.push('CreateNetwork'); },
    async deleteNetwork() { calls.push('DeleteNetwork'); },
    async createEndpoint(req: CreateEndpointRequest) {
      calls.push(`CreateEndpoint ${req.endpointId}`);
      ip('link', 'add', link(req.endpointId), 'type', 'veth', 'peer', 'name', `${link(req.endpointId)}p`);
      return undefined;
    },
    async deleteEndpoint(_n: string, ep: string) {
      calls.push(`DeleteEndpoint ${ep}`);
      spawnSync('ip', ['link', 'del', `${link(ep)}p`]); // takes its peer along; gone already after a detach
    },
    async join(req: JoinRequest): Promise<JoinResponse> {
      calls.push(`Join ${req.endpointId}`);
      joined.set(req.endpointId, () => undefined);
      for (const w of waiters.splice(0)) w();
      await hold;
      return { interfaceName: { srcName: link(req.endpointId), dstPrefix: 'eth' }, disableGatewayService: true };
    },
    async leave(_n: string, ep: string) { calls.push(`Leave ${ep}`); },
  };
  return {
    driver, calls,
    holdJoins(): () => void {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      return () => { hold = undefined; release(); };
    },
    /** Resolves with the endpoint id of the next Join to arrive. */
    nextJoin(): Promise<string> {
      const before = new Set(joined.keys());
      return new Promise((resolve) => {
        const check = () => {
          const fresh = [...joined.keys()].find((k) => !before.has(k));
          if (fresh) resolve(fresh); else waiters.push(check);
        };
        waiters.push(check);
      });
    },
  };
}

describe('two tsd daemons on one etcd prefix: each recovers only its own', function () {
  this.timeout(120_000);
  let etcd: EtcdServer | undefined;
  let plugin: ServedPlugin | undefined;
  let a: TsdChild | undefined;
  let b: TsdChild | undefined;
  let store: Store | undefined;
  const pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdit-xd-plugins-'));
  const prefix = `/tsdit-${randomBytes(6).toString('hex')}/`;
  const d = holdingDriver();

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    etcd = await startEtcd();
    plugin = await servePlugin(DRIVER, { NetworkDriver: d.driver }, { socketDir: pluginDir });
    const flags = ['--store', 'etcd', '--etcd-endpoints', etcd.endpoint, '--etcd-prefix', prefix, '--plugin-dir', pluginDir,
      '--no-dns', '--sweep-interval', '0', '--firewall-backend', 'none'];
    a = tsdChild('tsdit-etcdA-', flags);
    b = tsdChild('tsdit-etcdB-', flags, { wrap: ['unshare', '--mount', '--propagation', 'private'] });
    await a.start();
    await b.start();
    store = await openStore({ kind: 'etcd', endpoints: [etcd.endpoint], prefix, dialTimeoutMs: 3000 });
  });

  after(async () => {
    await store?.close();
    await a?.destroy();
    await b?.destroy();
    await plugin?.close();
    await etcd?.stop();
    fs.rmSync(pluginDir, { recursive: true, force: true });
  });

  const intents = async () => (await store!.list<Intent>('tsd/intents/')).map((e) => e.value);
  const daemonId = (t: TsdChild) => fs.readFileSync(path.join(t.dataRoot, 'daemon-id'), 'utf8').trim();
  async function leases(): Promise<string[]> {
    const ipam = createDefaultIpamDriver({ store: scopeStore(store!, 'drivers/tsd-ipam/'), config: {} });
    return (await Promise.all((await ipam.listPools()).map((p) => ipam.listAddresses(p.poolId)))).flat().sort();
  }

  it("A killed mid-connect and restarted rolls back its own connect; B's connect in flight, its sandbox and addresses are untouched", async () => {
    const [idA, idB] = [daemonId(a!), daemonId(b!)];
    assert.notEqual(idA, idB);
    await must(a!.sock, 'POST', '/networks/create', { Name: 'xd', Driver: DRIVER, IPAM: { Config: [{ Subnet: `${SUBNET}.0/24` }] } });
    // B: one sandbox connected (finished), on B's "host" only.
    await must(b!.sock, 'POST', '/sandboxes/create', { Name: 'b1' });
    const b1Ns = (await must<{ NetnsPath: string }>(b!.sock, 'GET', '/sandboxes/b1')).NetnsPath;
    await must(b!.sock, 'POST', '/networks/xd/connect', { Container: 'b1', EndpointConfig: { IPAMConfig: { IPv4Address: `${SUBNET}.20` } } });
    assert.notEqual((fs.statSync(b1Ns, { throwIfNoEntry: false })?.dev), undefined, 'the pin file exists on the shared disk');

    // Both caught in Join.
    const release = d.holdJoins();
    await must(b!.sock, 'POST', '/sandboxes/create', { Name: 'b2' });
    await must(a!.sock, 'POST', '/sandboxes/create', { Name: 'a1' });
    const bJoin = d.nextJoin();
    const bConnect = call(b!.sock, 'POST', '/networks/xd/connect', { Container: 'b2', EndpointConfig: { IPAMConfig: { IPv4Address: `${SUBNET}.21` } } });
    const epB = await bJoin;
    const aJoin = d.nextJoin();
    void call(a!.sock, 'POST', '/networks/xd/connect', { Container: 'a1', EndpointConfig: { IPAMConfig: { IPv4Address: `${SUBNET}.22` } } }).catch(() => undefined);
    const epA = await aJoin;
    assert.deepEqual((await intents()).map((i) => [i.kind, i.id, i.owner]).sort(), [['connect', epA, idA], ['connect', epB, idB]].sort());
    assert.deepEqual(await leases(), [`${SUBNET}.1`, `${SUBNET}.20`, `${SUBNET}.21`, `${SUBNET}.22`]);

    await a!.stop('SIGKILL');
    await a!.start();

    assert.deepEqual((await intents()).map((i) => [i.kind, i.id, i.owner]), [['connect', epB, idB]], "only B's intent is left");
    assert.ok(d.calls.includes(`DeleteEndpoint ${epA}`), "A's endpoint was rolled back in the driver");
    assert.ok(!d.calls.some((c) => c.startsWith('DeleteEndpoint') && c !== `DeleteEndpoint ${epA}`), `no other DeleteEndpoint: ${d.calls.join(', ')}`);
    assert.deepEqual(await leases(), [`${SUBNET}.1`, `${SUBNET}.20`, `${SUBNET}.21`], "A's address is free, B's two are kept");
    assert.equal((await call(a!.sock, 'GET', '/sandboxes/b1')).status, 200, "B's sandbox stays though A cannot see its netns");
    assert.match(a!.log(), /"msg":"reconciled".*"sandboxesRemoved":0/);

    release();
    const done = await bConnect;
    assert.equal(done.status, 200, done.body);
    assert.deepEqual(await intents(), []);
    const net = await must<{ Containers: Record<string, { Name: string; IPv4Address: string }> }>(a!.sock, 'GET', '/networks/xd');
    assert.deepEqual(Object.values(net.Containers).map((c) => `${c.Name} ${c.IPv4Address}`).sort(), [`b1 ${SUBNET}.20/24`, `b2 ${SUBNET}.21/24`]);
    // A's address connects again.
    await must(a!.sock, 'POST', '/networks/xd/connect', { Container: 'a1', EndpointConfig: { IPAMConfig: { IPv4Address: `${SUBNET}.22` } } });

    for (const s of ['b1', 'b2']) await must(b!.sock, 'DELETE', `/sandboxes/${s}`);
    await must(a!.sock, 'DELETE', '/sandboxes/a1');
    await must(a!.sock, 'DELETE', '/networks/xd');
    assert.deepEqual(await leases(), []);
  });
});
