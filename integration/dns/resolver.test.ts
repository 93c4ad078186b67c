// integration/dns/resolver.test.ts — the embedded resolver in a real network namespace, checked
// with dig: names, aliases, round robin, PTR, TCP, forwarding to an upstream in a separate netns
// (over a veth), a dead upstream (one timeout, then the next), an internal network (no forward),
// and a removed name answering NXDOMAIN at once — once with UDP on Node's dgram, once with UDP
// served by the offload worker (recvmmsg/sendmmsg, as the daemon runs it). Runs inside the
// private netns of scripts/test-integration.sh; everything it creates carries the prefix tdns<pid>.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { DnsRecords } from '../../core/dns/records.js';
import { DnsServer } from '../../core/dns/server.js';
import { Forwarder } from '../../core/dns/forward.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const UDP_BATCH = new URL('../../core/kernel/udp-batch.js', import.meta.url).href;
const UP = '10.253.0.2';
const DEAD = '10.253.0.3'; // on the link, never answers ARP: a black hole

async function dig(server: string, ...args: string[]): Promise<{ out: string; ms: number }> {
  const t = Date.now();
  const r = await execa('dig', [`@${server}`, '+tries=1', '+time=4', ...args], { reject: false });
  return { out: r.stdout, ms: Date.now() - t };
}
const short = async (server: string, ...args: string[]) => (await dig(server, '+short', ...args)).out.split('\n').filter(Boolean);
const status = async (server: string, ...args: string[]) => /status: (\w+)/.exec((await dig(server, ...args)).out)?.[1];

for (const udp of ['dgram', 'batch'] as const) describe(`embedded DNS in a network namespace (dig), UDP ${udp}`, function () {
  this.timeout(60000);
  const tag = `tdns${process.pid % 100000}${udp[0]}`;
  const upNs = `${tag}up`;
  const vethA = `${tag}a`;
  const vethB = `${tag}b`;
  let records: DnsRecords;
  let forwarder: Forwarder;
  let server: DnsServer;
  let upstream: ResultPromise | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await execa('ip', ['netns', 'add', upNs]);
    await execa('ip', ['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB, 'netns', upNs]);
    await execa('ip', ['addr', 'add', '10.253.0.1/24', 'dev', vethA]);
    await execa('ip', ['link', 'set', vethA, 'up']);
    await execa('ip', ['-n', upNs, 'addr', 'add', `${UP}/24`, 'dev', vethB]);
    await execa('ip', ['-n', upNs, 'link', 'set', vethB, 'up']);
    await execa('ip', ['-n', upNs, 'link', 'set', 'lo', 'up']);
    upstream = execa('ip', ['netns', 'exec', upNs, process.execPath, path.join(here, 'fake-upstream.js'), UP, '53'], { reject: false });
    await new Promise<void>((res, rej) => {
      upstream!.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) res(); });
      upstream!.once('exit', () => rej(new Error('fake upstream exited')));
    });

    records = new DnsRecords();
    records.addNetwork('front', { upstreams: [DEAD, UP] });
    records.addNetwork('back', { internal: true });
    records.addEndpoint({ networkId: 'front', sandboxId: 'app', name: 'app', aliases: ['web'], shortId: 'a1b2c3d4e5f6', ipv4: '10.10.0.2', ipv6: 'fd10::2' });
    records.addEndpoint({ networkId: 'back', sandboxId: 'app', name: 'app', ipv4: '10.20.0.2' });
    for (let i = 1; i <= 5; i++) records.addEndpoint({ networkId: 'front', sandboxId: `w${i}`, name: `worker${i}`, aliases: ['workers'], ipv4: `10.10.0.${10 + i}` });
    records.addEndpoint({ networkId: 'back', sandboxId: 'db', name: 'db', ipv4: '10.20.0.5' });
    forwarder = new Forwarder({ timeoutMs: 1000, deadForMs: 60_000 });
    server = new DnsServer({ records, forwarder, defaultUpstreams: () => [], udpBatch: udp === 'batch' ? { module: UDP_BATCH, threads: 2 } : undefined });
    await server.listen({ sandboxId: 'app', address: '127.0.0.11', port: 53 });
    await server.listen({ sandboxId: 'db', address: '127.0.0.12', port: 53 });
  });

  after(async () => {
    await server?.close();
    forwarder?.close();
    if (upstream?.pid) upstream.kill('SIGTERM');
    await upstream?.catch(() => undefined);
    await execa('ip', ['link', 'del', vethA], { reject: false });
    await execa('ip', ['netns', 'del', upNs], { reject: false });
  });

  it('listens on 127.0.0.11:53 over UDP and TCP (ss)', async () => {
    const u = (await execa('ss', ['-Hlnu', 'src', '127.0.0.11'])).stdout;
    const t = (await execa('ss', ['-Hlnt', 'src', '127.0.0.11'])).stdout;
    assert.match(u, /127\.0\.0\.11:53\b/);
    assert.match(t, /127\.0\.0\.11:53\b/);
  });

  it('resolves names, aliases and the short id; AAAA; NODATA for a missing type', async () => {
    assert.deepEqual((await short('127.0.0.11', 'app')).sort(), ['10.10.0.2', '10.20.0.2']);
    assert.deepEqual(await short('127.0.0.11', 'WEB'), ['10.10.0.2']);
    assert.deepEqual(await short('127.0.0.11', 'a1b2c3d4e5f6'), ['10.10.0.2']);
    assert.deepEqual(await short('127.0.0.11', 'app', 'AAAA'), ['fd10::2']);
    const nodata = await dig('127.0.0.11', 'worker1', 'AAAA');
    assert.match(nodata.out, /status: NOERROR/);
    assert.match(nodata.out, /ANSWER: 0/);
    assert.match(nodata.out, /flags: qr rd ra;/); // RA like Docker, no AA
  });

  it('round robin over an alias shared by 5 sandboxes', async () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 15; i++) {
      const a = await short('127.0.0.11', 'workers');
      assert.equal(a.length, 5);
      firsts.add(a[0]!);
    }
    assert.ok(firsts.size >= 2, `first answer never changed (${[...firsts]})`);
  });

  it('EDNS0: OPT echoed; over 512 bytes without EDNS → TC, with +bufsize the whole answer', async () => {
    const e = await dig('127.0.0.11', '+edns=0', '+bufsize=1232', 'web');
    assert.match(e.out, /EDNS: version: 0/);
    assert.match(e.out, /status: NOERROR/);
    for (let i = 0; i < 40; i++) records.addEndpoint({ networkId: 'front', sandboxId: `m${i}`, name: `many${i}`, aliases: ['many'], ipv4: `10.10.1.${i + 1}` });
    try {
      const tc = await dig('127.0.0.11', '+noedns', '+ignore', 'many');
      assert.match(tc.out, /flags: qr tc rd ra;/);
      assert.equal((await short('127.0.0.11', '+bufsize=4096', 'many')).length, 40);
    } finally {
      for (let i = 0; i < 40; i++) records.removeEndpoint('front', `m${i}`);
    }
  });

  it('PTR (dig -x) for IPv4 and IPv6', async () => {
    assert.deepEqual(await short('127.0.0.11', '-x', '10.10.0.11'), ['worker1.']);
    assert.deepEqual(await short('127.0.0.11', '-x', 'fd10::2'), ['app.']);
  });

  it('TCP (dig +tcp)', async () => {
    assert.deepEqual(await short('127.0.0.11', '+tcp', 'web'), ['10.10.0.2']);
  });

  it('forwards through a dead upstream: one timeout, then straight to the live one', async () => {
    const first = await dig('127.0.0.11', '+short', 'first.example');
    assert.equal(first.out.trim(), '203.0.113.77');
    assert.ok(first.ms >= 900, `first forward took only ${first.ms} ms (dead upstream not tried first?)`);
    assert.ok(forwarder.isDead(DEAD));
    const second = await dig('127.0.0.11', '+short', 'second.example');
    assert.equal(second.out.trim(), '203.0.113.77');
    assert.ok(second.ms < 800, `second forward took ${second.ms} ms`);
    assert.equal(await status('127.0.0.11', 'nx.example'), 'NXDOMAIN');
    assert.deepEqual(await short('127.0.0.11', '+tcp', 'outside.example'), ['203.0.113.77']);
  });

  it('internal network: local names only, NXDOMAIN for the rest, nothing forwarded', async () => {
    assert.deepEqual(await short('127.0.0.12', 'app'), ['10.20.0.2']); // only the back-network address
    assert.equal(await status('127.0.0.12', 'web'), 'NXDOMAIN'); // front-only alias: other network
    assert.equal(await status('127.0.0.12', 'outside.example'), 'NXDOMAIN');
  });

  it('a removed name is NXDOMAIN on the very next query (no reload, no socket reopened)', async () => {
    records.addEndpoint({ networkId: 'back', sandboxId: 'cache', name: 'cache', ipv4: '10.20.0.7' });
    assert.deepEqual(await short('127.0.0.12', 'cache'), ['10.20.0.7']);
    records.removeEndpoint('back', 'cache');
    assert.equal(await status('127.0.0.12', 'cache'), 'NXDOMAIN');
    assert.equal(await status('127.0.0.12', '-x', '10.20.0.7'), 'NXDOMAIN');
    // and the server kept its sockets: the next query on the same socket still answers
    assert.deepEqual(await short('127.0.0.12', 'db'), ['10.20.0.5']);
  });
});
