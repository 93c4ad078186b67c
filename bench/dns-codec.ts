// bench/dns-codec.ts — the DNS answer hot path, measured two ways on the same queries: dns-packet
// (decode the query into objects, look up, encode a response) vs core/dns/wire.ts (slice the
// question, look up, append fixed-size records). The faster one is what server.ts uses.
import * as dnsPacket from 'dns-packet';
import { DnsRecords, wireKey, TYPE_A } from '../core/dns/records.js';
import { buildAnswer, parseQuery } from '../core/dns/wire.js';

const N = Number(process.env.N ?? 300_000);
const records = new DnsRecords();
records.addNetwork('n');
for (let i = 0; i < 10_000; i++) records.addEndpoint({ networkId: 'n', sandboxId: `s${i}`, name: `c${i}`, ipv4: `10.0.${i >> 8}.${i & 255}` });
const queries = Array.from({ length: 1000 }, (_, i) => dnsPacket.encode({
  type: 'query', id: i, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `c${(i * 7) % 10_000}`, class: 'IN' }],
  additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0 } as dnsPacket.Answer],
}));

function viaDnsPacket(msg: Buffer): Buffer {
  const q = dnsPacket.decode(msg);
  const question = q.questions![0]!;
  const local = records.lookup('s1', wireKey(question.name), TYPE_A);
  const answers: dnsPacket.Answer[] = local.kind === 'records'
    ? local.rdata.map((r) => ({ type: 'A', name: question.name, ttl: 600, data: [...r].join('.') }))
    : [];
  return dnsPacket.encode({
    type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (q.flags! & dnsPacket.RECURSION_DESIRED),
    questions: q.questions, answers, additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0 } as dnsPacket.Answer],
  });
}

function viaWire(msg: Buffer): Buffer {
  const r = parseQuery(msg);
  if (r.kind !== 'query') throw new Error('parse');
  const local = records.lookup('s1', r.query.key, TYPE_A);
  return buildAnswer(r.query, { rcode: 0, type: TYPE_A, rdata: local.kind === 'records' ? local.rdata : [], ttl: 600, maxSize: 1232 });
}

function time(name: string, fn: (m: Buffer) => Buffer): number {
  for (let i = 0; i < 20_000; i++) fn(queries[i % 1000]!); // warm-up
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < N; i++) bytes += fn(queries[i % 1000]!).length;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${name.padEnd(12)} ${(ns / 1000).toFixed(2)} µs/answer  ${(1e9 / ns / 1000).toFixed(0)}k answers/s  (${bytes} bytes)`);
  return ns;
}

// Both must produce equivalent answers.
const a = dnsPacket.decode(viaDnsPacket(queries[3]!));
const b = dnsPacket.decode(viaWire(queries[3]!));
if (JSON.stringify(a.answers) !== JSON.stringify(b.answers)) throw new Error('codecs disagree');

const slow = time('dns-packet', viaDnsPacket);
const fast = time('hand-coded', viaWire);
console.log(`hand-coded / dns-packet speed-up: ${(slow / fast).toFixed(1)}x`);
