// drivers/network/bridge/loopback6-proxy.ts — tsd serves `[::1]:hostPort` of published ports
// in-process: IPv6 has no route_localnet, so a DNAT of ::1 traffic to a bridge address is dropped
// (the sandbox refuses a packet with source ::1 that did not arrive on lo). Docker needs a
// docker-proxy process per port for that; here it is one listener per (proto, hostPort) in tsd's
// own event loop: tcp → a net.Server piping to the container address, udp → a dgram relay with a
// bounded per-client flow table. sctp has no Node socket: reported, not served.
// Owns: the listeners and their connections/flows. Does not own: firewall rules, the store.
//
// tsd runs in the host namespace, where the container address is routed through the bridge, so
// no setns is needed. The firewall skips ::1 in its output hook (table-model.ts, rules.ts), so
// these listeners see the traffic undisturbed.

import dgram from 'node:dgram';
import net from 'node:net';
import { ConflictError, UnavailableError, messageOf } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import type { PortProto } from '../../../core/kernel/firewall/types.js';

/** One `[::1]:hostPort` → `containerIp:containerPort` forward (stored with the endpoint). */
export interface Loopback6Forward {
  proto: PortProto;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** What became of a forward: served, or why not (shown in the endpoint's oper info). */
export type Loopback6State = 'listening' | 'not supported on ::1 (sctp)' | 'off' | `failed: ${string}`;

/** Docker's docker-proxy keeps a UDP "connection" 90 s after its last datagram. */
export const UDP_IDLE_MS = 90_000;
/** Clients one UDP forward tracks at once; past it the least recently used flow is dropped. */
export const UDP_MAX_FLOWS = 1024;
const UDP_MAX_DATAGRAM = 65_535;

// ---------------------------------------------------------------------------- udp flow table

export interface Closable {
  close(): void;
}

/**
 * Client address → flow, least recently used first (Map insertion order; a touch re-inserts), so
 * eviction and the idle sweep look only at the oldest entries. Bounded: adding past `maxFlows`
 * closes the least recently used flow. Pure bookkeeping: sockets are injected.
 */
export class UdpFlowTable<F extends Closable> {
  private readonly flows = new Map<string, { flow: F; seen: number }>();
  private readonly now: () => number;
  constructor(private readonly opts: { idleMs: number; maxFlows: number; now?: () => number; onEvict?: (key: string, why: 'idle' | 'full') => void }) {
    if (!(opts.maxFlows >= 1)) throw new RangeError(`maxFlows: ${opts.maxFlows} must be ≥ 1`);
    if (!(opts.idleMs > 0)) throw new RangeError(`idleMs: ${opts.idleMs} must be > 0`);
    this.now = opts.now ?? Date.now;
  }
  get size(): number {
    return this.flows.size;
  }
  /** The flow of `key`, marked as used now. */
  touch(key: string): F | undefined {
    const e = this.flows.get(key);
    if (!e) return undefined;
    e.seen = this.now();
    this.flows.delete(key);
    this.flows.set(key, e);
    return e.flow;
  }
  add(key: string, flow: F): void {
    this.remove(key);
    while (this.flows.size >= this.opts.maxFlows) {
      const oldest = this.flows.keys().next().value as string;
      this.opts.onEvict?.(oldest, 'full');
      this.remove(oldest);
    }
    this.flows.set(key, { flow, seen: this.now() });
  }
  remove(key: string): void {
    const e = this.flows.get(key);
    if (!e) return;
    this.flows.delete(key);
    e.flow.close();
  }
  /** Close flows idle for `idleMs` or longer; returns how many. */
  sweep(): number {
    const limit = this.now() - this.opts.idleMs;
    let n = 0;
    for (const [key, e] of this.flows) {
      if (e.seen > limit) break; // LRU order: everything after is newer
      this.opts.onEvict?.(key, 'idle');
      this.flows.delete(key);
      e.flow.close();
      n++;
    }
    return n;
  }
  closeAll(): void {
    for (const e of this.flows.values()) e.flow.close();
    this.flows.clear();
  }
}

// ---------------------------------------------------------------------------- listeners

/** One client's socket towards the container; closed once (eviction, sweep, error, shutdown). */
class UdpFlow implements Closable {
  private closed = false;
  constructor(readonly sock: dgram.Socket) {}
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.sock.close(); } catch { /* never bound: nothing to close */ }
  }
}

interface Listener {
  forward: Loopback6Forward;
  close(): Promise<void>;
}

export interface Loopback6ProxyOptions {
  log: Logger;
  /** Address listened on; ::1 (tests of the module alone may pick another loopback). */
  host?: string;
  udpIdleMs?: number;
  udpMaxFlows?: number;
}

const keyOf = (proto: string, port: number) => `${proto}/${port}`;
const at = (f: Pick<Loopback6Forward, 'proto' | 'hostPort'>, host: string) => `[${host}]:${f.hostPort}/${f.proto}`;

export class Loopback6Proxy {
  private readonly listeners = new Map<string, Listener>();
  private readonly host: string;
  private readonly log: Logger;
  private readonly udpIdleMs: number;
  private readonly udpMaxFlows: number;

  constructor(opts: Loopback6ProxyOptions) {
    this.log = opts.log;
    this.host = opts.host ?? '::1';
    this.udpIdleMs = opts.udpIdleMs ?? UDP_IDLE_MS;
    this.udpMaxFlows = opts.udpMaxFlows ?? UDP_MAX_FLOWS;
  }

  get size(): number {
    return this.listeners.size;
  }
  has(proto: string, hostPort: number): boolean {
    return this.listeners.has(keyOf(proto, hostPort));
  }

  /**
   * Start serving `f`. sctp resolves to its state without listening (not an error: the rest of the
   * publish stands). A port already served or taken by another socket is a ConflictError naming
   * host address, port and protocol.
   */
  async open(f: Loopback6Forward): Promise<Loopback6State> {
    if (f.proto === 'sctp') {
      this.log.warn('published port not served on [::1]: sctp is not supported on ::1', { hostPort: f.hostPort, container: `${f.containerIp}:${f.containerPort}` });
      return 'not supported on ::1 (sctp)';
    }
    const key = keyOf(f.proto, f.hostPort);
    if (this.listeners.has(key)) throw new ConflictError(`host port ${at(f, this.host)}: already published`);
    // Reserve the key while binding: two concurrent opens of one port must not both bind.
    const pending: Listener = { forward: f, close: async () => undefined };
    this.listeners.set(key, pending);
    try {
      const l = f.proto === 'tcp' ? await this.openTcp(f) : await this.openUdp(f);
      if (this.listeners.get(key) !== pending) {
        await l.close(); // closed (unpublish, shutdown) while it was binding
        return 'off';
      }
      this.listeners.set(key, l);
      return 'listening';
    } catch (e) {
      if (this.listeners.get(key) === pending) this.listeners.delete(key);
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new ConflictError(`host port ${at(f, this.host)}: address already in use`, { cause: e });
      throw new UnavailableError(`host port ${at(f, this.host)}: ${code ?? messageOf(e)}`, { cause: e });
    }
  }

  /** Stop serving (proto, hostPort): the listener and every connection/flow it has. Idempotent. */
  async close(proto: string, hostPort: number): Promise<void> {
    const key = keyOf(proto, hostPort);
    const l = this.listeners.get(key);
    if (!l) return;
    this.listeners.delete(key);
    await l.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.allSettled(all.map((l) => l.close()));
  }

  private openTcp(f: Loopback6Forward): Promise<Listener> {
    const conns = new Set<net.Socket>();
    // allowHalfOpen: a client's FIN (nc at the end of its input) is passed on, and the answer
    // still flows back until the container closes its side.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
      const up = net.connect({ host: f.containerIp, port: f.containerPort, allowHalfOpen: true, noDelay: true });
      conns.add(client);
      conns.add(up);
      const done = () => {
        client.destroy();
        up.destroy();
        conns.delete(client);
        conns.delete(up);
      };
      client.on('error', done).on('close', done);
      up.on('error', (e) => {
        this.log.debug('[::1] proxy: container side failed', { port: at(f, this.host), err: e });
        done();
      }).on('close', done);
      client.pipe(up);
      up.pipe(client);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: f.hostPort, ipv6Only: true, exclusive: true }, () => {
        server.off('error', reject);
        // The daemon's API keeps the process alive; a listener alone must not (tests, tools).
        server.unref();
        server.on('error', (e) => this.log.warn('[::1] proxy listener failed', { port: at(f, this.host), err: e }));
        resolve({
          forward: f,
          close: () => new Promise<void>((res) => {
            for (const c of conns) c.destroy();
            conns.clear();
            server.close(() => res());
          }),
        });
      });
    });
  }

  private openUdp(f: Loopback6Forward): Promise<Listener> {
    const family = net.isIP(f.containerIp) === 6 ? 'udp6' : 'udp4';
    const sock = dgram.createSocket({ type: 'udp6', ipv6Only: true, reuseAddr: false });
    const flows = new UdpFlowTable<UdpFlow>({
      idleMs: this.udpIdleMs,
      maxFlows: this.udpMaxFlows,
      onEvict: (client, why) => { if (why === 'full') this.log.debug('[::1] proxy: udp flow table full, oldest flow dropped', { port: at(f, this.host), client }); },
    });
    const sweep = setInterval(() => flows.sweep(), Math.max(250, Math.min(this.udpIdleMs / 2, 5000)));
    sweep.unref();
    sock.on('message', (msg, rinfo) => {
      const client = `${rinfo.address}|${rinfo.port}`;
      let flow = flows.touch(client);
      if (!flow) {
        const up = dgram.createSocket(family);
        up.unref();
        up.on('message', (reply, from) => {
          // Unconnected: answer only what comes from the container's address and port.
          if (from.port !== f.containerPort || from.address !== f.containerIp) return;
          flows.touch(client);
          // A send on a socket closed meanwhile throws synchronously: never let it reach the daemon.
          try {
            sock.send(reply, rinfo.port, rinfo.address);
          } catch (e) {
            this.log.debug('[::1] proxy: udp answer dropped', { port: at(f, this.host), err: e });
          }
        });
        up.on('error', (e) => {
          this.log.debug('[::1] proxy: udp container side failed', { port: at(f, this.host), err: e });
          flows.remove(client);
        });
        flow = new UdpFlow(up);
        flows.add(client, flow);
      }
      try {
        flow.sock.send(msg, f.containerPort, f.containerIp, (e) => {
          if (e) this.log.debug('[::1] proxy: udp send to container failed', { port: at(f, this.host), err: e });
        });
      } catch (e) {
        this.log.debug('[::1] proxy: udp datagram dropped', { port: at(f, this.host), err: e });
        flows.remove(client);
      }
    });
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => {
        clearInterval(sweep);
        try { sock.close(); } catch { /* not bound */ }
        reject(e);
      };
      sock.once('error', fail);
      sock.bind({ address: this.host, port: f.hostPort, exclusive: true }, () => {
        sock.off('error', fail);
        sock.unref();
        sock.on('error', (e) => this.log.warn('[::1] proxy udp listener failed', { port: at(f, this.host), err: e }));
        try {
          sock.setRecvBufferSize(Math.max(sock.getRecvBufferSize(), 4 * UDP_MAX_DATAGRAM));
        } catch { /* capped by rmem_max: the default stands */ }
        resolve({
          forward: f,
          close: () => new Promise<void>((res) => {
            clearInterval(sweep);
            flows.closeAll();
            sock.close(() => res());
          }),
        });
      });
    });
  }
}
