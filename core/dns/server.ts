// core/dns/server.ts — the embedded resolver's sockets: UDP and TCP listeners, each serving one
// sandbox, answering from DnsRecords and handing the rest to the Forwarder.
//
// Interface for the network service:
//   server.attachSandbox(sandboxId, { udp: [fd | dgram.Socket], tcp: [fd | net.Server] })
//        the sockets are already bound (core/kernel/netns bindSocketInNetns creates them inside
//        the sandbox's netns at 127.0.0.11:53); undone by detachSandbox(sandboxId), which closes them.
//   server.listen({ sandboxId, address, port })  plain bind in tsd's own netns (tests, benches).
//   server.close()
// Records change through DnsRecords at any time; no socket is reopened for that.
// With `udpBatch` (the daemon's setting) UDP sockets given as fds are served by one worker thread
// for all sandboxes (udp-offload.ts, udp-worker.ts); TCP and every non-local UDP query stay here.
//
// Answers follow Docker's resolver (libnetwork/resolver.go): RA set, AA clear, TTL 600, addresses
// shuffled per answer. Where Docker is vague we are exact: a local name with no record of the asked
// type is NODATA (NOERROR, empty answer) and is never forwarded; an unknown name is forwarded when
// the sandbox has an external network, else NXDOMAIN; upstream failure or a full forwarder →
// SERVFAIL; garbage → FORMERR / NOTIMP, or dropped when it is too short to answer. Nothing here
// throws on input. The answer path does not log; it publishes to diagnostics_channel
// `tsd:dns:query` when someone subscribes.

import dgram from 'node:dgram';
import net from 'node:net';
import diagnostics from 'node:diagnostics_channel';
import type { Logger } from '../log.js';
import { ConflictError, InvalidArgumentError } from '../errors.js';
import { TYPE_A, type DnsRecords } from './records.js';
import { localAnswer } from './local-answer.js';
import { UdpOffload } from './udp-offload.js';
import type { Forwarder } from './forward.js';
import {
  buildAnswer, buildError, parseQuery, truncatedCopy, type Query,
  MAX_TCP_SIZE, RCODE, TYPE_ANY,
} from './wire.js';

export type UdpListener = dgram.Socket | { fd: number; family: 4 | 6 };
export type TcpListener = net.Server | { fd: number };

export interface SandboxListeners {
  udp?: readonly UdpListener[];
  tcp?: readonly TcpListener[];
}

export interface DnsServerOptions {
  records: DnsRecords;
  forwarder: Forwarder;
  /** Upstreams for sandboxes whose networks name none (usually hostUpstreams()); read per query. */
  defaultUpstreams: () => readonly string[];
  log?: Logger;
  /** TTL of local answers in seconds (default 600, as Docker). */
  ttl?: number;
  /** Most open TCP connections over all sandboxes (default 256). */
  maxTcpConnections?: number;
  /** A TCP connection idle this long is closed (default 10000 ms; RFC 7766 suggests seconds). */
  tcpIdleMs?: number;
  /** Most queries one TCP connection may have unanswered before we stop reading it (default 32). */
  tcpPipelineDepth?: number;
  /**
   * Serve UDP sockets given as fds (and those listen() opens) from worker threads (`threads`,
   * default 1, each serving every socket) with batched
   * recvmmsg/sendmmsg instead of Node's dgram (udp-offload.ts): `module` is the URL of
   * core/kernel/udp-batch.js (injected: core/dns does not import the kernel layer). The thread
   * answers local names from a replica of the record tables; those answers are not published on
   * `tsd:dns:query` (everything else is).
   */
  udpBatch?: { module: string; batch?: number; threads?: number };
}

export interface QueryEvent {
  sandboxId: string;
  transport: 'udp' | 'tcp';
  name: string;
  qtype: number;
  rcode: number;
  source: 'local' | 'forward' | 'error';
}

const queryChannel = diagnostics.channel('tsd:dns:query');

type Reply = (b: Buffer) => void;
/** A query that is not local: where it goes and how its answer must look. */
interface Forward { q: Query; list: readonly string[]; type: number; maxSize: number }
const EMPTY = Buffer.alloc(0);
const NO_RDATA: readonly Buffer[] = [];
const UDP_BUFFER = 4 << 20;

interface Attached {
  udp: dgram.Socket[];
  tcp: net.Server[];
  conns: Set<net.Socket>;
  /** UDP fds served by the offload worker */
  offloaded: number[];
}

export class DnsServer {
  private readonly records: DnsRecords;
  private readonly forwarder: Forwarder;
  private readonly defaultUpstreams: () => readonly string[];
  private readonly log: Logger | undefined;
  private readonly ttl: number;
  private readonly maxTcp: number;
  private readonly tcpIdleMs: number;
  private readonly depth: number;
  private readonly sandboxes = new Map<string, Attached>();
  private readonly offload: UdpOffload | undefined;
  private tcpOpen = 0;

  constructor(o: DnsServerOptions) {
    this.records = o.records;
    this.forwarder = o.forwarder;
    this.defaultUpstreams = o.defaultUpstreams;
    this.log = o.log;
    this.ttl = o.ttl ?? 600;
    this.maxTcp = o.maxTcpConnections ?? 256;
    this.tcpIdleMs = o.tcpIdleMs ?? 10_000;
    this.depth = o.tcpPipelineDepth ?? 32;
    this.offload = o.udpBatch && new UdpOffload({
      records: this.records, ioModule: o.udpBatch.module, batch: o.udpBatch.batch, threads: o.udpBatch.threads, ttl: this.ttl, log: this.log,
      onQuery: (sandboxId, fd, msg, peer) => this.answerOffloaded(sandboxId, fd, msg, peer),
    });
  }

  /** Number of TCP connections currently open (all sandboxes). */
  get tcpConnections(): number {
    return this.tcpOpen;
  }

  /**
   * Serve `sandboxId` on already-bound sockets (fds or Node sockets). Undone by detachSandbox.
   * A sandbox may be attached several times (more sockets); each socket serves one sandbox.
   */
  async attachSandbox(sandboxId: string, l: SandboxListeners): Promise<void> {
    if (!sandboxId) throw new InvalidArgumentError('sandboxId: must not be empty');
    const a = this.entry(sandboxId);
    for (const u of l.udp ?? []) {
      if (this.offload && !(u instanceof dgram.Socket)) {
        // Recorded before it is served: a detach racing this attach still closes it.
        a.offloaded.push(u.fd);
        await this.offload.add(sandboxId, u.fd);
        continue;
      }
      const sock = u instanceof dgram.Socket ? u : dgram.createSocket(u.family === 6 ? 'udp6' : 'udp4');
      if (!(u instanceof dgram.Socket)) await new Promise<void>((res, rej) => { sock.once('error', rej); sock.bind({ fd: u.fd }, () => { sock.off('error', rej); res(); }); });
      this.serveUdp(sandboxId, sock);
      a.udp.push(sock);
    }
    for (const t of l.tcp ?? []) {
      const srv = t instanceof net.Server ? t : net.createServer();
      if (!(t instanceof net.Server)) await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen({ fd: t.fd }, () => { srv.off('error', rej); res(); }); });
      this.serveTcp(sandboxId, srv, a);
      a.tcp.push(srv);
    }
  }

  /**
   * Bind UDP and TCP on `address:port` in tsd's own netns for `sandboxId` (port 0: one free port
   * for both). Returns the port.
   */
  async listen(o: { sandboxId: string; address: string; port: number; udp?: boolean; tcp?: boolean }): Promise<number> {
    const family = net.isIPv6(o.address) ? 6 : 4;
    let port = o.port;
    const udp: UdpListener[] = [];
    const tcp: net.Server[] = [];
    try {
      if (o.udp !== false && this.offload) {
        const b = (await this.offload.kernelIo()).bindUdp(o.address, port);
        udp.push({ fd: b.fd, family });
        port = b.port;
      } else if (o.udp !== false) {
        const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
        udp.push(s);
        await new Promise<void>((res, rej) => { s.once('error', rej); s.bind(port, o.address, () => { s.off('error', rej); res(); }); });
        port = s.address().port;
      }
      if (o.tcp !== false) {
        const srv = net.createServer();
        tcp.push(srv);
        await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen(port, o.address, () => { srv.off('error', rej); res(); }); });
        port = (srv.address() as net.AddressInfo).port;
      }
    } catch (e) {
      for (const s of udp) if (s instanceof dgram.Socket) s.close(); else void this.offload?.kernelIo().then((io) => io.closeFd(s.fd));
      for (const s of tcp) s.close();
      // Node's dgram/net errors carry code EADDRINUSE; the kernel layer's (udp-batch) carry a
      // tsd error code and name the errno in the message.
      const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE' || /EADDRINUSE/.test(String(e));
      const msg = `dns listen ${o.address}:${o.port}: ${(e as Error).message}`;
      throw inUse ? new ConflictError(msg, { cause: e }) : new InvalidArgumentError(msg, { cause: e });
    }
    await this.attachSandbox(o.sandboxId, { udp, tcp });
    return port;
  }

  /** Stop serving a sandbox: close its sockets and connections. Idempotent. */
  async detachSandbox(sandboxId: string): Promise<void> {
    const a = this.sandboxes.get(sandboxId);
    if (!a) return;
    this.sandboxes.delete(sandboxId);
    for (const c of a.conns) c.destroy();
    await Promise.all([
      ...a.offloaded.map((fd) => this.offload!.remove(fd)),
      ...a.udp.map((s) => new Promise<void>((res) => { try { s.close(() => res()); } catch { res(); } })),
      ...a.tcp.map((s) => new Promise<void>((res) => s.close(() => res()))),
    ]);
  }

  /** Close every listener. */
  async close(): Promise<void> {
    await Promise.all([...this.sandboxes.keys()].map((id) => this.detachSandbox(id)));
    await this.offload?.close();
  }

  /** Is the UDP offload thread running? (tests: it must not outlive close()) */
  get udpThreadRunning(): boolean {
    return this.offload?.threadRunning ?? false;
  }

  private entry(sandboxId: string): Attached {
    let a = this.sandboxes.get(sandboxId);
    if (!a) {
      a = { udp: [], tcp: [], conns: new Set(), offloaded: [] };
      this.sandboxes.set(sandboxId, a);
    }
    return a;
  }

  /** A query the offload worker could not answer from its replica: answer or forward it here. */
  private answerOffloaded(sandboxId: string, fd: number, msg: Buffer, peer: Buffer): void {
    const off = this.offload!;
    const r = this.answerSafe(sandboxId, msg, false);
    if (r === undefined) return;
    if (r instanceof Uint8Array) off.sendTo(fd, r, peer, sandboxId);
    else this.forward(sandboxId, msg, false, r, (b) => off.sendTo(fd, b, peer, sandboxId));
  }

  private serveUdp(sandboxId: string, sock: dgram.Socket): void {
    // The default receive buffer (rmem_default, ~208 KiB) holds only ~200 small datagrams in
    // kernel accounting: a burst while the event loop is busy overflows it (UdpRcvbufErrors seen
    // under dnsperf). Ask for 4 MiB; the kernel caps it at rmem_max.
    try {
      sock.setRecvBufferSize(UDP_BUFFER);
      sock.setSendBufferSize(UDP_BUFFER);
    } catch { /* not fatal: the kernel's default stays */ }
    sock.on('error', (e) => this.log?.warn('dns udp socket error', { sandbox: sandboxId, error: e }));
    sock.on('message', (msg, rinfo) => {
      // Local answers (the hot path) are built and sent synchronously: no closure, no promise.
      const r = this.answerSafe(sandboxId, msg, false);
      if (r === undefined) return;
      if (r instanceof Uint8Array) {
        try { sock.send(r, rinfo.port, rinfo.address); } catch { /* socket closed under us */ }
        return;
      }
      const { port, address } = rinfo;
      this.forward(sandboxId, msg, false, r, (b) => sock.send(b, port, address));
    });
  }

  private serveTcp(sandboxId: string, srv: net.Server, a: Attached): void {
    srv.on('error', (e) => this.log?.warn('dns tcp server error', { sandbox: sandboxId, error: e }));
    srv.on('connection', (c: net.Socket) => {
      if (this.tcpOpen >= this.maxTcp) {
        c.destroy();
        return;
      }
      this.tcpOpen++;
      a.conns.add(c);
      let buf: Buffer = Buffer.alloc(0);
      let waiting = 0;
      c.setNoDelay(true);
      c.setTimeout(this.tcpIdleMs, () => c.destroy());
      c.on('error', () => c.destroy());
      c.on('close', () => {
        this.tcpOpen--;
        a.conns.delete(c);
      });
      const reply: Reply = (b) => {
        waiting--;
        if (c.destroyed || b.length === 0) return;
        const len = Buffer.allocUnsafe(2);
        len.writeUInt16BE(b.length);
        c.write(Buffer.concat([len, b]));
        if (c.isPaused() && waiting < this.depth) c.resume();
      };
      c.on('data', (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        let p = 0;
        while (buf.length - p >= 2) {
          const n = buf.readUInt16BE(p);
          if (n === 0 || buf.length - p - 2 < n) {
            if (n === 0) { c.destroy(); return; }
            break;
          }
          const frame = Buffer.from(buf.subarray(p + 2, p + 2 + n));
          p += 2 + n;
          waiting++;
          // Exactly one reply per frame: a dropped frame still releases its pipeline slot (an
          // empty reply is not written).
          const r = this.answerSafe(sandboxId, frame, true);
          if (r === undefined) reply(EMPTY);
          else if (r instanceof Uint8Array) reply(r);
          else this.forward(sandboxId, frame, true, r, reply);
        }
        buf = p === buf.length ? Buffer.alloc(0) : buf.subarray(p);
        if (waiting >= this.depth) c.pause();
      });
    });
  }

  /**
   * Answer one query locally: the reply, undefined to drop the packet, or what to forward.
   * Never throws.
   */
  private answerSafe(sandboxId: string, msg: Buffer, tcp: boolean): Buffer | Forward | undefined {
    try {
      return this.answer(sandboxId, msg, tcp);
    } catch (e) {
      // A bug, not input: keep serving, report once per occurrence.
      this.log?.error('dns answer failed', { sandbox: sandboxId, error: e });
      return msg.length >= 12 ? buildError(msg.readUInt16BE(0), msg[2]!, RCODE.SERVFAIL, undefined) : undefined;
    }
  }

  private answer(sandboxId: string, msg: Buffer, tcp: boolean): Buffer | Forward | undefined {
    const r = parseQuery(msg);
    if (r.kind === 'drop') return undefined;
    if (r.kind === 'error') {
      this.publish(sandboxId, tcp, undefined, r.rcode, 'error');
      return buildError(r.id, r.flags1, r.rcode, r.question);
    }
    const q = r.query;
    const maxSize = tcp ? MAX_TCP_SIZE : Math.min(q.udpSize, 4096);
    const local = localAnswer(this.records, sandboxId, q, maxSize, this.ttl);
    if (local) {
      this.publish(sandboxId, tcp, q, RCODE.NOERROR, 'local');
      return local;
    }
    const type = q.qtype === TYPE_ANY ? TYPE_A : q.qtype;
    const ups = this.records.upstreamsFor(sandboxId);
    const list = ups === undefined ? undefined : ups.length ? ups : this.defaultUpstreams();
    if (list === undefined || list.length === 0 || (q.edns && q.ednsVersion !== 0)) {
      // Internal network (or nowhere to forward): the name does not exist for this sandbox.
      // A socket whose sandbox is on no network at all has nothing to serve: REFUSED. A host
      // listener (records.addHostView) never forwards: REFUSED outside its network's zone.
      const rcode = this.records.missRcode(sandboxId, q.key) === 'nxdomain' ? RCODE.NXDOMAIN : RCODE.REFUSED;
      this.publish(sandboxId, tcp, q, rcode, 'local');
      return buildAnswer(q, { rcode, type, rdata: NO_RDATA, ttl: this.ttl, maxSize });
    }
    return { q, list, type, maxSize };
  }

  /** Hand a query to the upstreams; `reply` is called exactly once (errors in it are swallowed). */
  private forward(sandboxId: string, msg: Buffer, tcp: boolean, f: Forward, reply: Reply): void {
    const { q, type, maxSize } = f;
    const send = (b: Buffer) => { try { reply(b); } catch { /* socket closed under us */ } };
    this.forwarder.forward(msg, f.list, { tcp }).then(
      (res) => {
        if (res.kind === 'answer') {
          const p = res.packet;
          send(!tcp && p.length > maxSize ? truncatedCopy(p, q) : p);
          this.publish(sandboxId, tcp, q, p[3]! & 0x0f, 'forward');
        } else {
          send(buildAnswer(q, { rcode: RCODE.SERVFAIL, type, rdata: NO_RDATA, ttl: this.ttl, maxSize }));
          this.publish(sandboxId, tcp, q, RCODE.SERVFAIL, 'forward');
        }
      },
      () => send(buildAnswer(q, { rcode: RCODE.SERVFAIL, type, rdata: NO_RDATA, ttl: this.ttl, maxSize })),
    );
  }

  private publish(sandboxId: string, tcp: boolean, q: Query | undefined, rcode: number, source: QueryEvent['source']): void {
    if (!queryChannel.hasSubscribers) return;
    const ev: QueryEvent = {
      sandboxId,
      transport: tcp ? 'tcp' : 'udp',
      name: q ? keyToName(q.key) : '',
      qtype: q?.qtype ?? 0,
      rcode,
      source,
    };
    queryChannel.publish(ev);
  }
}

function keyToName(key: string): string {
  let out = '';
  let i = 0;
  while (i < key.length && key.charCodeAt(i) !== 0) {
    const n = key.charCodeAt(i);
    out += key.slice(i + 1, i + 1 + n) + '.';
    i += 1 + n;
  }
  return out || '.';
}
