// test/core/kernel/firewall/model.test.ts — validation, range expansion and conflict rules every
// backend shares (through FirewallModel), checked on the none backend.

import assert from 'node:assert/strict';
import { NoneFirewall } from '../../../../core/kernel/firewall/none/backend.js';
import type { FirewallNetwork, PortMapping } from '../../../../core/kernel/firewall/types.js';

const net: FirewallNetwork = { id: 'n1', bridge: 'tsdbr1', subnets: ['10.1.0.0/24'], masquerade: true, internal: false, icc: true, isolate: true, hostBindingIpv4: '127.0.0.1' };
const p = (m: Partial<PortMapping>): PortMapping => ({ networkId: 'n1', proto: 'tcp', hostPort: 8080, containerIp: '10.1.0.2', containerPort: 80, ...m });

describe('firewall model', () => {
  let fw: NoneFirewall;
  beforeEach(async () => {
    fw = new NoneFirewall();
    await fw.addNetwork(net);
  });

  it('rejects bad input naming the field', async () => {
    await assert.rejects(fw.addNetwork({ ...net, id: 'n2', bridge: 'x'.repeat(16) }), /network n2: bridge: .* is not a valid interface name/);
    await assert.rejects(fw.addNetwork({ ...net, id: 'n2', bridge: 'b2', subnets: ['10.0.0.0/33'] }), /subnets: 10\.0\.0\.0\/33 is not a valid CIDR/);
    await assert.rejects(fw.publishPorts([p({ containerIp: 'evil.example' })]), /containerIp: evil\.example is not an IP address/);
    await assert.rejects(fw.publishPorts([p({ hostPort: 0 })]), /hostPort: 0 is not a port/);
    await assert.rejects(fw.publishPorts([p({ proto: 'icmp' as 'tcp' })]), /proto: icmp is not one of/);
    await assert.rejects(fw.publishPorts([p({ hostIp: '::1' })]), /different families/);
    await assert.rejects(fw.publishPorts([p({ networkId: 'nope' })]), /network nope is not known/);
    await assert.rejects(fw.publishPorts([p({ hostPortEnd: 8000 })]), /hostPortEnd/);
  });

  it('refuses a second network on the same bridge', async () => {
    await assert.rejects(fw.addNetwork({ ...net, id: 'n2' }), /bridge tsdbr1 is already used by network n1/);
  });

  it('expands ranges and applies the network default host binding', async () => {
    await fw.publishPorts([p({ hostPort: 9000, hostPortEnd: 9002, containerPort: 100 })]);
    assert.deepEqual(fw.state().ports.map((x) => `${x.hostIp}:${x.hostPort}->${x.containerPort}`), ['127.0.0.1:9000->100', '127.0.0.1:9001->101', '127.0.0.1:9002->102']);
  });

  it('is idempotent for identical mappings and refuses conflicting ones', async () => {
    await fw.publishPorts([p({ hostIp: '0.0.0.0' })]);
    await fw.publishPorts([p({ hostIp: '0.0.0.0' })]);
    assert.equal(fw.state().ports.length, 1);
    await assert.rejects(fw.publishPorts([p({ hostIp: '0.0.0.0', containerPort: 81 })]), { code: 'Conflict', message: /tcp 0\.0\.0\.0:8080: already published to 10\.1\.0\.2:80/ });
    await assert.rejects(fw.publishPorts([p({ hostIp: '10.9.9.9' })]), /already published on every host address/);
    await fw.publishPorts([p({ proto: 'udp', hostIp: '0.0.0.0' })]);
    assert.equal(fw.state().ports.length, 2);
  });

  it('a conflict inside one batch publishes nothing', async () => {
    await assert.rejects(fw.publishPorts([p({ hostPort: 1 }), p({ hostPort: 1, containerPort: 2 })]), /already published/);
    assert.equal(fw.state().ports.length, 0);
  });

  it('unpublish ignores unknown mappings; removeNetwork drops its ports', async () => {
    await fw.publishPorts([p({}), p({ hostPort: 8081 })]);
    await fw.unpublishPorts([p({ hostPort: 7 }), p({ networkId: 'gone' })]);
    await fw.unpublishPorts([p({})]);
    assert.deepEqual(fw.state().ports.map((x) => x.hostPort), [8081]);
    await fw.removeNetwork('n1');
    await fw.removeNetwork('n1');
    assert.deepEqual(fw.state(), { backend: 'none', networks: [], ports: [] });
  });

  it('reload validates everything before replacing the model', async () => {
    await fw.publishPorts([p({})]);
    await assert.rejects(fw.reload({ networks: [net], ports: [p({ containerIp: 'x' })] }), /containerIp/);
    assert.equal(fw.state().ports.length, 1);
    await fw.reload({ networks: [net], ports: [] });
    assert.equal(fw.state().ports.length, 0);
  });
});
