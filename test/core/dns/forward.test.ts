// test/core/dns/forward.test.ts — upstream handling: resolv.conf parsing (loopback skipped), a
// dead upstream costs one timeout then is skipped, no head-of-line blocking, bounded in-flight.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as dnsPacket from 'dns-packet';
import { Forwarder, hostUpstreams, parseResolvConf } from '../../../core/dns/forward.js';
import { FakeUpstream, query } from './helpers.js';

describe('dns forwarder', function () {
  this.timeout(20000);
  let live: FakeUpstream;
  let dead: dgram.Socket; // bound, never answers
  let deadAddr: string;
  let liveAddr: string;

  before(async () => {
    live = new FakeUpstream('198.51.100.7');
    liveAddr = `127.0.0.1:${await live.start()}`;
    dead = dgram.createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', r));
    deadAddr = `127.0.0.1:${dead.address().port}`;
  });
  after(async () => {
    dead.close();
    await live.stop();
  });

  it('parses resolv.conf and skips loopback servers (falls back to systemd-resolved upstreams)', () => {
    const c = parseResolvConf('# x\nnameserver 127.0.0.53\nnameserver 10.0.0.1 ; c\nnameserver fe80::1%eth0\nsearch a.b c\noptions ndots:2 edns0\nbogus\n');
    assert.deepEqual(c.nameservers, ['127.0.0.53', '10.0.0.1', 'fe80::1']);
    assert.deepEqual(c.search, ['a.b', 'c']);
    assert.deepEqual(c.options, ['ndots:2', 'edns0']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-dns-'));
    try {
      fs.writeFileSync(path.join(dir, 'a'), 'nameserver 127.0.0.53\nnameserver ::1\n');
      fs.writeFileSync(path.join(dir, 'b'), 'nameserver 192.0.2.53\nnameserver 2001:db8::53\n');
      assert.deepEqual(hostUpstreams([path.join(dir, 'a'), path.join(dir, 'b')]), ['192.0.2.53', '[2001:db8::53]:53']);
      assert.deepEqual(hostUpstreams([path.join(dir, 'a'), path.join(dir, 'missing')]), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('restores the client id and checks the answer comes from the server asked', async () => {
    const f = new Forwarder({ timeoutMs: 500 });
    try {
      const r = await f.forward(query('a.example', 'A', { id: 4242 }), [liveAddr]);
      assert.equal(r.kind, 'answer');
      const p = dnsPacket.decode(r.kind === 'answer' ? r.packet : Buffer.alloc(0));
      assert.equal(p.id, 4242);
    } finally {
      f.close();
    }
  });

  it('a dead upstream costs one timeout, then is skipped; concurrent queries are not blocked', async () => {
    // Bounds are relative to the 1.5 s timeout (wide margins: a loaded machine must not fail it).
    const f = new Forwarder({ timeoutMs: 1500, deadForMs: 10_000 });
    try {
      let t = Date.now();
      const first = await f.forward(query('one.example'), [deadAddr, liveAddr]);
      const firstMs = Date.now() - t;
      assert.equal(first.kind, 'answer');
      assert.ok(firstMs >= 1480 && firstMs < 4500, `first query took ${firstMs} ms`);
      assert.ok(f.isDead(deadAddr));
      t = Date.now();
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => f.forward(query(`q${i}.example`), [deadAddr, liveAddr])));
      const manyMs = Date.now() - t;
      assert.ok(many.every((r) => r.kind === 'answer' && r.server === liveAddr));
      assert.ok(manyMs < 1200, `50 queries after the dead mark took ${manyMs} ms (one more try of the dead upstream would cost 1500)`);
    } finally {
      f.close();
    }
  });

  it('queries in flight are bounded: the excess gets busy at once, not a queue', async () => {
    const f = new Forwarder({ timeoutMs: 500, maxInFlight: 10 });
    try {
      const t = Date.now();
      const rs = f.forward(query('x.example'), [deadAddr]);
      const all = [rs, ...Array.from({ length: 14 }, (_, i) => f.forward(query(`b${i}.example`), [deadAddr]))];
      assert.equal(f.inFlightCount, 10);
      const res = await Promise.all(all);
      const busy = res.filter((r) => r.kind === 'busy').length;
      assert.equal(busy, 5);
      assert.equal(res.filter((r) => r.kind === 'failed').length, 10);
      assert.ok(Date.now() - t < 1500);
      assert.equal(f.inFlightCount, 0);
    } finally {
      f.close();
    }
  });

  it('SERVFAIL from one upstream moves on to the next', async () => {
    const bad = dgram.createSocket('udp4');
    await new Promise<void>((r) => bad.bind(0, '127.0.0.1', r));
    bad.on('message', (m, ri) => {
      const q = dnsPacket.decode(m);
      bad.send(dnsPacket.encode({ type: 'response', id: q.id, flags: 2, questions: q.questions }), ri.port, ri.address);
    });
    const f = new Forwarder({ timeoutMs: 500 });
    try {
      const r = await f.forward(query('s.example'), [`127.0.0.1:${bad.address().port}`, liveAddr]);
      assert.ok(r.kind === 'answer' && r.server === liveAddr);
    } finally {
      f.close();
      bad.close();
    }
  });
});

describe('dns forwarder over IPv6', function () {
  this.timeout(10000);
  it('accepts answers from an upstream written in a non-canonical IPv6 form', async () => {
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp6');
    try {
      await new Promise<void>((r, j) => { s.once('error', j); s.bind(0, '::1', () => r()); });
    } catch {
      s.close();
      return; // no IPv6 loopback here
    }
    s.on('message', (m, ri) => {
      const q = dnsPacket.decode(m);
      s.send(dnsPacket.encode({ type: 'response', id: q.id, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, data: '192.0.2.66' }] }), ri.port, ri.address);
    });
    const f = new Forwarder({ timeoutMs: 500 });
    try {
      const r = await f.forward(query('v6.example'), [`[0:0:0:0:0:0:0:0001]:${s.address().port}`]);
      assert.equal(r.kind, 'answer');
    } finally {
      f.close();
      s.close();
    }
  });
});
