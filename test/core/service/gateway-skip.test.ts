// test/core/service/gateway-skip.test.ts — a driver that skips gateway allocation (macvlan: the
// gateway is an upstream router) gets no gateway by default, but still gets, reserved, the one
// the user configured (Docker's semantics).
import assert from 'node:assert/strict';
import { FakeNetworkDriver } from '../../fakes/drivers.js';
import { harness } from './harness.js';

class SkipGwDriver extends FakeNetworkDriver {
  async gwAllocCheck() { return { skipIpv4: true, skipIpv6: true }; }
}

describe('NetworkService with a gateway-skipping driver', () => {
  let h: ReturnType<typeof harness>;
  let d: SkipGwDriver;
  beforeEach(() => { h = harness(); d = new SkipGwDriver('skipgw'); h.registry.register('NetworkDriver', d); });
  afterEach(() => h.cleanup());

  it('allocates no gateway unless configured, and reserves a configured one', async () => {
    const a = await h.networks.create({ name: 'a', driver: 'skipgw', ipam: { config: [{ subnet: '10.7.0.0/24' }] } });
    assert.equal(d.networks.get(a.record.id)!.ipv4Data[0]!.gateway, undefined);
    assert.equal(h.ipam.reserved(), 0);
    const b = await h.networks.create({ name: 'b', driver: 'skipgw', ipam: { config: [{ subnet: '10.8.0.0/24', gateway: '10.8.0.254' }] } });
    assert.equal(d.networks.get(b.record.id)!.ipv4Data[0]!.gateway, '10.8.0.254/24');
    assert.equal(h.ipam.reserved(), 1);
    await h.networks.remove('b');
    assert.equal(h.ipam.reserved(), 0);
  });
});
