// core/dns/forward.ts — sends the queries the resolver cannot answer locally to upstream servers,
// and reads the host's resolv.conf to find them.
//
// Each forwarded query is independent: its own id and timer; a slow or dead upstream delays only
// the queries sent to it (moby/moby#20335: names resolved slowly because outside queries first
// timed out). A server that times out is marked dead for `deadForMs` and tried last meanwhile, so
// one dead server costs one timeout, not one per query. The number of queries in flight is bounded
// (`maxInFlight`, configurable — moby/libnetwork#2214); when full, forward() answers `busy` at once
// instead of queueing. UDP first; a truncated answer is retried over TCP when the client asked over
// TCP (a UDP client gets the TC answer and retries over TCP itself, as with Docker).
//
// Sockets are opened in tsd's own network namespace (as Docker does for bridge networks): the
// upstreams are the host's, reachable from here, not necessarily from the sandbox.

import dgram from 'node:dgram';
import net from 'node:net';
import fs from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { parseServer } from './records.js';

export interface ForwarderOptions {
  /** Most forwarded queries in flight at once (default 1024, Docker's maxConcurrent). */
  maxInFlight?: number;
  /** Per-upstream, per-attempt timeout in ms (default 2000). */
  timeoutMs?: number;
  /** How long a server that timed out is tried last (default 30000 ms). */
  deadForMs?: number;
  /** UDP sockets per address family; queries are spread over them (default 4). */
  sockets?: number;
}

export type ForwardResult =
  | { kind: 'answer'; packet: Buffer; server: string }
  /** Too many queries in flight: answer SERVFAIL now, the client retries. */
  | { kind: 'busy' }
  /** Every upstream timed out or failed. */
  | { kind: 'failed' };

interface Pending {
  host: string;
  port: number;
  question: Buffer;
  resolve: (b: Buffer | undefined) => void;
  timer: NodeJS.Timeout;
}

const RCODE_SERVFAIL = 2;
const RCODE_REFUSED = 5;

export class Forwarder {
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  readonly deadForMs: number;
  private readonly nSockets: number;
  private inFlight = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly deadUntil = new Map<string, number>();
  private udp4: dgram.Socket[] | undefined;
  private udp6: dgram.Socket[] | undefined;
  private next = 0;
  private readonly ids = new Uint16Array(512);
  private idPos = 512;
  private closed = false;

  constructor(opts: ForwarderOptions = {}) {
    this.maxInFlight = opts.maxInFlight ?? 1024;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.deadForMs = opts.deadForMs ?? 30_000;
    this.nSockets = opts.sockets ?? 4;
    if (!(this.maxInFlight >= 1 && this.maxInFlight <= 60_000)) throw new RangeError('maxInFlight: must be 1..60000');
  }

  /** Queries currently waiting for an upstream. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Is `server` currently marked dead? */
  isDead(server: string, now = Date.now()): boolean {
    return (this.deadUntil.get(server) ?? 0) > now;
  }

  /**
   * Forward `query` (a complete DNS message; its id is replaced on the wire and restored in the
   * answer) to `servers`, live ones first, each tried once with `timeoutMs`.
   */
  async forward(query: Buffer, servers: readonly string[], opts: { tcp?: boolean } = {}): Promise<ForwardResult> {
    if (this.closed || servers.length === 0) return { kind: 'failed' };
    if (this.inFlight >= this.maxInFlight) return { kind: 'busy' };
    this.inFlight++;
    try {
      const clientId = query.readUInt16BE(0);
      const now = Date.now();
      const live = servers.filter((s) => !this.isDead(s, now));
      const order = live.length === servers.length ? servers : [...live, ...servers.filter((s) => this.isDead(s, now))];
      let fallback: { packet: Buffer; server: string } | undefined;
      for (const server of order) {
        const { host, port } = parseServer(server);
        let resp = await this.askUdp(host, port, query);
        if (resp === undefined) {
          this.deadUntil.set(server, Date.now() + this.deadForMs);
          continue;
        }
        this.deadUntil.delete(server);
        if (opts.tcp && resp.length >= 3 && (resp[2]! & 0x02)) {
          const viaTcp = await askTcp(host, port, query, this.timeoutMs);
          if (viaTcp) resp = viaTcp;
        }
        const rcode = resp[3]! & 0x0f;
        resp.writeUInt16BE(clientId, 0);
        if (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) {
          fallback ??= { packet: resp, server };
          continue;
        }
        return { kind: 'answer', packet: resp, server };
      }
      return fallback ? { kind: 'answer', ...fallback } : { kind: 'failed' };
    } finally {
      this.inFlight--;
    }
  }

  /** Close the upstream sockets; pending queries resolve as failed. */
  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
    for (const s of [...(this.udp4 ?? []), ...(this.udp6 ?? [])]) s.close();
    this.udp4 = this.udp6 = undefined;
  }

  private newId(): number {
    for (;;) {
      if (this.idPos >= this.ids.length) {
        randomFillSync(this.ids);
        this.idPos = 0;
      }
      const id = this.ids[this.idPos++]!;
      if (!this.pending.has(id)) return id;
    }
  }

  private socketFor(family: 4 | 6): dgram.Socket {
    let pool = family === 4 ? this.udp4 : this.udp6;
    if (!pool) {
      pool = [];
      for (let i = 0; i < this.nSockets; i++) {
        const s = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
        s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
        s.on('error', () => { /* ICMP errors etc.: the query times out */ });
        s.bind(0);
        s.unref();
        pool.push(s);
      }
      if (family === 4) this.udp4 = pool;
      else this.udp6 = pool;
    }
    return pool[this.next++ % pool.length]!;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12 || !(msg[2]! & 0x80)) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    // Accept only from the server asked, with the question asked (spoofing / stray answers).
    if (!p || rinfo.port !== p.port || rinfo.address !== p.host) return;
    const q = p.question;
    if (msg.length < 12 + q.length || msg.compare(q, 0, q.length, 12, 12 + q.length) !== 0) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  private askUdp(host: string, port: number, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const id = this.newId();
      const out = Buffer.from(query);
      out.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, this.timeoutMs);
      this.pending.set(id, { host, port, question: questionOf(out), resolve, timer });
      const family = net.isIPv6(host) ? 6 : 4;
      this.socketFor(family).send(out, port, host, (e) => {
        if (e && this.pending.get(id)?.timer === timer) {
          this.pending.delete(id);
          clearTimeout(timer);
          resolve(undefined);
        }
      });
    });
  }
}

/** The question section of a query (qname + type + class), or an empty buffer if malformed. */
function questionOf(msg: Buffer): Buffer {
  let p = 12;
  while (p < msg.length && msg[p] !== 0) p += 1 + msg[p]!;
  const end = p + 5;
  return end <= msg.length ? msg.subarray(12, end) : Buffer.alloc(0);
}

/** One query over TCP (RFC 7766 framing); undefined on timeout or error. */
function askTcp(host: string, port: number, query: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(b);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on('error', () => done(undefined));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length >= 2 + n) done(Buffer.from(buf.subarray(2, 2 + n)));
      }
    });
    sock.on('end', () => done(undefined));
  });
}

/** What resolv.conf says (only the parts the resolver uses). */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** Parse resolv.conf text; unknown lines are ignored, as glibc does. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) {
      const ns = rest[0].replace(/%.*$/, ''); // drop a zone index (fe80::1%eth0)
      if (net.isIP(ns)) out.nameservers.push(ns);
    } else if (key === 'search' || key === 'domain') out.search = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

/**
 * The host's upstream servers for sandboxes: resolv.conf's nameservers minus loopback ones (a
 * sandbox's 127.x is its own, so Docker drops them). When that leaves none and the host runs
 * systemd-resolved, its real upstreams are in /run/systemd/resolve/resolv.conf.
 */
export function hostUpstreams(paths: readonly string[] = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf']): string[] {
  for (const p of paths) {
    let text: string;
    try {
      text = fs.readFileSync(p, 'utf8');
    } catch {
      continue;
    }
    const servers = parseResolvConf(text).nameservers.filter((s) => !isLoopback(s));
    if (servers.length) return servers.map((s) => (net.isIPv6(s) ? `[${s}]:53` : s));
  }
  return [];
}
