// integration/dns/sandbox-netns.test.ts — the resolver serving each sandbox inside its own netns
// at 127.0.0.11:53 (sockets from core/kernel/netns bindSocketInNetns, as the daemon wires it),
// records fed through the DnsRegistry seam; checked with `ip netns exec … dig` and `ss`.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { createEmbeddedDns, type EmbeddedDns } from '../../core/dns/index.js';
import { bindSocketInNetns, createNetns, deleteNetns, openNetns } from '../../core/kernel/netns.js';

const UDP_BATCH = new URL('../../core/kernel/udp-batch.js', import.meta.url).href;

async function digIn(ns: string, ...args: string[]): Promise<string> {
  return (await execa('ip', ['netns', 'exec', ns, 'dig', '@127.0.0.11', '+tries=1', '+time=3', ...args], { reject: false })).stdout;
}
const shortIn = async (ns: string, ...a: string[]) => (await digIn(ns, '+short', ...a)).split('\n').filter(Boolean);
const statusIn = async (ns: string, ...a: string[]) => /status: (\w+)/.exec(await digIn(ns, ...a))?.[1];

for (const udp of ['dgram', 'batch'] as const) describe(`embedded DNS per sandbox netns (127.0.0.11:53 inside each), UDP ${udp}`, function () {
  this.timeout(60000);
  const tag = `tdsb${process.pid % 100000}${udp[0]}`;
  const nsA = `${tag}a`;
  const nsB = `${tag}b`;
  let dns: EmbeddedDns;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    createNetns(nsA).close();
    createNetns(nsB).close();
    dns = createEmbeddedDns({
      resolvConf: [],
      udpBatchModule: udp === 'batch' ? UDP_BATCH : undefined,
      udpThreads: 2, // as the daemon on 2 cores
      openSocket: (p, o) => {
        const ns = openNetns({ path: p });
        try {
          return bindSocketInNetns(ns, o);
        } finally {
          ns.close();
        }
      },
    });
    dns.records.addNetwork('front');
    dns.records.addNetwork('back', { internal: true });
    await dns.registry.add({ networkId: 'front', endpointId: 'e1', sandboxId: 'A', names: ['alpha', 'a0a0a0a0a0a0'], ipv4: ['10.30.0.2'], ipv6: [] });
    await dns.registry.add({ networkId: 'front', endpointId: 'e2', sandboxId: 'B', names: ['beta', 'svc'], ipv4: ['10.30.0.3'], ipv6: [] });
    await dns.registry.add({ networkId: 'back', endpointId: 'e3', sandboxId: 'B', names: ['beta'], ipv4: ['10.31.0.3'], ipv6: [] });
    await dns.registry.add({ networkId: 'back', endpointId: 'e4', sandboxId: 'D', names: ['db'], ipv4: ['10.31.0.9'], ipv6: [] });
    await dns.serveSandbox('A', `/run/netns/${nsA}`);
    await dns.serveSandbox('B', `/run/netns/${nsB}`);
  });

  after(async () => {
    await dns?.close();
    deleteNetns(nsA);
    deleteNetns(nsB);
  });

  it('each sandbox netns has the resolver on 127.0.0.11:53 (UDP and TCP); the test netns does not', async () => {
    for (const ns of [nsA, nsB]) {
      const ss = (await execa('ip', ['netns', 'exec', ns, 'ss', '-Hlnut'])).stdout;
      assert.match(ss, /udp\s+\S+\s+\d+\s+\d+\s+127\.0\.0\.11:53\b/);
      assert.match(ss, /tcp\s+\S+\s+\d+\s+\d+\s+127\.0\.0\.11:53\b/);
    }
    assert.doesNotMatch((await execa('ss', ['-Hlnu'])).stdout, /127\.0\.0\.11:53\b/);
  });

  it('answers are scoped to the sandbox networks, by the socket the query came in on', async () => {
    assert.deepEqual(await shortIn(nsA, 'svc'), ['10.30.0.3']);
    assert.deepEqual((await shortIn(nsB, 'beta')).sort(), ['10.30.0.3', '10.31.0.3']);
    assert.deepEqual(await shortIn(nsA, 'beta'), ['10.30.0.3']); // A sees only front
    assert.deepEqual(await shortIn(nsB, 'db'), ['10.31.0.9']);
    assert.equal(await statusIn(nsA, 'db'), 'NXDOMAIN'); // A is not on back; no upstreams configured
    assert.deepEqual(await shortIn(nsB, '+tcp', 'a0a0a0a0a0a0'), ['10.30.0.2']);
  });

  it('registry.remove → NXDOMAIN at once; detachSandbox closes the sockets in the netns', async () => {
    await dns.registry.remove('front', 'e2');
    await dns.registry.remove('front', 'e2');
    assert.equal(await statusIn(nsA, 'svc'), 'NXDOMAIN');
    await dns.detachSandbox('A');
    const ss = (await execa('ip', ['netns', 'exec', nsA, 'ss', '-Hlnut'])).stdout;
    assert.doesNotMatch(ss, /127\.0\.0\.11:53\b/);
    assert.deepEqual(await shortIn(nsB, 'db'), ['10.31.0.9']); // B unaffected
    assert.equal(dns.server.udpThreadRunning, udp === 'batch'); // B still served by the thread
    await dns.detachSandbox('B');
    assert.doesNotMatch((await execa('ip', ['netns', 'exec', nsB, 'ss', '-Hlnut'])).stdout, /127\.0\.0\.11:53\b/);
  });
});
