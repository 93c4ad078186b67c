// integration/dns/fake-upstream.ts — a tiny upstream DNS server for the integration tests, run in
// its own netns: `node fake-upstream.js ADDRESS PORT`. Answers every A query with 203.0.113.77,
// `nx.*` with NXDOMAIN; prints "ready" once UDP and TCP listen.
import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';

const [address = '0.0.0.0', portText = '53'] = process.argv.slice(2);
const port = Number(portText);

function respond(m: Buffer): Buffer {
  const q = dnsPacket.decode(m);
  const question = q.questions![0]!;
  const nx = question.name.startsWith('nx.');
  return dnsPacket.encode({
    type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED | (nx ? 3 : 0),
    questions: q.questions,
    answers: nx || question.type !== 'A' ? [] : [{ type: 'A', name: question.name, ttl: 30, data: '203.0.113.77' }],
  });
}

const udp = dgram.createSocket('udp4');
udp.on('message', (m, ri) => {
  try { udp.send(respond(m), ri.port, ri.address); } catch { /* garbage */ }
});
const tcp = net.createServer((c) => {
  c.on('error', () => c.destroy());
  c.once('data', (d: Buffer) => {
    try {
      const r = respond(d.subarray(2));
      c.end(Buffer.concat([Buffer.from([r.length >> 8, r.length & 0xff]), r]));
    } catch { c.destroy(); }
  });
});
udp.bind(port, address, () => tcp.listen(port, address, () => console.log('ready')));
process.on('SIGTERM', () => process.exit(0));
