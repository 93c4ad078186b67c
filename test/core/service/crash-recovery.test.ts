// test/core/service/crash-recovery.test.ts — peers.md #34: a daemon "killed" in the middle of an
// operation (a driver call that never returns; the services are abandoned and new ones start
// over the same store and drivers) leaves intents that the startup reconcile rolls back or
// finishes, and the sweep gives back driver endpoints and addresses no record claims.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { harness } from './harness.js';


/** Let an abandoned operation run up to the call that hangs. */
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('crash recovery (intents and the unclaimed sweep)', () => {
  let h: ReturnType<typeof harness>;
  beforeEach(() => { h = harness(); });
  afterEach(() => h.cleanup());

  it('a connect killed at join is rolled back at restart: no record, driver endpoint deleted, address free; the same static IP connects again', async () => {
    await h.networks.create({ name: 'n1', ipam: { config: [{ subnet: '10.7.0.0/24' }] } });
    await h.sandboxes.create({ name: 'box' });
    h.net.hangOn.add('join');
    void h.networks.connect({ network: 'n1', sandbox: 'box', ipv4: '10.7.0.9' });
    await settle();
    assert.equal(h.net.endpoints.size, 1, 'the driver endpoint was made before the kill');
    assert.equal(h.ipam.reserved(), 2, 'gateway and the address');
    assert.equal((await h.records.listIntents()).length, 1);
    h.net.hangOn.clear();

    const s = h.restart();
    await s.reconcile();
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), 1, 'only the gateway');
    assert.deepEqual(await s.records.listIntents(), []);
    assert.deepEqual((await s.networks.inspect('n1')).Containers, {});
    const ep = await s.networks.connect({ network: 'n1', sandbox: 'box', ipv4: '10.7.0.9' });
    assert.equal(ep.ipv4, '10.7.0.9/24');
  });

  it('a connect rolled back by its own failure leaves no intent behind (and no extra work for the next start)', async () => {
    await h.networks.create({ name: 'n1' });
    await h.sandboxes.create({ name: 'box' });
    h.net.failOn.add('join');
    await assert.rejects(h.networks.connect({ network: 'n1', sandbox: 'box' }), /join failed/);
    assert.deepEqual(await h.records.listIntents(), []);
  });

  it('a disconnect killed at leave is finished at restart: record, driver endpoint and address gone', async () => {
    await h.networks.create({ name: 'n1' });
    await h.sandboxes.create({ name: 'box' });
    await h.networks.connect({ network: 'n1', sandbox: 'box' });
    h.net.hangOn.add('leave');
    void h.networks.disconnect('n1', 'box');
    await settle();
    assert.equal((await h.records.allEndpoints()).length, 1, 'the record is still there at the kill');
    h.net.hangOn.clear();

    const s = h.restart();
    await s.reconcile();
    assert.deepEqual(await s.records.allEndpoints(), []);
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), 1);
    assert.deepEqual(await s.records.listIntents(), []);
  });

  it('a network create killed in the driver is rolled back: driver network deleted, pool released, the name free again', async () => {
    h.net.hangOn.add('createNetwork');
    void h.networks.create({ name: 'web', ipam: { config: [{ subnet: '10.8.0.0/24' }] } });
    await settle();
    assert.equal(h.net.networks.size, 1);
    assert.equal(h.ipam.pools.size, 1);
    h.net.hangOn.clear();

    const s = h.restart();
    await s.reconcile();
    assert.equal(h.net.networks.size, 0);
    assert.equal(h.ipam.pools.size, 0);
    assert.deepEqual(await s.records.listIntents(), []);
    await s.networks.create({ name: 'web', ipam: { config: [{ subnet: '10.8.0.0/24' }] } });
  });

  it('a pool taken just before the intent recorded it is found by the subnet asked for', async () => {
    // As if killed between the IPAM commit and the intent update: only the request is recorded.
    await h.ipam.requestPool({ addressSpace: 'LocalDefault', pool: '10.9.0.0/24', subPool: '', options: {}, v6: false });
    await h.records.putIntent({ kind: 'network-create', id: 'a'.repeat(64), name: 'x', driver: 'bridge', ipamDriver: 'default', subnets: ['10.9.0.0/24'], pools: [], created: '' });
    await h.restart().reconcile();
    assert.equal(h.ipam.pools.size, 0);
  });

  it('a network rm killed in the driver is finished at restart, and a second kill during that pass changes nothing', async () => {
    await h.networks.create({ name: 'web', ipam: { config: [{ subnet: '10.6.0.0/24', auxAddresses: { r: '10.6.0.5' } }] } });
    h.net.hangOn.add('deleteNetwork');
    void h.networks.remove('web');
    await settle();
    const s1 = h.restart();
    void s1.reconcile(); // killed again, inside the recovery
    await settle();
    assert.equal((await h.records.listNetworks()).length, 1);
    h.net.hangOn.clear();

    const s2 = h.restart();
    await s2.reconcile();
    assert.deepEqual(await s2.records.listNetworks(), []);
    assert.equal(h.net.networks.size, 0);
    assert.equal(h.ipam.pools.size, 0);
    assert.deepEqual(await s2.records.listIntents(), []);
  });

  it('the sweep releases driver endpoints and addresses of tsd networks no record claims, and nothing else', async () => {
    const { record } = await h.networks.create({ name: 'n1', ipam: { config: [{ subnet: '10.5.0.0/24' }] } });
    await h.sandboxes.create({ name: 'box' });
    const kept = await h.networks.connect({ network: 'n1', sandbox: 'box' });
    // Left by a daemon without intents (the bug): an address and a driver endpoint, no record.
    await h.ipam.requestAddress({ poolId: '10.5.0.0/24', address: '10.5.0.77', options: {} });
    await h.net.createEndpoint({ networkId: record.id, endpointId: 'e'.repeat(64), interface: {}, options: {} });
    // Someone else's pool (dockerd through the plugin socket): not tsd's, never swept.
    await h.ipam.requestPool({ addressSpace: 'LocalDefault', pool: '10.4.0.0/24', subPool: '', options: {}, v6: false });
    await h.ipam.requestAddress({ poolId: '10.4.0.0/24', address: '10.4.0.2', options: {} });

    const s = h.restart();
    assert.deepEqual(await s.networks.sweepUnclaimed(), { endpoints: 1, addresses: 1 });
    assert.deepEqual([...h.net.endpoints.keys()], [kept.id]);
    assert.deepEqual((await h.ipam.listAddresses('10.5.0.0/24')).sort(), ['10.5.0.1', kept.ipv4.split('/')[0]].sort());
    assert.deepEqual(await h.ipam.listAddresses('10.4.0.0/24'), ['10.4.0.2']);
    assert.deepEqual(await s.networks.sweepUnclaimed(), { endpoints: 0, addresses: 0 }, 'idempotent');
  });

  it('a sandbox rm killed halfway is finished at restart; a netns pinned by a create whose record was never written is removed', async () => {
    await h.networks.create({ name: 'n1' });
    const sb = await h.sandboxes.create({ name: 'box' });
    await h.networks.connect({ network: 'n1', sandbox: 'box' });
    h.net.hangOn.add('leave');
    void h.sandboxes.remove('box');
    await settle();
    h.net.hangOn.clear();
    // A create killed between pinning its netns and writing its record.
    const fs = await import('node:fs');
    const path = await import('node:path');
    const stray = path.join(h.root, 'run', 'netns', 'deadbeef0000');
    fs.writeFileSync(stray, 'netns');

    const s = h.restart();
    await s.reconcile();
    assert.deepEqual(await s.records.listSandboxes(), []);
    assert.equal(fs.existsSync(sb.netnsPath), false);
    assert.equal(fs.existsSync(stray), false);
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), 1);
    assert.deepEqual(await s.records.listIntents(), []);
  });


});

describe('two daemons sharing one store (etcd): each recovers only its own', () => {
  const A = 'a'.repeat(64);
  const B = 'b'.repeat(64);
  let h: ReturnType<typeof harness>;
  beforeEach(() => { h = harness({ shared: true, daemonId: A }); });
  afterEach(() => h.cleanup());

  it("a restart rolls back its own connect; the other's connect in flight, its sandboxes and addresses are untouched", async () => {
    const b = h.restart({ daemonId: B });
    await h.networks.create({ name: 'n1', ipam: { config: [{ subnet: '10.7.0.0/24' }] } });
    const b1 = await b.sandboxes.create({ name: 'b1' });
    assert.equal(b1.owner, B);
    const done = await b.networks.connect({ network: 'n1', sandbox: 'b1', ipv4: '10.7.0.20' });
    assert.equal(done.owner, B);
    // b1's netns is on B's host: from A's host it is not there.
    require_rm(b1.netnsPath);

    await h.sandboxes.create({ name: 'a1' });
    h.net.hangOn.add('join');
    const joins = () => h.net.calls.filter((c) => c === 'join').length;
    const joined = async (n: number) => { for (let i = 0; i < 500 && joins() < n; i++) await settle(); };
    const before = joins();
    void h.networks.connect({ network: 'n1', sandbox: 'a1', ipv4: '10.7.0.22' }); // A is killed in join
    await joined(before + 1);
    h.net.hangOn.clear();
    let release!: () => void;
    h.net.holdOn.set('join', new Promise<void>((r) => (release = r)));
    await b.sandboxes.create({ name: 'b2' });
    const inFlight = b.networks.connect({ network: 'n1', sandbox: 'b2', ipv4: '10.7.0.21' }); // B is in join right now
    await joined(before + 2);
    const all = await h.records.listAllIntents();
    assert.deepEqual(all.map((i) => i.owner).sort(), [A, B]);
    assert.deepEqual((all.find((i) => i.owner === B) as { addresses?: string[] }).addresses, ['10.7.0.21'], 'on a shared store a connect names its address in its intent');
    assert.equal(h.net.endpoints.size, 3);

    const a2 = h.restart({ daemonId: A });
    await a2.reconcile();
    const left = await a2.records.listAllIntents();
    assert.deepEqual(left.map((i) => [i.kind, i.owner]), [['connect', B]], "only B's intent is left");
    assert.deepEqual(await a2.records.listIntents(), [], 'A has none of its own');
    assert.equal(h.net.endpoints.size, 2, "A's driver endpoint is gone, B's two stay");
    assert.equal(h.ipam.reserved(), 3, "the gateway and B's two addresses; A's is free");
    assert.equal((await a2.sandboxes.inspect('b1')).Name, 'b1', "B's sandbox stays though its netns is not on A's host");
    assert.deepEqual(Object.values((await a2.networks.inspect('n1')).Containers).map((c) => c.IPv4Address), ['10.7.0.20/24']);

    release();
    h.net.holdOn.clear();
    const ep = await inFlight;
    assert.equal(ep.ipv4, '10.7.0.21/24', "B's connect finishes with its address");
    assert.deepEqual(await a2.records.listAllIntents(), []);
    assert.deepEqual(Object.values((await a2.networks.inspect('n1')).Containers).map((c) => c.IPv4Address).sort(), ['10.7.0.20/24', '10.7.0.21/24']);
    const a1 = await a2.networks.connect({ network: 'n1', sandbox: 'a1', ipv4: '10.7.0.22' });
    assert.equal(a1.ipv4, '10.7.0.22/24', "A's address was given back");

    // B's own restart does repair B's vanished sandbox.
    const b3 = h.restart({ daemonId: B });
    await b3.reconcile();
    await assert.rejects(b3.sandboxes.inspect('b1'), /not found/);
  });
});

function require_rm(p: string): void {
  fs.rmSync(p, { force: true });
}
