// test/core/dns/server.test.ts — the resolver on 127.0.0.1 random ports with fake upstreams in
// process: local answers, NXDOMAIN vs NODATA, flags, round robin, PTR, EDNS0/TC, TCP pipelining
// and limits, malformed packets, forwarding, internal networks, immediate removal.
import assert from 'node:assert/strict';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { DnsRecords } from '../../../core/dns/records.js';
import { DnsServer } from '../../../core/dns/server.js';
import { Forwarder } from '../../../core/dns/forward.js';
import { sys, check, AF_INET, SOCK_DGRAM, SOCK_STREAM, SOCK_NONBLOCK, SOCK_CLOEXEC } from '../../../core/kernel/libc.js';
import { FakeUpstream, addrs, query, rcodeOf, tcpAsk, udpAsk, udpRaw} from './helpers.js';

describe('dns server', function () {
  this.timeout(20000);
  let records: DnsRecords;
  let server: DnsServer;
  let forwarder: Forwarder;
  let up: FakeUpstream;
  let port: number; // sandbox s1 (on ext + int)
  let intPort: number; // sandbox s3 (internal only)
  let lonePort: number; // sandbox on no network

  before(async () => {
    up = new FakeUpstream();
    await up.start();
    records = new DnsRecords();
    records.addNetwork('ext', { upstreams: [`127.0.0.1:${up.port}`] });
    records.addNetwork('int', { internal: true });
    records.addEndpoint({ networkId: 'ext', sandboxId: 's1', name: 'web', aliases: ['www'], shortId: '0123456789ab', ipv4: '10.0.0.2', ipv6: 'fd00::2' });
    records.addEndpoint({ networkId: 'int', sandboxId: 's1', name: 'web', ipv4: '10.1.0.2' });
    records.addEndpoint({ networkId: 'ext', sandboxId: 's2', name: 'db', ipv4: '10.0.0.3' });
    records.addEndpoint({ networkId: 'int', sandboxId: 's3', name: 'vault', ipv4: '10.1.0.9' });
    for (let i = 0; i < 40; i++) records.addEndpoint({ networkId: 'ext', sandboxId: `rr${i}`, name: `rr${i}`, aliases: ['pool'], ipv4: `10.0.1.${i + 1}` });
    forwarder = new Forwarder({ timeoutMs: 300 });
    server = new DnsServer({ records, forwarder, defaultUpstreams: () => [] , tcpIdleMs: 500, maxTcpConnections: 4 });
    port = await server.listen({ sandboxId: 's1', address: '127.0.0.1', port: 0 });
    intPort = await server.listen({ sandboxId: 's3', address: '127.0.0.1', port: 0 });
    lonePort = await server.listen({ sandboxId: 'lonely', address: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await server.close();
    forwarder.close();
    await up.stop();
  });

  it('answers a local name with Docker flags: QR, RD echoed, RA, not AA; TTL 600', async () => {
    const r = await udpAsk(port, query('web'));
    assert.equal(rcodeOf(r), 'NOERROR');
    assert.deepEqual(addrs(r).sort(), ['10.0.0.2', '10.1.0.2']);
    assert.equal(r.flags! & dnsPacket.RECURSION_AVAILABLE, dnsPacket.RECURSION_AVAILABLE);
    assert.equal(r.flags! & dnsPacket.RECURSION_DESIRED, dnsPacket.RECURSION_DESIRED);
    assert.equal(r.flags! & dnsPacket.AUTHORITATIVE_ANSWER, 0);
    assert.equal((r.answers![0] as { ttl: number }).ttl, 600);
    assert.equal(r.questions![0]!.name, 'web');
  });

  it('keeps the question case (0x20) and matches names case-insensitively', async () => {
    const r = await udpAsk(port, query('WwW'));
    assert.equal(r.questions![0]!.name, 'WwW');
    assert.deepEqual(addrs(r), ['10.0.0.2']);
  });

  it('short id and AAAA', async () => {
    assert.deepEqual(addrs(await udpAsk(port, query('0123456789ab'))), ['10.0.0.2']);
    assert.deepEqual(addrs(await udpAsk(port, query('web', 'AAAA'))), ['fd00::2']);
  });

  it('NODATA (NOERROR, no answers) for a known name without that type — not forwarded', async () => {
    const before = up.received;
    const r = await udpAsk(port, query('db', 'AAAA'));
    assert.equal(rcodeOf(r), 'NOERROR');
    assert.equal(r.answers!.length, 0);
    const mx = await udpAsk(port, query('db', 'MX'));
    assert.equal(rcodeOf(mx), 'NOERROR');
    assert.equal(mx.answers!.length, 0);
    assert.equal(up.received, before);
  });

  it('unknown names go upstream; upstream NXDOMAIN passes through', async () => {
    const r = await udpAsk(port, query('example.org'));
    assert.deepEqual(addrs(r), ['192.0.2.1']);
    const nx = await udpAsk(port, query('nx.example.org'));
    assert.equal(rcodeOf(nx), 'NXDOMAIN');
  });

  it('internal network: local names answered, the rest NXDOMAIN, nothing forwarded', async () => {
    const before = up.received;
    assert.deepEqual(addrs(await udpAsk(intPort, query('vault'))), ['10.1.0.9']);
    assert.deepEqual(addrs(await udpAsk(intPort, query('web'))), ['10.1.0.2']); // only its network's address
    const r = await udpAsk(intPort, query('example.org'));
    assert.equal(rcodeOf(r), 'NXDOMAIN');
    assert.equal(up.received, before);
  });

  it('a socket of a sandbox on no network is REFUSED', async () => {
    assert.equal(rcodeOf(await udpAsk(lonePort, query('web'))), 'REFUSED');
  });

  it('round robin: 40 addresses, first one varies', async () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await udpAsk(port, query('pool', 'A', { edns: 1232 }));
      assert.equal(r.answers!.length, 40);
      firsts.add(addrs(r)[0]!);
    }
    assert.ok(firsts.size >= 5, `only ${firsts.size} different first answers`);
  });

  it('PTR for IPv4 and IPv6', async () => {
    const r = await udpAsk(port, query('2.0.0.10.in-addr.arpa', 'PTR'));
    assert.deepEqual(addrs(r), ['web']);
    const r6 = await udpAsk(port, query('2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa', 'PTR'));
    assert.deepEqual(addrs(r6), ['web']);
  });

  it('no EDNS: 512-byte limit, TC set, answers trimmed; EDNS size honoured; OPT echoed', async () => {
    const raw = (await udpRaw(port, query('pool')))!;
    assert.ok(raw.length <= 512, `${raw.length} bytes`);
    const r = dnsPacket.decode(raw);
    assert.equal(r.flags! & dnsPacket.TRUNCATED_RESPONSE, dnsPacket.TRUNCATED_RESPONSE);
    assert.ok(r.answers!.length > 0 && r.answers!.length < 40);
    const big = await udpAsk(port, query('pool', 'A', { edns: 4096 }));
    assert.equal(big.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
    assert.equal(big.answers!.length, 40);
    assert.equal(big.additionals!.filter((a) => a.type === 'OPT').length, 1);
  });

  it('EDNS version 1 gets BADVERS', async () => {
    const q = Buffer.from(query('web', 'A', { edns: 1232 }));
    q[q.length - 5] = 1; // OPT TTL byte 2: version
    const raw = (await udpRaw(port, q))!;
    const r = dnsPacket.decode(raw);
    assert.equal(r.answers!.length, 0);
    assert.equal(raw[raw.length - 6], 1); // extended rcode 1 → BADVERS (16)
  });

  it('TCP: pipelined queries on one connection, all answered, no truncation', async () => {
    const msgs = [query('web'), query('pool'), query('example.org'), query('db', 'AAAA'), query('nx.x')];
    const rs = await tcpAsk(port, msgs);
    const byName = new Map(rs.map((r) => [r.questions![0]!.name, r]));
    assert.equal(byName.get('pool')!.answers!.length, 40);
    assert.equal(byName.get('pool')!.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
    assert.deepEqual(addrs(byName.get('example.org')!), ['192.0.2.1']);
    assert.equal(rcodeOf(byName.get('nx.x')!), 'NXDOMAIN');
    assert.equal(byName.get('db')!.answers!.length, 0);
  });

  it('TCP: idle connections are closed and the connection count is bounded', async () => {
    const socks = await Promise.all(Array.from({ length: 6 }, () => new Promise<net.Socket>((res) => {
      const s = net.connect(port, '127.0.0.1', () => res(s));
      s.on('error', () => {});
    })));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(server.tcpConnections <= 4, `${server.tcpConnections} open`);
    const closed = await Promise.all(socks.map((s) => new Promise<boolean>((res) => {
      if (s.destroyed) return res(true);
      const t = setTimeout(() => res(false), 2000);
      s.on('close', () => { clearTimeout(t); res(true); });
    })));
    assert.ok(closed.every(Boolean));
    for (let i = 0; i < 50 && server.tcpConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.tcpConnections, 0);
  });

  it('malformed packets get FORMERR/NOTIMP or are dropped, and the server keeps answering', async () => {
    const good = query('web');
    const cases: Array<[string, Buffer, string | undefined]> = [
      ['short', Buffer.from([1, 2, 3]), undefined],
      ['response', Buffer.from(good).fill(0x80, 2, 3), undefined],
      ['truncated name', good.subarray(0, 15), 'FORMERR'],
      ['two questions', Buffer.from(good).fill(2, 5, 6), 'FORMERR'],
      ['opcode 2', Buffer.from(good).fill(0x10, 2, 3), 'NOTIMP'],
      ['label > 63', Buffer.concat([good.subarray(0, 12), Buffer.from([64]), Buffer.alloc(70, 97), Buffer.from([0, 0, 1, 0, 1])]), 'FORMERR'],
      ['pointer in question', Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), 'FORMERR'],
      ['bad OPT', Buffer.concat([Buffer.from(good).fill(1, 11, 12), Buffer.from([0, 0, 41])]), 'FORMERR'],
    ];
    for (const [what, pkt, want] of cases) {
      const raw = await udpRaw(port, pkt, 300);
      if (want === undefined) assert.equal(raw, undefined, what);
      else {
        assert.ok(raw, `${what}: no answer`);
        assert.equal(raw[3]! & 0x0f, { FORMERR: 1, NOTIMP: 4 }[want], what);
        assert.equal(raw.readUInt16BE(0), pkt.readUInt16BE(0), `${what}: id echoed`);
      }
    }
    // random garbage: never a crash
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(good);
      for (let j = 0; j < 3; j++) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
      await udpRaw(port, b.subarray(0, Math.floor(Math.random() * (b.length + 1))), 1).catch(() => undefined);
    }
    assert.deepEqual(addrs(await udpAsk(port, query('www'))), ['10.0.0.2']);
  });

  it('a removed name is NXDOMAIN-or-forwarded from the next query; added names answer at once', async () => {
    records.addEndpoint({ networkId: 'int', sandboxId: 's9', name: 'late', ipv4: '10.1.0.50' });
    assert.deepEqual(addrs(await udpAsk(intPort, query('late'))), ['10.1.0.50']);
    records.removeEndpoint('int', 's9');
    assert.equal(rcodeOf(await udpAsk(intPort, query('late'))), 'NXDOMAIN');
  });

  it('upstream timeout → SERVFAIL; TCP client gets the TC answer retried over TCP', async () => {
    up.mute = true;
    try {
      assert.equal(rcodeOf(await udpAsk(port, query('slow.example'), 2000)), 'SERVFAIL');
    } finally {
      up.mute = false;
    }
    // The upstream is now marked dead, but it is the only one: it is still tried.
    up.bigAnswer = 100;
    try {
      const udp = await udpAsk(port, query('big.example', 'A', { edns: 4096 }));
      assert.equal(udp.flags! & dnsPacket.TRUNCATED_RESPONSE, dnsPacket.TRUNCATED_RESPONSE);
      const [tcp] = await tcpAsk(port, [query('big.example')]);
      assert.equal(tcp!.answers!.length, 100);
      assert.equal(tcp!.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
    } finally {
      up.bigAnswer = 0;
    }
  });
});

describe('dns server: pre-bound sockets and limits', function () {
  this.timeout(20000);

  it('serves a sandbox on already-bound fds (as bindSocketInNetns hands them over)', async () => {
    const records = new DnsRecords();
    records.addNetwork('n');
    records.addEndpoint({ networkId: 'n', sandboxId: 'sb', name: 'api', ipv4: '10.5.0.2' });
    const forwarder = new Forwarder();
    const server = new DnsServer({ records, forwarder, defaultUpstreams: () => [] });
    // Bound sockets created outside Node (as core/kernel/netns will hand them over): only fds.
    const port = 20000 + Math.floor(Math.random() * 20000);
    const udpFd = boundFd(SOCK_DGRAM, port);
    const tcpFd = boundFd(SOCK_STREAM, port);
    const uPort = port;
    const tPort = port;
    try {
      await server.attachSandbox('sb', { udp: [{ fd: udpFd, family: 4 }], tcp: [{ fd: tcpFd }] });
      assert.deepEqual(addrs(await udpAsk(uPort, query('api'))), ['10.5.0.2']);
      const [viaTcp] = await tcpAsk(tPort, [query('api')]);
      assert.deepEqual(addrs(viaTcp!), ['10.5.0.2']);
    } finally {
      await server.detachSandbox('sb');
      forwarder.close();
    }
  });

  it('a full forwarder answers SERVFAIL at once instead of queueing', async () => {
    const records = new DnsRecords();
    const dgram = await import('node:dgram');
    const black = dgram.createSocket('udp4'); // never answers
    await new Promise<void>((r) => black.bind(0, '127.0.0.1', r));
    records.addNetwork('n', { upstreams: [`127.0.0.1:${black.address().port}`] });
    records.addEndpoint({ networkId: 'n', sandboxId: 'sb', name: 'x', ipv4: '10.5.0.3' });
    const forwarder = new Forwarder({ maxInFlight: 2, timeoutMs: 3000 });
    const server = new DnsServer({ records, forwarder, defaultUpstreams: () => [] });
    const port = await server.listen({ sandboxId: 'sb', address: '127.0.0.1', port: 0 });
    try {
      const pending = [udpRaw(port, query('a.example'), 100), udpRaw(port, query('b.example'), 100)];
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      const r = await udpAsk(port, query('c.example'), 1000);
      assert.equal(rcodeOf(r), 'SERVFAIL');
      assert.ok(Date.now() - t0 < 500);
      assert.deepEqual(addrs(await udpAsk(port, query('x'))), ['10.5.0.3']); // local answers unaffected
      await Promise.all(pending);
    } finally {
      await server.close();
      forwarder.close();
      black.close();
    }
  });
});

/** socket() + bind() to 127.0.0.1:port through libc, outside Node's handles. */
function boundFd(type: number, port: number): number {
  const fd = check(sys.socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number, 'socket', 'test');
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  Buffer.from([127, 0, 0, 1]).copy(sa, 4);
  check(sys.bind(fd, sa, 16) as number, 'bind', `127.0.0.1:${port}`);
  return fd;
}
