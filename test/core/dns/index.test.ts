// test/core/dns/index.test.ts — the daemon-facing facade: host upstreams from a resolv.conf
// (loopback skipped), detachSandbox forgets names and closes sockets.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedDns } from '../../../core/dns/index.js';
import { FakeUpstream, addrs, query, rcodeOf, udpAsk, udpRaw } from './helpers.js';

describe('createEmbeddedDns', function () {
  this.timeout(20000);

  it('host with only loopback resolvers → NXDOMAIN; the network upstreams are used; detach closes and forgets', async () => {
    const a = new FakeUpstream('192.0.2.10');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-dns-'));
    const conf = path.join(dir, 'resolv.conf');
    // 127.0.0.2 is a loopback server: skipped, as from inside a sandbox it would be the sandbox's own.
    fs.writeFileSync(conf, `nameserver 127.0.0.2\nnameserver 127.0.0.1\n`);
    const dns = createEmbeddedDns({ resolvConf: [conf], upstreamTimeoutMs: 300 });
    try {
      const pa = await a.start();
      dns.records.addNetwork('n');
      dns.records.addEndpoint({ networkId: 'n', sandboxId: 'sb', name: 'me', ipv4: '10.6.0.2' });
      const port = await dns.server.listen({ sandboxId: 'sb', address: '127.0.0.1', port: 0 });
      // Only loopback servers: nothing to forward to → NXDOMAIN.
      assert.equal(rcodeOf(await udpAsk(port, query('ext.example'))), 'NXDOMAIN');
      // The network's own list (with a port, for the fake upstream) takes over from the host's.
      dns.records.addNetwork('n', { upstreams: [`127.0.0.1:${pa}`] });
      assert.deepEqual(addrs(await udpAsk(port, query('ext.example'))), ['192.0.2.10']);
      await dns.detachSandbox('sb');
      assert.equal(await udpRaw(port, query('me'), 200), undefined); // socket closed
      assert.equal(dns.records.knows('sb'), false);
    } finally {
      await dns.close();
      await a.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
