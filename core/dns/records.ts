// core/dns/records.ts — the embedded resolver's name tables (aardvark's "backend"): per network,
// which names (sandbox name, network-scoped aliases, 12-hex short id) map to which addresses, and
// which reverse names (in-addr.arpa / ip6.arpa) map back to a name. Pure data, no sockets.
//
// Interface for the network service (connect / disconnect):
//   records.addNetwork(networkId, { internal?, upstreams? })   idempotent; updates options in place
//   records.addEndpoint({ networkId, sandboxId, name, aliases?, shortId?, ipv4?, ipv6? })
//        replaces the sandbox's previous endpoint on that network (so a retry is harmless);
//        undone by removeEndpoint(networkId, sandboxId)
//   records.removeEndpoint(networkId, sandboxId)                idempotent
//   records.removeNetwork(networkId)                            idempotent; drops its endpoints
//   records.setSandboxUpstreams(sandboxId, servers | undefined) per-sandbox `--dns`
//
// Scoping: a sandbox sees exactly the networks it has an endpoint on (Docker's rule), so the view
// is derived from addEndpoint/removeEndpoint; nobody has to keep a second list in sync.
//
// Cost: every update is O(names of that endpoint) Map operations; nothing is rebuilt and no socket
// is touched, so updates never drop queries (containers/aardvark-dns#389). Names are keyed by
// their DNS wire form, lower-cased, as a latin1 string — the server looks a query up by slicing
// the question out of the packet, without building a dotted name.

import net from 'node:net';
import { InvalidArgumentError, NotFoundError } from '../errors.js';

/** What the network service registers when a sandbox joins a network. */
export interface EndpointDns {
  networkId: string;
  sandboxId: string;
  /** The sandbox (container) name; also the PTR target. */
  name: string;
  /** Network-scoped aliases (`--network-alias`); dots allowed (moby/moby#19533). */
  aliases?: readonly string[];
  /** Docker's 12-hex short id; resolvable like a name. */
  shortId?: string;
  ipv4?: string;
  ipv6?: string;
}

export interface NetworkDnsOptions {
  /** Internal networks never forward: unknown names get NXDOMAIN. */
  internal?: boolean;
  /** Upstream servers for sandboxes on this network (overrides the host's resolv.conf). */
  upstreams?: readonly string[];
}

/** One registered endpoint with its answers precomputed in wire form. */
interface Endpoint {
  readonly sandboxId: string;
  /** what addEndpoint was given (replayed by snapshot()) */
  readonly src: EndpointDns;
  readonly keys: readonly string[];
  readonly ptrKeys: readonly string[];
  /** 4-byte A rdata, or undefined. */
  readonly a: Buffer | undefined;
  /** 16-byte AAAA rdata, or undefined. */
  readonly aaaa: Buffer | undefined;
  /** Wire form of the PTR target (the sandbox name). */
  readonly ptrTarget: Buffer;
}

interface NetworkTable {
  readonly id: string;
  internal: boolean;
  upstreams: readonly string[] | undefined;
  /** wire key → endpoints answering that name, with their answers cached */
  readonly names: Map<string, NameEntry>;
  /** reverse wire key → endpoints (first one answers) */
  readonly ptr: Map<string, Set<Endpoint>>;
  /** sandboxId → endpoint */
  readonly endpoints: Map<string, Endpoint>;
}

/**
 * The endpoints answering one name on one network, plus the A / AAAA answers built from them on
 * first use and dropped (O(1)) whenever the set changes: a lookup on a hot name allocates nothing
 * unless it must shuffle several addresses.
 */
interface NameEntry {
  readonly eps: Set<Endpoint>;
  a: LocalAnswer | undefined;
  aaaa: LocalAnswer | undefined;
}

interface SandboxView {
  readonly networks: Set<NetworkTable>;
  /** the same networks as an array (iterated per query without an iterator object) */
  list: NetworkTable[];
  upstreams: readonly string[] | undefined;
}

/** The outcome of a local lookup. */
export type LocalAnswer =
  /** Records of the asked type (A/AAAA rdata, or PTR target names in wire form). */
  | { kind: 'records'; rdata: Buffer[] }
  /** The name exists here but has no record of that type: NOERROR, empty answer. */
  | { kind: 'nodata' }
  /** Not a local name. */
  | { kind: 'unknown' };

export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;

const NODATA: LocalAnswer = Object.freeze({ kind: 'nodata' });
const UNKNOWN: LocalAnswer = Object.freeze({ kind: 'unknown' });
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const SHORT_ID = /^[0-9a-f]{12}$/;

/**
 * Wire form of a dotted name as a latin1 string, lower-cased: "Web.x" → "\x03web\x01x\x00".
 * Throws InvalidArgument naming `field` when the name is not a valid DNS name.
 */
export function wireKey(name: string, field = 'name'): string {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed.length === 0 || trimmed.length > 253) {
    throw new InvalidArgumentError(`${field}: "${name}" is not a valid DNS name (length 1..253)`);
  }
  let out = '';
  for (const label of trimmed.split('.')) {
    if (!LABEL.test(label)) {
      throw new InvalidArgumentError(`${field}: "${name}" is not a valid DNS name (bad label "${label}")`);
    }
    out += String.fromCharCode(label.length) + label.toLowerCase();
  }
  return out + '\0';
}

/** Dotted name back from a wire key (for logs and tests). */
export function nameOfKey(key: string): string {
  const labels: string[] = [];
  let i = 0;
  while (i < key.length) {
    const n = key.charCodeAt(i);
    if (n === 0) break;
    labels.push(key.slice(i + 1, i + 1 + n));
    i += 1 + n;
  }
  return labels.join('.') + '.';
}

/** Reverse-lookup wire key of an address: 10.0.0.2 → 2.0.0.10.in-addr.arpa. */
export function ptrKeyOf(ip: string): string {
  if (net.isIPv4(ip)) return wireKey(ip.split('.').reverse().join('.') + '.in-addr.arpa');
  const bytes = ipv6Bytes(ip);
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const b = bytes[i]!;
    nibbles.push((b & 0xf).toString(16), (b >> 4).toString(16));
  }
  return wireKey(nibbles.join('.') + '.ip6.arpa');
}

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6Bytes(ip: string): Buffer {
  // Expand "::" and an embedded dotted quad, then read 8 groups.
  let s = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = ipv4Bytes(v4[1]!);
    s = s.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Wire form (not lower-cased: the PTR target keeps the name as registered) of a dotted name. */
function wireName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.');
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

function shuffleInPlace<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

function addName(m: Map<string, NameEntry>, k: string, e: Endpoint): void {
  const n = m.get(k);
  if (n) {
    n.eps.add(e);
    n.a = n.aaaa = undefined;
  } else {
    m.set(k, { eps: new Set([e]), a: undefined, aaaa: undefined });
  }
}

function deleteName(m: Map<string, NameEntry>, k: string, e: Endpoint): void {
  const n = m.get(k);
  if (!n) return;
  n.eps.delete(e);
  n.a = n.aaaa = undefined;
  if (n.eps.size === 0) m.delete(k);
}

/** The A or AAAA answer of one name on one network (NODATA when no endpoint has that family). */
function answerOf(n: NameEntry, qtype: number): LocalAnswer {
  const rdata: Buffer[] = [];
  for (const e of n.eps) {
    const r = qtype === TYPE_A ? e.a : e.aaaa;
    if (r) rdata.push(r);
  }
  return rdata.length ? Object.freeze<LocalAnswer>({ kind: 'records', rdata }) : NODATA;
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s) s.add(v);
  else m.set(k, new Set([v]));
}

function deleteFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

/**
 * One change to the tables, as the call that made it: replaying the same changes in the same
 * order on another DnsRecords (a replica on a worker thread) gives the same tables.
 */
export type RecordsChange =
  | { op: 'addNetwork'; networkId: string; opts: NetworkDnsOptions }
  | { op: 'removeNetwork'; networkId: string }
  | { op: 'addEndpoint'; ep: EndpointDns }
  | { op: 'removeEndpoint'; networkId: string; sandboxId: string }
  | { op: 'setSandboxUpstreams'; sandboxId: string; servers: readonly string[] | undefined }
  | { op: 'removeSandbox'; sandboxId: string };

/** The embedded resolver's record tables; see the header for the contract. */
export class DnsRecords {
  private readonly watchers = new Set<(c: RecordsChange) => void>();

  /**
   * Call `fn` after every successful change (synchronously, inside the changing call). Returns
   * the unsubscribe function. Used to keep replicas (core/dns/udp-worker.ts) in step.
   */
  watch(fn: (c: RecordsChange) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private changed(c: RecordsChange): void {
    for (const w of this.watchers) w(c);
  }

  /** The changes that rebuild these tables from empty (for a new replica). */
  snapshot(): RecordsChange[] {
    const out: RecordsChange[] = [];
    for (const t of this.networks.values()) out.push({ op: 'addNetwork', networkId: t.id, opts: { internal: t.internal, upstreams: t.upstreams } });
    for (const t of this.networks.values()) for (const e of t.endpoints.values()) out.push({ op: 'addEndpoint', ep: { ...e.src, networkId: t.id } });
    for (const [sandboxId, servers] of this.pendingUpstreams) out.push({ op: 'setSandboxUpstreams', sandboxId, servers });
    for (const [sandboxId, v] of this.sandboxes) if (v.upstreams && !this.pendingUpstreams.has(sandboxId)) out.push({ op: 'setSandboxUpstreams', sandboxId, servers: v.upstreams });
    return out;
  }

  /** Apply one change (from watch() or snapshot() of another instance). */
  apply(c: RecordsChange): void {
    switch (c.op) {
      case 'addNetwork': return this.addNetwork(c.networkId, c.opts);
      case 'removeNetwork': return this.removeNetwork(c.networkId);
      case 'addEndpoint': return this.addEndpoint(c.ep);
      case 'removeEndpoint': return this.removeEndpoint(c.networkId, c.sandboxId);
      case 'setSandboxUpstreams': return this.setSandboxUpstreams(c.sandboxId, c.servers);
      case 'removeSandbox': return this.removeSandbox(c.sandboxId);
    }
  }

  private readonly networks = new Map<string, NetworkTable>();
  private readonly sandboxes = new Map<string, SandboxView>();
  /** sandboxes that asked for upstreams before joining a network */
  private readonly pendingUpstreams = new Map<string, readonly string[]>();

  /** Create or update a network's DNS options. Idempotent. */
  addNetwork(networkId: string, opts: NetworkDnsOptions = {}): void {
    if (!networkId) throw new InvalidArgumentError('networkId: must not be empty');
    if (opts.upstreams) opts.upstreams.forEach((u, i) => checkServer(u, `upstreams[${i}]`));
    const t = this.networks.get(networkId);
    if (t) {
      t.internal = !!opts.internal;
      t.upstreams = opts.upstreams ? [...opts.upstreams] : undefined;
    } else {
      this.networks.set(networkId, {
        id: networkId,
        internal: !!opts.internal,
        upstreams: opts.upstreams ? [...opts.upstreams] : undefined,
        names: new Map(),
        ptr: new Map(),
        endpoints: new Map(),
      });
    }
    if (this.watchers.size) this.changed({ op: 'addNetwork', networkId, opts: { internal: !!opts.internal, upstreams: opts.upstreams ? [...opts.upstreams] : undefined } });
  }

  /** Drop a network and every endpoint on it. Idempotent. */
  removeNetwork(networkId: string): void {
    const t = this.networks.get(networkId);
    if (!t) return;
    for (const sandboxId of [...t.endpoints.keys()]) this.removeEndpoint(networkId, sandboxId);
    this.networks.delete(networkId);
    if (this.watchers.size) this.changed({ op: 'removeNetwork', networkId });
  }

  /**
   * Register a sandbox's names on a network. Replaces that sandbox's earlier endpoint on the same
   * network. Undone by removeEndpoint(networkId, sandboxId). Validation happens before any change.
   */
  addEndpoint(ep: EndpointDns): void {
    const t = this.networks.get(ep.networkId);
    if (!t) throw new NotFoundError(`network ${ep.networkId}: not known to the DNS (addNetwork first)`);
    if (!ep.sandboxId) throw new InvalidArgumentError('sandboxId: must not be empty');
    if (ep.ipv4 !== undefined && !net.isIPv4(ep.ipv4)) throw new InvalidArgumentError(`ipv4: "${ep.ipv4}" is not an IPv4 address`);
    if (ep.ipv6 !== undefined && !net.isIPv6(ep.ipv6)) throw new InvalidArgumentError(`ipv6: "${ep.ipv6}" is not an IPv6 address`);
    if (ep.shortId !== undefined && !SHORT_ID.test(ep.shortId)) {
      throw new InvalidArgumentError(`shortId: "${ep.shortId}" is not 12 lower-case hex digits`);
    }
    const keys = new Set<string>([wireKey(ep.name, 'name')]);
    (ep.aliases ?? []).forEach((a, i) => keys.add(wireKey(a, `aliases[${i}]`)));
    if (ep.shortId) keys.add(wireKey(ep.shortId, 'shortId'));
    const ptrKeys: string[] = [];
    if (ep.ipv4) ptrKeys.push(ptrKeyOf(ep.ipv4));
    if (ep.ipv6) ptrKeys.push(ptrKeyOf(ep.ipv6));
    const endpoint: Endpoint = {
      sandboxId: ep.sandboxId,
      src: { ...ep, aliases: ep.aliases ? [...ep.aliases] : undefined },
      keys: [...keys],
      ptrKeys,
      a: ep.ipv4 ? ipv4Bytes(ep.ipv4) : undefined,
      aaaa: ep.ipv6 ? ipv6Bytes(ep.ipv6) : undefined,
      ptrTarget: wireName(ep.name),
    };

    this.removeEndpoint(ep.networkId, ep.sandboxId);
    t.endpoints.set(ep.sandboxId, endpoint);
    for (const k of endpoint.keys) addName(t.names, k, endpoint);
    for (const k of endpoint.ptrKeys) addTo(t.ptr, k, endpoint);
    let view = this.sandboxes.get(ep.sandboxId);
    if (!view) {
      view = { networks: new Set(), list: [], upstreams: this.pendingUpstreams.get(ep.sandboxId) };
      this.sandboxes.set(ep.sandboxId, view);
    }
    if (!view.networks.has(t)) {
      view.networks.add(t);
      view.list = [...view.networks];
    }
    if (this.watchers.size) this.changed({ op: 'addEndpoint', ep: endpoint.src });
  }

  /** Forget a sandbox's names on a network; NXDOMAIN from the next query on. Idempotent. */
  removeEndpoint(networkId: string, sandboxId: string): void {
    const t = this.networks.get(networkId);
    const endpoint = t?.endpoints.get(sandboxId);
    if (!t || !endpoint) return;
    t.endpoints.delete(sandboxId);
    for (const k of endpoint.keys) deleteName(t.names, k, endpoint);
    for (const k of endpoint.ptrKeys) deleteFrom(t.ptr, k, endpoint);
    const view = this.sandboxes.get(sandboxId);
    if (view) {
      view.networks.delete(t);
      view.list = [...view.networks];
      if (view.networks.size === 0) {
        if (view.upstreams) this.pendingUpstreams.set(sandboxId, view.upstreams);
        this.sandboxes.delete(sandboxId);
      }
    }
    if (this.watchers.size) this.changed({ op: 'removeEndpoint', networkId, sandboxId });
  }

  /** Has addNetwork been called for this network (and not undone)? */
  hasNetwork(networkId: string): boolean {
    return this.networks.has(networkId);
  }

  /** Is the sandbox on at least one network? */
  knows(sandboxId: string): boolean {
    return this.sandboxes.has(sandboxId);
  }

  /** Per-sandbox upstream servers (`--dns`); undefined returns to the network's / host's list. */
  setSandboxUpstreams(sandboxId: string, servers: readonly string[] | undefined): void {
    servers?.forEach((u, i) => checkServer(u, `servers[${i}]`));
    const list = servers ? [...servers] : undefined;
    const view = this.sandboxes.get(sandboxId);
    if (view) view.upstreams = list;
    if (list) this.pendingUpstreams.set(sandboxId, list);
    else this.pendingUpstreams.delete(sandboxId);
    if (this.watchers.size) this.changed({ op: 'setSandboxUpstreams', sandboxId, servers: list });
  }

  /** Forget everything about a sandbox (all its endpoints and its upstreams). Idempotent. */
  removeSandbox(sandboxId: string): void {
    const view = this.sandboxes.get(sandboxId);
    if (view) for (const t of [...view.networks]) this.removeEndpoint(t.id, sandboxId);
    this.pendingUpstreams.delete(sandboxId);
    if (this.watchers.size) this.changed({ op: 'removeSandbox', sandboxId });
  }

  /**
   * Answer `key` (a wire key, see wireKey) of type `qtype` for a query from `sandboxId`, looking
   * only at the sandbox's networks. A/AAAA answers are shuffled on every call (round robin).
   */
  lookup(sandboxId: string, key: string, qtype: number): LocalAnswer {
    const view = this.sandboxes.get(sandboxId);
    if (!view) return UNKNOWN;
    const nets = view.list;
    if (qtype === TYPE_PTR) {
      for (let i = 0; i < nets.length; i++) {
        const s = nets[i]!.ptr.get(key);
        if (s) for (const e of s) return { kind: 'records', rdata: [e.ptrTarget] };
      }
      // Fall through: a reverse name can still be a (weird) alias, treated like any name below.
    }
    const family = qtype === TYPE_A || qtype === TYPE_AAAA;
    if (nets.length === 1) {
      // The common case: one network, one cached answer per name and family.
      const n = nets[0]!.names.get(key);
      if (!n) return UNKNOWN;
      if (!family) return NODATA;
      const a = qtype === TYPE_A ? (n.a ??= answerOf(n, TYPE_A)) : (n.aaaa ??= answerOf(n, TYPE_AAAA));
      return a.kind === 'records' && a.rdata.length > 1 ? { kind: 'records', rdata: shuffleInPlace(a.rdata.slice()) } : a;
    }
    let known = false;
    let out: Buffer[] | undefined;
    for (let i = 0; i < nets.length; i++) {
      const n = nets[i]!.names.get(key);
      if (!n) continue;
      known = true;
      if (!family) continue;
      const a = qtype === TYPE_A ? (n.a ??= answerOf(n, TYPE_A)) : (n.aaaa ??= answerOf(n, TYPE_AAAA));
      if (a.kind !== 'records') continue;
      if (out) out.push(...a.rdata);
      else out = a.rdata.slice();
    }
    if (out) return { kind: 'records', rdata: out.length > 1 ? shuffleInPlace(out) : out };
    return known ? NODATA : UNKNOWN;
  }

  /**
   * Where unknown names from this sandbox go: undefined when the sandbox may not forward (every
   * network it is on is internal, or it is on none); otherwise the sandbox's own list, else the
   * first network's list, else [] meaning "the host's resolv.conf".
   */
  upstreamsFor(sandboxId: string): readonly string[] | undefined {
    const view = this.sandboxes.get(sandboxId);
    if (!view) return undefined;
    let external = false;
    let fromNetwork: readonly string[] | undefined;
    for (const t of view.networks) {
      if (t.internal) continue;
      external = true;
      fromNetwork ??= t.upstreams;
    }
    if (!external) return undefined;
    return view.upstreams ?? fromNetwork ?? [];
  }

  /** Counts, for tests and `tsctl` diagnostics. */
  stats(): { networks: number; sandboxes: number; names: number } {
    let names = 0;
    for (const t of this.networks.values()) names += t.names.size;
    return { networks: this.networks.size, sandboxes: this.sandboxes.size, names };
  }
}

function checkServer(s: string, field: string): void {
  const host = parseServer(s, field).host;
  if (!net.isIP(host)) throw new InvalidArgumentError(`${field}: "${s}" is not an IP address`);
}

/** "1.2.3.4", "1.2.3.4:5353", "[fd00::1]:53", "fd00::1" → host and port. */
export function parseServer(s: string, field = 'server'): { host: string; port: number } {
  let host = s;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2]) port = Number(bracket[2]);
  } else if (/^[\d.]+:\d+$/.test(s)) {
    const i = s.lastIndexOf(':');
    host = s.slice(0, i);
    port = Number(s.slice(i + 1));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`${field}: "${s}" has an invalid port`);
  return { host, port };
}
