// test/core/service/host-dns.test.ts — the network option com.tsd.network.host_dns at the
// service: validated before any step (value, --internal, drivers without a host gateway, no
// embedded DNS), the listener opened inside create's undo stack (a failure rolls the whole
// create back), shown by inspect, closed by rm, restored by reconcile; wildcard aliases
// validated at connect.
import assert from 'node:assert/strict';
import { harness } from './harness.js';
import { ConflictError } from '../../../core/errors.js';
import { HOST_DNS_OPTION } from '../../../core/service/host-dns-option.js';

const on = { [HOST_DNS_OPTION]: 'true' };

describe('NetworkService: com.tsd.network.host_dns', () => {
  let h: ReturnType<typeof harness>;
  beforeEach(() => { h = harness(); });
  afterEach(() => h.cleanup());

  it('create serves the IPv4 gateway; inspect shows it; rm closes it', async () => {
    const { record } = await h.networks.create({ name: 'hd', options: on, ipam: { config: [{ subnet: '10.5.0.0/24', gateway: '10.5.0.1' }] } });
    assert.deepEqual(h.dns.hostDns.get(record.id), { name: 'hd', addresses: ['10.5.0.1'] });
    assert.deepEqual((await h.networks.inspect('hd')).HostDNS, ['10.5.0.1:53']);
    await h.networks.create({ name: 'plain' });
    assert.equal((await h.networks.inspect('plain')).HostDNS, undefined);
    await h.networks.remove('hd');
    assert.equal(h.dns.hostDns.size, 0);
  });

  it('bad values and networks that cannot have it: an error naming the option, nothing made', async () => {
    const cases: Array<[Parameters<typeof h.networks.create>[0], RegExp]> = [
      [{ name: 'a', options: { [HOST_DNS_OPTION]: 'yes' } }, /com\.tsd\.network\.host_dns: "yes" is not a boolean/],
      [{ name: 'b', options: on, internal: true }, /com\.tsd\.network\.host_dns: not allowed on an internal network/],
    ];
    for (const [input, re] of cases) await assert.rejects(h.networks.create(input), re);
    h.net.gatewayOnHost = false;
    await assert.rejects(h.networks.create({ name: 'c', options: on }), /com\.tsd\.network\.host_dns: driver bridge puts no gateway on the host/);
    h.net.gatewayOnHost = true;
    // tsd --no-dns: the registry has no host listener to offer.
    Object.assign(h.dns, { addHostDns: undefined });
    await assert.rejects(h.networks.create({ name: 'd', options: on }), /com\.tsd\.network\.host_dns: the embedded DNS is off \(tsd --no-dns\)/);
    assert.equal((await h.networks.list()).length, 0);
    assert.equal(h.ipam.pools.size, 0);
    assert.deepEqual(h.net.calls, []);
    // Off spelled as Docker's bools is fine.
    await h.networks.create({ name: 'off', options: { [HOST_DNS_OPTION]: 'false' } });
    assert.equal(h.dns.hostDns.size, 0);
  });

  it('a listener that cannot bind refuses the create and rolls everything back', async () => {
    h.dns.failHostDns = new ConflictError('host DNS for network busy: 10.99.0.1:53 is in use (EADDRINUSE); set the daemon config key host-dns-port');
    await assert.rejects(h.networks.create({ name: 'busy', options: on }), (e: unknown) => e instanceof ConflictError && /10\.99\.0\.1:53 is in use.*host-dns-port/.test(e.message));
    assert.equal((await h.networks.list()).length, 0);
    assert.equal(h.ipam.pools.size, 0);
    assert.equal(h.net.networks.size, 0);
    assert.deepEqual(h.net.calls, ['createNetwork', 'deleteNetwork']);
    assert.equal(await h.records.networkNameTaken('busy'), false);
    assert.equal((await h.records.listIntents()).length, 0);
  });

  it('reconcile restores the listener; one that cannot bind is logged, the network stays', async () => {
    const { record } = await h.networks.create({ name: 'hd', options: on });
    h.dns.hostDns.clear(); // a restart: listeners live in memory
    await h.restart().networks.reconcile();
    assert.deepEqual(h.dns.hostDns.get(record.id)?.addresses, ['10.99.0.1']);
    h.dns.hostDns.clear();
    h.dns.failHostDns = new ConflictError('in use');
    await h.restart().networks.reconcile();
    assert.equal((await h.networks.inspect('hd')).Name, 'hd');
    assert.deepEqual((await h.networks.inspect('hd')).HostDNS, []);
    assert.ok(h.log.lines.some((l) => /host DNS listener not restored/.test(String(l.msg))));
  });

  it('connect accepts wildcard aliases and names the bad ones', async () => {
    await h.networks.create({ name: 'n1' });
    await h.sandboxes.create({ name: 'box' });
    for (const [alias, re] of [['a*.web', /Aliases\[1\]: "a\*\.web" is not a valid wildcard/], ['*', /Aliases\[1\]: "\*".*parent name/], ['web.*', /Aliases\[1\]: "web\.\*"/]] as const) {
      await assert.rejects(h.networks.connect({ network: 'n1', sandbox: 'box', aliases: ['ok', alias] }), re);
    }
    assert.equal(h.net.endpoints.size, 0);
    const ep = await h.networks.connect({ network: 'n1', sandbox: 'box', aliases: ['*.web'] });
    assert.deepEqual(ep.aliases, ['*.web']);
  });
});
