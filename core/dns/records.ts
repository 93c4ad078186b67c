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
//   records.addHostView(viewId, networkId, zone?) / removeHostView(viewId)
//        a resolver view for a listener on the host (core/dns/host-listener.ts): sees exactly
//        one network, never forwards; `zone` (the network's name) also answers "<name>.<zone>"
//
// Wildcard aliases (moby/moby#19533): an alias "*.web" answers every name below "web" (a.web,
// x.y.web; not web itself) that no exact name on the sandbox's networks answers; the closest
// wildcard wins ("*.y.web" over "*.web" for x.y.web). Looked up only after an exact miss, by
// walking the query's labels: O(labels), whatever the number of records.
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
  /** wildcard aliases, keyed by the wire key of the name below the "*" ("*.web" → web) */
  readonly wildKeys: readonly string[];
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
  /** wildcard parent's wire key ("*.web" → web) → endpoints answering names below it */
  readonly wild: Map<string, NameEntry>;
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
  /** set for a host listener's view (addHostView): never forwards */
  host?: HostView;
}

interface HostView {
  readonly networkId: string;
  /** the network name's wire key ("\x05mynet\x00"), or undefined when it is no DNS name */
  readonly zoneKey: string | undefined;
  /** what addHostView was given (replayed by snapshot()) */
  readonly zone: string | undefined;
}

/** What a name nobody answers gets: NXDOMAIN (it is ours and does not exist) or REFUSED (not ours). */
export type MissRcode = 'nxdomain' | 'refused';

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

/**
 * The wire key of an alias. A wildcard alias ("*.web": "*" as the whole leftmost label and a
 * parent name below it) gives `wild: true` and the parent's key. Throws InvalidArgument naming
 * `field` otherwise ("a*.web", "*", "web.*", "*.*.web").
 */
export function aliasKey(alias: string, field = 'alias'): { key: string; wild: boolean } {
  if (!alias.includes('*')) return { key: wireKey(alias, field), wild: false };
  if (alias === '*' || alias === '*.') {
    throw new InvalidArgumentError(`${field}: "${alias}" is not a valid wildcard (it needs a parent name, as in "*.web")`);
  }
  if (!alias.startsWith('*.') || alias.indexOf('*', 1) !== -1) {
    throw new InvalidArgumentError(`${field}: "${alias}" is not a valid wildcard ("*" only as the whole leftmost label, as in "*.web")`);
  }
  try {
    return { key: wireKey(alias.slice(2), field), wild: true };
  } catch (e) {
    throw new InvalidArgumentError(`${field}: "${alias}" is not a valid wildcard (${(e as Error).message.replace(/^.*\((.*)\)$/, '$1')})`);
  }
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
  | { op: 'removeSandbox'; sandboxId: string }
  | { op: 'addHostView'; viewId: string; networkId: string; zone: string | undefined }
  | { op: 'removeHostView'; viewId: string };

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
    for (const [viewId, v] of this.sandboxes) if (v.host) out.push({ op: 'addHostView', viewId, networkId: v.host.networkId, zone: v.host.zone });
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
      case 'addHostView': return this.addHostView(c.viewId, c.networkId, c.zone);
      case 'removeHostView': return this.removeHostView(c.viewId);
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
        wild: new Map(),
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
    // A host view sees only this network: it goes with it (replicas do the same on replay).
    for (const [viewId, v] of this.sandboxes) if (v.host?.networkId === networkId) this.sandboxes.delete(viewId);
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
    const wildKeys = new Set<string>();
    (ep.aliases ?? []).forEach((a, i) => {
      const k = aliasKey(a, `aliases[${i}]`);
      (k.wild ? wildKeys : keys).add(k.key);
    });
    if (ep.shortId) keys.add(wireKey(ep.shortId, 'shortId'));
    const ptrKeys: string[] = [];
    if (ep.ipv4) ptrKeys.push(ptrKeyOf(ep.ipv4));
    if (ep.ipv6) ptrKeys.push(ptrKeyOf(ep.ipv6));
    const endpoint: Endpoint = {
      sandboxId: ep.sandboxId,
      src: { ...ep, aliases: ep.aliases ? [...ep.aliases] : undefined },
      keys: [...keys],
      wildKeys: [...wildKeys],
      ptrKeys,
      a: ep.ipv4 ? ipv4Bytes(ep.ipv4) : undefined,
      aaaa: ep.ipv6 ? ipv6Bytes(ep.ipv6) : undefined,
      ptrTarget: wireName(ep.name),
    };

    this.removeEndpoint(ep.networkId, ep.sandboxId);
    t.endpoints.set(ep.sandboxId, endpoint);
    for (const k of endpoint.keys) addName(t.names, k, endpoint);
    for (const k of endpoint.wildKeys) addName(t.wild, k, endpoint);
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
    for (const k of endpoint.wildKeys) deleteName(t.wild, k, endpoint);
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
   * Exact names first; wildcard aliases and a host view's zone only after an exact miss.
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
    if (nets.length === 1) {
      // The common case: one network, one cached answer per name and family.
      const n = nets[0]!.names.get(key);
      if (!n) return this.miss(view, key, qtype);
      if (qtype !== TYPE_A && qtype !== TYPE_AAAA) return NODATA;
      const a = qtype === TYPE_A ? (n.a ??= answerOf(n, TYPE_A)) : (n.aaaa ??= answerOf(n, TYPE_AAAA));
      return a.kind === 'records' && a.rdata.length > 1 ? { kind: 'records', rdata: shuffleInPlace(a.rdata.slice()) } : a;
    }
    const r = findIn(nets, false, key, qtype);
    return r === UNKNOWN ? this.miss(view, key, qtype) : r;
  }

  /** After an exact miss: the closest wildcard, then (host views) the name without the zone. */
  private miss(view: SandboxView, key: string, qtype: number): LocalAnswer {
    const nets = view.list;
    const w = wildcardIn(nets, key, qtype);
    if (w !== UNKNOWN) return w;
    const bare = view.host && stripZone(key, view.host.zoneKey);
    if (!bare) return UNKNOWN;
    const r = findIn(nets, false, bare, qtype);
    return r === UNKNOWN ? wildcardIn(nets, bare, qtype) : r;
  }

  /**
   * Serve one network to a host listener as `viewId` (never a sandbox id): lookup(viewId, …)
   * answers that network's names, upstreamsFor(viewId) is undefined (a host listener never
   * forwards). `zone` (the network name) also makes "<name>.<zone>" answer. Replaces an earlier
   * view of the same id; undone by removeHostView, and by removeNetwork.
   */
  addHostView(viewId: string, networkId: string, zone?: string): void {
    const t = this.networks.get(networkId);
    if (!t) throw new NotFoundError(`network ${networkId}: not known to the DNS (addNetwork first)`);
    if (this.sandboxes.get(viewId) && !this.sandboxes.get(viewId)!.host) throw new InvalidArgumentError(`viewId: ${viewId} is a sandbox`);
    let zoneKey: string | undefined;
    try {
      zoneKey = zone ? wireKey(zone) : undefined;
    } catch {
      zoneKey = undefined; // a network name that is no DNS name: bare names only
    }
    this.sandboxes.set(viewId, { networks: new Set([t]), list: [t], upstreams: undefined, host: { networkId, zone, zoneKey } });
    if (this.watchers.size) this.changed({ op: 'addHostView', viewId, networkId, zone });
  }

  /** Idempotent. */
  removeHostView(viewId: string): void {
    if (!this.sandboxes.get(viewId)?.host) return;
    this.sandboxes.delete(viewId);
    if (this.watchers.size) this.changed({ op: 'removeHostView', viewId });
  }

  /** Does some host view see this network? (O(host views); not on the query path) */
  hasHostView(networkId: string): boolean {
    for (const v of this.sandboxes.values()) if (v.host?.networkId === networkId) return true;
    return false;
  }

  /**
   * What a name that lookup() did not answer and that is not forwarded gets. A sandbox: NXDOMAIN
   * (REFUSED when it is on no network). A host view: NXDOMAIN inside its zone ("x.mynet": the
   * zone is ours), REFUSED for every other name — the host listener answers its network's names
   * and nothing else, so it can never serve as an open resolver on the bridge.
   */
  missRcode(sandboxId: string, key: string): MissRcode {
    const view = this.sandboxes.get(sandboxId);
    if (!view) return 'refused';
    if (!view.host) return 'nxdomain';
    const z = view.host.zoneKey;
    return z !== undefined && (key === z || stripZone(key, z) !== undefined) ? 'nxdomain' : 'refused';
  }

  /**
   * Every endpoint of `networkId` as a hosts-file entry (address, then name, exact aliases and
   * short id); wildcard aliases have no hosts-file form and are left out.
   */
  hostsEntries(networkId: string): Array<{ ip: string; names: string[] }> {
    const t = this.networks.get(networkId);
    if (!t) return [];
    const out: Array<{ ip: string; names: string[] }> = [];
    for (const e of t.endpoints.values()) {
      const names = [e.src.name, ...(e.src.aliases ?? []).filter((a) => !a.startsWith('*')), ...(e.src.shortId ? [e.src.shortId] : [])];
      if (e.src.ipv4) out.push({ ip: e.src.ipv4, names });
      if (e.src.ipv6) out.push({ ip: e.src.ipv6, names });
    }
    return out;
  }

  /**
   * Where unknown names from this sandbox go: undefined when the sandbox may not forward (every
   * network it is on is internal, or it is on none); otherwise the sandbox's own list, else the
   * first network's list, else [] meaning "the host's resolv.conf".
   */
  upstreamsFor(sandboxId: string): readonly string[] | undefined {
    const view = this.sandboxes.get(sandboxId);
    if (!view || view.host) return undefined;
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

/** `key` on several networks, exact names (wild false) or wildcard parents (wild true). */
function findIn(nets: readonly NetworkTable[], wild: boolean, key: string, qtype: number): LocalAnswer {
  const family = qtype === TYPE_A || qtype === TYPE_AAAA;
  let known = false;
  let out: Buffer[] | undefined;
  for (let i = 0; i < nets.length; i++) {
    const t = nets[i]!;
    const n = (wild ? t.wild : t.names).get(key);
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
 * The closest wildcard above `key`: drop one label at a time (O(labels)) and look the rest up
 * among the wildcard parents. Never matches the parent itself ("*.web" does not answer "web").
 */
function wildcardIn(nets: readonly NetworkTable[], key: string, qtype: number): LocalAnswer {
  let any = false;
  for (let i = 0; i < nets.length; i++) if (nets[i]!.wild.size) { any = true; break; }
  if (!any) return UNKNOWN;
  let i = 0;
  for (;;) {
    const n = key.charCodeAt(i);
    if (!(n > 0)) return UNKNOWN; // the root (or a malformed key): nothing above it
    i += 1 + n;
    if (i >= key.length) return UNKNOWN;
    const r = findIn(nets, true, key.slice(i), qtype);
    if (r !== UNKNOWN) return r;
  }
}

/** "x.y.<zone>" → the key of "x.y"; undefined when `key` is not strictly below the zone. */
function stripZone(key: string, zoneKey: string | undefined): string | undefined {
  if (zoneKey === undefined || key.length <= zoneKey.length || !key.endsWith(zoneKey)) return undefined;
  // The suffix must start at a label boundary: walk the labels.
  let i = 0;
  while (i < key.length - zoneKey.length) {
    const n = key.charCodeAt(i);
    if (n === 0) return undefined;
    i += 1 + n;
  }
  return i === key.length - zoneKey.length ? key.slice(0, i) + '\0' : undefined;
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
