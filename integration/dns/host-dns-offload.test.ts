// integration/dns/host-dns-offload.test.ts — the host listener's UDP as the daemon serves it: by
// the offload worker threads (recvmmsg/sendmmsg from their replica of the records). Wildcard
// aliases and names below the network's zone are answered by the workers themselves (nothing
// published on tsd:dns:query), and REFUSED / NXDOMAIN come from the main thread; a listener
// added or removed while the threads run is seen by them at once.
// Runs inside the private netns of scripts/test-integration.sh (loopback only).
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { execa } from 'execa';
import { createEmbeddedDns, type EmbeddedDns, type QueryEvent } from '../../core/dns/index.js';

const UDP_BATCH = new URL('../../core/kernel/udp-batch.js', import.meta.url).href;
const ADDR = '127.0.0.31';

async function dig(port: number, name: string): Promise<{ status: string; answers: string[] }> {
  const r = await execa('dig', [`@${ADDR}`, '-p', String(port), '+tries=1', '+time=2', '+noall', '+comments', '+answer', name, 'A'], { reject: false });
  return {
    status: /status: (\w+)/.exec(r.stdout)?.[1] ?? `no answer: ${r.stdout}`,
    answers: r.stdout.split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.split(/\s+/).pop()!),
  };
}

describe('host listener served by the UDP offload workers', function () {
  this.timeout(60000);
  let dns: EmbeddedDns | undefined;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });

  after(async () => {
    await dns?.close();
  });

  it('wildcards and zone names come from the workers; misses are REFUSED / NXDOMAIN by the main thread', async () => {
    dns = createEmbeddedDns({ resolvConf: [], udpBatchModule: UDP_BATCH, udpThreads: 2 });
    dns.records.addNetwork('n');
    // The threads start (and copy the tables) before the host view exists: it reaches them as a change.
    const warm = await dns.server.listen({ sandboxId: 'sb', address: ADDR, port: 0, tcp: false });
    assert.ok(warm > 0);
    await dns.registry.add({ networkId: 'n', endpointId: 'e1', sandboxId: 'sb', names: ['front', '*.web'], ipv4: ['10.41.0.2'], ipv6: [] });
    const [served] = await dns.hostDns.serve({ networkId: 'n', name: 'lab', addresses: [ADDR], port: 0 });
    const port = Number(served!.split(':')[1]);
    assert.equal(dns.server.udpThreadRunning, true);

    const events: QueryEvent[] = [];
    const onEvent = (e: unknown) => events.push(e as QueryEvent);
    diagnostics.subscribe('tsd:dns:query', onEvent);
    try {
      for (const n of ['front', 'a.web', 'x.y.web.lab', 'front.lab']) assert.deepEqual(await dig(port, n), { status: 'NOERROR', answers: ['10.41.0.2'] }, n);
      assert.equal((await dig(port, 'example.com')).status, 'REFUSED');
      assert.equal((await dig(port, 'gone.lab')).status, 'NXDOMAIN');
    } finally {
      diagnostics.unsubscribe('tsd:dns:query', onEvent);
    }
    // Only the two misses went through the main thread.
    assert.deepEqual(events.map((e) => [e.name, e.rcode]).sort(), [['example.com.', 5], ['gone.lab.', 3]]);

    await dns.hostDns.unserve('n');
    assert.equal((await dig(port, 'front')).status.startsWith('no answer'), true, 'the socket is closed');
  });
});
