// test/cli/output.test.ts — docker-style tables, templates, and --subnet/--gateway pairing.
import assert from 'node:assert/strict';
import { applyTemplate, checkTemplate, formatList, renderTable } from '../../cli/output.js';
import { ipamConfigs } from '../../cli/commands/network.js';
import { contains } from '../../cli/cidr.js';

describe('tsctl output', () => {
  it('renders tables like docker (min width 10, 3 spaces padding)', () => {
    assert.equal(
      renderTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], [['0123456789ab', 'bridge', 'bridge', 'local']]),
      'NETWORK ID     NAME      DRIVER    SCOPE\n0123456789ab   bridge    bridge    local\n',
    );
  });

  it('applies the supported template subset and rejects the rest', () => {
    const o = { Name: 'n', IPAM: { Driver: 'default' }, Labels: { a: 'b' } };
    assert.equal(applyTemplate('{{.Name}}\\t{{.IPAM.Driver}} {{json .Labels}} {{.Nope}}', o), 'n\tdefault {"a":"b"} <no value>');
    assert.match(checkTemplate('{{range .X}}{{end}}')!, /unsupported action/);
    assert.equal(formatList([{ Name: 'a', Driver: 'd' }], { Name: 'NAME', Driver: 'DRIVER' }, 'table {{.Name}}\\t{{.Driver}}'), 'NAME      DRIVER\na         d\n');
    assert.equal(formatList([{ Name: 'a' }], { Name: 'NAME' }, 'json'), '{"Name":"a"}\n');
  });

  it('pairs gateways, ranges and aux addresses with the subnet containing them', () => {
    assert.deepEqual(ipamConfigs(['10.0.0.0/16', 'fd00::/64'], ['10.0.1.0/24'], ['fd00::1', '10.0.0.254'], { r: '10.0.0.5' }), [
      { Subnet: '10.0.0.0/16', IPRange: '10.0.1.0/24', Gateway: '10.0.0.254', AuxiliaryAddresses: { r: '10.0.0.5' } },
      { Subnet: 'fd00::/64', Gateway: 'fd00::1' },
    ]);
    assert.throws(() => ipamConfigs(['10.0.0.0/24'], [], ['10.1.0.1'], {}), /no matching subnet for gateway 10.1.0.1/);
    assert.equal(contains('fd00:1::/32', 'fd00:1:2::3'), true);
    assert.equal(contains('10.0.0.0/8', '11.0.0.1'), false);
  });
});
