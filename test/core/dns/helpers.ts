// test/core/dns/helpers.ts — DNS test clients (UDP and TCP, raw and dns-packet) and a fake upstream.
import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';

export type Packet = dnsPacket.Packet;

let nextId = 1;

/** Encode a standard query; `edns` adds an OPT record with that UDP size. */
export function query(name: string, type: dnsPacket.RecordType = 'A', o: { edns?: number; id?: number } = {}): Buffer {
  const p: dnsPacket.Packet = {
    type: 'query', id: o.id ?? (nextId++ & 0xffff), flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  };
  if (o.edns) p.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: o.edns, flags: 0 } as dnsPacket.Answer];
  return dnsPacket.encode(p);
}

/** Send raw bytes over UDP, resolve with the raw reply, or undefined after `timeoutMs`. */
export function udpRaw(port: number, msg: Buffer, timeoutMs = 1000, host = '127.0.0.1'): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const t = setTimeout(() => { s.close(); resolve(undefined); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m); });
    s.send(msg, port, host);
  });
}

export async function udpAsk(port: number, msg: Buffer, timeoutMs = 1000, host = '127.0.0.1'): Promise<Packet> {
  const r = await udpRaw(port, msg, timeoutMs, host);
  if (!r) throw new Error('no UDP answer');
  return dnsPacket.decode(r);
}

/** Send several framed queries on one TCP connection at once; resolve with the decoded replies. */
export function tcpAsk(port: number, msgs: Buffer[], host = '127.0.0.1', timeoutMs = 2000): Promise<Packet[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host);
    const out: Packet[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { c.destroy(); reject(new Error(`TCP: ${out.length}/${msgs.length} answers`)); }, timeoutMs);
    c.on('error', (e) => { clearTimeout(t); reject(e); });
    c.on('connect', () => c.write(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m])))));
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const n = buf.readUInt16BE(0);
        out.push(dnsPacket.decode(buf.subarray(2, 2 + n)));
        buf = buf.subarray(2 + n);
      }
      if (out.length === msgs.length) { clearTimeout(t); c.destroy(); resolve(out); }
    });
  });
}

export function addrs(p: Packet): string[] {
  return (p.answers ?? []).map((a) => String((a as { data: unknown }).data));
}

export function rcodeOf(p: Packet): string {
  return (p as { rcode?: string }).rcode ?? 'NOERROR';
}

/** A fake upstream DNS server on 127.0.0.1 (UDP + TCP on one port). */
export class FakeUpstream {
  received = 0;
  /** answer: A records for names, NXDOMAIN for `nx.*`, silence when `mute`. */
  mute = false;
  delayMs = 0;
  /** When set, UDP answers carry this many A records (to force TC). */
  bigAnswer = 0;
  private udp = dgram.createSocket('udp4');
  private tcp = net.createServer();
  port = 0;

  constructor(readonly answerIp = '192.0.2.1') {}

  async start(port = 0, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((r) => this.udp.bind(port, host, r));
    this.port = this.udp.address().port;
    this.udp.on('message', (m, ri) => {
      this.received++;
      if (this.mute) return;
      const reply = this.respond(m, true);
      setTimeout(() => this.udp.send(reply, ri.port, ri.address), this.delayMs);
    });
    this.tcp.on('connection', (c) => {
      c.on('error', () => c.destroy());
      c.once('data', (d: Buffer) => {
        this.received++;
        const r = this.respond(d.subarray(2), false);
        c.end(Buffer.concat([Buffer.from([r.length >> 8, r.length & 0xff]), r]));
      });
    });
    await new Promise<void>((r) => this.tcp.listen(this.port, host, r));
    return this.port;
  }

  private respond(m: Buffer, udp: boolean): Buffer {
    const q = dnsPacket.decode(m);
    const question = q.questions![0]!;
    const nx = question.name.startsWith('nx.');
    const n = this.bigAnswer || 1;
    const answers = nx ? [] : Array.from({ length: n }, (_, i) => ({
      type: 'A' as const, name: question.name, ttl: 60, data: this.bigAnswer ? `10.9.${i >> 8}.${i & 255}` : this.answerIp,
    }));
    let tc = false;
    if (udp && this.bigAnswer) { tc = true; answers.length = 1; }
    return dnsPacket.encode({
      type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (tc ? dnsPacket.TRUNCATED_RESPONSE : 0) | (nx ? 3 : 0),
      questions: q.questions, answers,
    });
  }

  async stop(): Promise<void> {
    this.udp.close();
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}
