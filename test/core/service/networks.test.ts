// test/core/service/networks.test.ts — NetworkService over fake drivers: create resolves IPAM
// and the driver and persists; a failure anywhere leaves nothing behind; rm is refused while
// endpoints are attached; connect/disconnect reach the driver, sandbox networking and DNS.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { harness } from './harness.js';
import { parseFilters } from '../../../core/model/filters.js';

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

describe('NetworkService', () => {
  let h: ReturnType<typeof harness>;
  beforeEach(() => { h = harness(); });
  afterEach(() => h.cleanup());

  it('creates a network: pool, gateway, driver call, stored; inspect by name, id and prefix', async () => {
    const { record } = await h.networks.create({ name: 'web', ipam: { config: [{ subnet: '10.5.0.0/24', gateway: '10.5.0.254', auxAddresses: { r: '10.5.0.9' } }] }, labels: { a: 'b' } });
    assert.match(record.id, /^[0-9a-f]{64}$/);
    const req = h.net.networks.get(record.id)!;
    assert.deepEqual(req.ipv4Data, [{ addressSpace: 'LocalDefault', pool: '10.5.0.0/24', gateway: '10.5.0.254/24', auxAddresses: { r: '10.5.0.9/24' } }]);
    assert.equal(h.ipam.reserved(), 2);
    for (const ref of ['web', record.id, record.id.slice(0, 5)]) assert.equal((await h.networks.inspect(ref)).Id, record.id);
    const api = await h.networks.inspect('web');
    assert.deepEqual(api.IPAM, { Driver: 'default', Options: null, Config: [{ Subnet: '10.5.0.0/24', Gateway: '10.5.0.254', AuxiliaryAddresses: { r: '10.5.0.9' } }] });
    assert.equal(api.Driver, 'bridge');
    await assert.rejects(h.networks.create({ name: 'web' }), (e: unknown) => code('Conflict')(e) && /already exists/.test(String(e)));
    await assert.rejects(h.networks.inspect('nope'), code('NotFound'));
  });

  it('rejects bad names and addresses with a message naming the field', async () => {
    await assert.rejects(h.networks.create({ name: '-x' }), /network name "-x"/);
    await assert.rejects(h.networks.create({ name: 'a', ipam: { config: [{ subnet: '10.0.0.0/33' }] } }), /IPAM.Config\[0\].Subnet: "10.0.0.0\/33" is not a valid CIDR/);
    await assert.rejects(h.networks.create({ name: 'a', ipam: { config: [{ subnet: '10.0.0.0/24', gateway: 'x' }] } }), /Gateway: "x"/);
    assert.equal((await h.networks.list()).length, 0);
  });

  it('a driver failure rolls back IPAM and leaves no record', async () => {
    h.net.failOn.add('createNetwork');
    await assert.rejects(h.networks.create({ name: 'bad' }), /create network bad: createNetwork failed/);
    assert.equal(h.ipam.pools.size, 0);
    assert.equal((await h.networks.list()).length, 0);
    assert.equal(await h.records.networkNameTaken('bad'), false);
  });

  it('connect and disconnect: addresses, driver, sandbox networking, DNS, hosts file', async () => {
    await h.networks.create({ name: 'n1', ipam: { config: [{ subnet: '10.7.0.0/24' }] } });
    const sb = await h.sandboxes.create({ name: 'box' });
    const ep = await h.networks.connect({ network: 'n1', sandbox: 'box', ipv4: '10.7.0.50', aliases: ['db'] });
    assert.equal(ep.ipv4, '10.7.0.50/24');
    assert.equal(ep.ifname, 'eth0');
    assert.equal(h.sandboxNetworking.attached.get(ep.id)!.netnsPath, sb.netnsPath);
    assert.deepEqual(h.dns.lookup(ep.networkId, 'db'), ['10.7.0.50']);
    assert.match(fs.readFileSync((await h.sandboxes.inspect('box')).HostsPath, 'utf8'), /10\.7\.0\.50\tbox/);
    const net = await h.networks.inspect('n1');
    assert.equal(net.Containers[sb.id]!.IPv4Address, '10.7.0.50/24');
    await assert.rejects(h.networks.connect({ network: 'n1', sandbox: 'box' }), /already exists in network n1/);
    await assert.rejects(h.networks.connect({ network: 'n1', sandbox: 'box', ipv4: '10.7.0.50' }), /already exists/);
    await assert.rejects(h.networks.remove('n1'), (e: unknown) => code('Forbidden')(e) && /has active endpoints/.test(String(e)));
    await h.networks.disconnect('n1', 'box');
    assert.equal(h.dns.records.size, 0);
    assert.equal(h.sandboxNetworking.attached.size, 0);
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), 1); // only the gateway
    assert.doesNotMatch(fs.readFileSync((await h.sandboxes.inspect('box')).HostsPath, 'utf8'), /10\.7\.0\.50/);
    await h.networks.remove('n1');
    assert.equal(h.ipam.pools.size, 0);
    assert.equal(h.net.networks.size, 0);
  });

  it('a failing attach undoes every earlier connect step', async () => {
    await h.networks.create({ name: 'n1' });
    await h.sandboxes.create({ name: 'box' });
    h.sandboxNetworking.failAttach = true;
    await assert.rejects(h.networks.connect({ network: 'n1', sandbox: 'box' }), /connect box to network n1: attach failed/);
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), 1);
    assert.deepEqual(h.net.calls.slice(-4), ['createEndpoint', 'join', 'leave', 'deleteEndpoint']);
    assert.equal((await h.records.allEndpoints()).length, 0);
  });

  it('rm --force disconnects first; concurrent connects never share an address', async () => {
    await h.networks.create({ name: 'n1' });
    const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
    for (const n of names) await h.sandboxes.create({ name: n });
    const eps = await Promise.all(names.map((n) => h.networks.connect({ network: 'n1', sandbox: n })));
    assert.equal(new Set(eps.map((e) => e.ipv4)).size, 20);
    await h.networks.remove('n1', { force: true });
    assert.equal(h.ipam.pools.size, 0);
    assert.equal((await h.records.allEndpoints()).length, 0);
  });

  it('list filters and prune', async () => {
    await h.networks.create({ name: 'alpha', labels: { env: 'dev' } });
    await h.networks.create({ name: 'beta', labels: { env: 'prod' } });
    await h.sandboxes.create({ name: 'box' });
    await h.networks.connect({ network: 'beta', sandbox: 'box' });
    const names = async (f: string) => (await h.networks.list(parseFilters(f))).map((n) => n.Name);
    assert.deepEqual(await names('{"name":["alp"]}'), ['alpha']);
    assert.deepEqual(await names('{"label":{"env=prod":true}}'), ['beta']);
    assert.deepEqual(await names('{"dangling":["true"]}'), ['alpha']);
    await assert.rejects(h.networks.list(parseFilters('{"bogus":["x"]}')), /invalid filter 'bogus'/);
    assert.deepEqual(await h.networks.prune(), ['alpha']);
    assert.deepEqual(await names(''), ['beta']);
  });

  it('reconcile tears down endpoints whose sandbox record vanished', async () => {
    await h.networks.create({ name: 'n1' });
    const sb = await h.sandboxes.create({ name: 'box' });
    await h.networks.connect({ network: 'n1', sandbox: 'box' });
    await h.records.deleteSandbox(sb); // as if a crash lost it
    assert.deepEqual(await h.networks.reconcile(), { staleEndpoints: 1 });
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), 1);
  });

  it('disconnect -f removes an endpoint whose sandbox record is gone, by name or id (moby#17217); without -f: not found', async () => {
    await h.networks.create({ name: 'n1' });
    const sb = await h.sandboxes.create({ name: 'box' });
    const sb2 = await h.sandboxes.create({ name: 'box2' });
    await h.networks.connect({ network: 'n1', sandbox: 'box' });
    await h.networks.connect({ network: 'n1', sandbox: 'box2' });
    await h.records.deleteSandbox(sb); // as if a crash lost it while tsd runs
    await h.records.deleteSandbox(sb2);
    await assert.rejects(h.networks.disconnect('n1', 'box'), /sandbox box not found|No such sandbox|not found/);
    await assert.rejects(h.networks.remove('n1'), /has active endpoints \((box, box2|box2, box)\)/);
    await h.networks.disconnect('n1', 'box', { force: true });
    await h.networks.disconnect('n1', sb2.id.slice(0, 12), { force: true });
    assert.equal(h.net.endpoints.size, 0);
    assert.equal(h.ipam.reserved(), 1, 'only the gateway is still reserved');
    await assert.rejects(h.networks.disconnect('n1', 'box', { force: true }), /not found/);
    await h.networks.remove('n1');
  });

  it('one default route per sandbox: later networks install none; a disconnect hands it to the next (Docker)', async () => {
    for (const n of ['g1', 'g2', 'g3']) await h.networks.create({ name: n });
    await h.sandboxes.create({ name: 'multi' });
    const sleep = () => new Promise((r) => setTimeout(r, 5)); // distinct created stamps
    const e1 = await h.networks.connect({ network: 'g1', sandbox: 'multi' });
    await sleep();
    const e2 = await h.networks.connect({ network: 'g2', sandbox: 'multi' });
    await sleep();
    const e3 = await h.networks.connect({ network: 'g3', sandbox: 'multi' });
    const att = h.sandboxNetworking.attached;
    assert.equal(att.get(e1.id)!.join.gateway, '10.0.0.1', 'the first endpoint installs the default route');
    assert.equal(att.get(e2.id)!.join.gateway, undefined, 'the second does not (EEXIST otherwise)');
    assert.equal(att.get(e3.id)!.join.gateway, undefined);
    assert.equal(e2.gateway, '10.0.0.1', 'its gateway is still recorded for inspect');
    await h.networks.disconnect('g1', 'multi');
    assert.equal(h.sandboxNetworking.defaultGateways.length, 1);
    assert.equal(h.sandboxNetworking.defaultGateways[0]!.gateway, e2.gateway);
    await h.networks.disconnect('g3', 'multi');
    await h.networks.disconnect('g2', 'multi');
    assert.equal(h.sandboxNetworking.defaultGateways.length, 2, 'a last endpoint leaving hands over nothing');
    const e4 = await h.networks.connect({ network: 'g3', sandbox: 'multi' });
    assert.equal(att.get(e4.id)!.join.gateway, '10.0.0.1', 'alone again: it installs the route');
  });

  it('network rm -f hands the default route of each sandbox on to its next network, as disconnect does', async () => {
    await h.networks.create({ name: 'fa', ipam: { config: [{ subnet: '10.61.0.0/24' }] } });
    await h.networks.create({ name: 'fb', ipam: { config: [{ subnet: '10.62.0.0/24' }] } });
    await h.sandboxes.create({ name: 'two' });
    await h.sandboxes.create({ name: 'one' });
    await h.networks.connect({ network: 'fa', sandbox: 'two' });
    await new Promise((r) => setTimeout(r, 5)); // distinct created stamps
    const b = await h.networks.connect({ network: 'fb', sandbox: 'two' });
    await h.networks.connect({ network: 'fa', sandbox: 'one' });
    await h.networks.remove('fa', { force: true });
    const two = await h.sandboxes.inspect('two');
    assert.deepEqual(h.sandboxNetworking.defaultGateways, [{ netnsPath: two.NetnsPath, gateway: b.gateway }],
      'the sandbox on fa and fb gets its default route via fb; the one on fa alone gets none');
    assert.deepEqual(Object.keys(two.Networks), ['fb']);
    assert.doesNotMatch(fs.readFileSync(two.HostsPath, 'utf8'), /10\.61\./, 'hosts file rewritten');
    await assert.rejects(h.networks.inspect('fa'), code('NotFound'));
  });
});
