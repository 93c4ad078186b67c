// test/core/dns/registry.test.ts — the service's DnsRegistry seam over DnsRecords: names[0] is the
// name, the rest aliases; remove by endpoint id; unknown networks added as external.
import assert from 'node:assert/strict';
import { DnsRecords, wireKey, TYPE_A } from '../../../core/dns/records.js';
import { EmbeddedDnsRegistry } from '../../../core/dns/registry.js';

describe('EmbeddedDnsRegistry', () => {
  it('add makes names answer, remove (idempotent) makes them unknown', async () => {
    const records = new DnsRecords();
    const reg = new EmbeddedDnsRegistry(records);
    await reg.add({ networkId: 'n', endpointId: 'ep1', sandboxId: 's1', names: ['web', 'www', '0123456789ab'], ipv4: ['10.0.0.2'], ipv6: [] });
    await reg.add({ networkId: 'n', endpointId: 'ep2', sandboxId: 's2', names: ['db'], ipv4: ['10.0.0.3'], ipv6: ['fd00::3'] });
    for (const n of ['web', 'www', '0123456789ab']) assert.equal(records.lookup('s2', wireKey(n), TYPE_A).kind, 'records', n);
    assert.deepEqual(records.upstreamsFor('s1'), []); // added as an external network
    await reg.remove('n', 'ep1');
    await reg.remove('n', 'ep1');
    await reg.remove('other', 'nope');
    assert.equal(records.lookup('s2', wireKey('web'), TYPE_A).kind, 'unknown');
    assert.equal(records.lookup('s2', wireKey('db'), TYPE_A).kind, 'records');
    await assert.rejects(reg.add({ networkId: 'n', endpointId: 'ep3', sandboxId: 's3', names: [], ipv4: [], ipv6: [] }), /names: endpoint ep3 has no name/);
  });
});
