// core/kernel/firewall/nft-events.ts — nftables change events (what `nft monitor` prints), shared
// by the nftables backend and iptables in nft mode (both are nf_tables underneath):
// a NETLINK_NETFILTER socket subscribed to NFNLGRP_NFTABLES, read from the event loop through a
// libuv poll handle (koffi.node.poll), so an idle watch costs no CPU and no thread. Events are
// grouped per transaction: the kernel sends the objects' NEW*/DEL* messages of one commit, then
// one NFT_MSG_NEWGEN naming the committing process (NFTA_GEN_PROC_PID / _NAME), so a consumer can
// tell tsd's own transactions from everyone else's.
//
// Only deletions and new rules are decoded (table, chain, set names); other additions are counted
// and skipped without parsing, so tsd's own publish batches (one NEWSETELEM per element) cost
// about a µs per element here (the kernel's cost of building them is larger: docs/benchmarks.md).

import koffi from 'koffi';
import { KernelError } from '../kernel-error.js';
import { check, errno, SOCK_CLOEXEC, SOCK_NONBLOCK, sys } from '../libc.js';
import { NLMSG_HDRLEN } from '../netlink/codec.js';
import { isRecentChild } from '../exec.js';
import type { FirewallDamage, FirewallWatcher } from './types.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_NETFILTER = 12;
const NFNLGRP_NFTABLES = 7;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;
const NFNL_SUBSYS_NFTABLES = 10;
const NFGENMSG_LEN = 4;

/** NFT_MSG_* (include/uapi/linux/netfilter/nf_tables.h) that remove something. */
const DELETES: Record<number, NftObjectRef['kind']> = {
  2: 'table', 5: 'chain', 8: 'rule', 11: 'set', 14: 'setelem', 20: 'obj', 24: 'flowtable',
  26: 'table', 27: 'chain', 28: 'rule', 29: 'set', 30: 'setelem', 31: 'obj', 32: 'flowtable',
};
const NFT_MSG_NEWGEN = 15;
const NFT_MSG_NEWRULE = 6;
const NFTA_GEN = { PROC_PID: 2, PROC_NAME: 3 } as const;
/** Every deletion message carries its table as attribute 1; chain/rule/set name positions differ. */
const NAME_ATTR: Partial<Record<NftObjectRef['kind'], number>> = { chain: 3, rule: 2, set: 2, setelem: 2 };

const FAMILIES: Record<number, string> = { 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6' };

/** An object an event names (deleted, or a rule added). `name`: chain (chain, rule) or set (set, setelem). */
export interface NftObjectRef {
  kind: 'table' | 'chain' | 'rule' | 'set' | 'setelem' | 'obj' | 'flowtable';
  family: string;
  table: string;
  name?: string;
}

/** The deletions of one committed transaction, with the process that committed it. */
export interface NftTransaction {
  /** Each deleted object once (a flush of a chain deletes many rules: one entry). */
  deletions: NftObjectRef[];
  /** Keys of `deletions`, for that dedupe. */
  seen: Set<string>;
  /** Rules added (NEWRULE: family, table, chain in `name`): a user editing their hook chain. */
  ruleAdds: NftObjectRef[];
  /** Additions (any NEW* but NEWGEN) seen in the transaction, only counted. */
  additions: number;
  /** Committing process (NFTA_GEN_PROC_PID); undefined when the kernel did not say. */
  pid?: number;
  proc?: string;
  /** Netlink port of the socket that sent the batch (nlmsg_pid of the events). */
  portid: number;
}

export interface NftEventHandlers {
  transaction(t: NftTransaction): void;
  /** The receive queue overflowed (ENOBUFS): events were lost; the state must be checked. */
  overflow(): void;
  /** The socket failed for another reason and was closed: no more events. */
  failed(e: unknown): void;
}

/**
 * Pure: decode one datagram's messages into `pending`, calling `done` at each NEWGEN. Hot (tsd's
 * own batches produce one message per element), so it walks the bytes in place: no per-message
 * objects, attributes found by a scan, and a deletion already recorded in the transaction (the
 * same set, chain or table again) is not recorded twice.
 */
export function decodeEvents(buf: Buffer, pending: NftTransaction, done: (t: NftTransaction) => void): NftTransaction {
  let cur = pending;
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const body = off + NLMSG_HDRLEN;
    const end = off + len;
    off += (len + 3) & ~3;
    if (type >> 8 !== NFNL_SUBSYS_NFTABLES || body + NFGENMSG_LEN > end) continue;
    const msgType = type & 0xff;
    cur.portid ||= buf.readUInt32LE(body - 4);
    if (msgType === NFT_MSG_NEWGEN) {
      const pid = findAttr(buf, body + NFGENMSG_LEN, end, NFTA_GEN.PROC_PID);
      if (pid >= 0 && buf.readUInt16LE(pid - 4) >= 8) cur.pid = buf.readUInt32BE(pid);
      const name = strAttr(buf, body + NFGENMSG_LEN, end, NFTA_GEN.PROC_NAME);
      if (name !== undefined) cur.proc = name;
      done(cur);
      cur = emptyTransaction();
      continue;
    }
    const kind = DELETES[msgType];
    if (!kind && msgType !== NFT_MSG_NEWRULE) {
      cur.additions++;
      continue;
    }
    const fam = buf.readUInt8(body);
    const d: NftObjectRef = { kind: kind ?? 'rule', family: FAMILIES[fam] ?? String(fam), table: strAttr(buf, body + NFGENMSG_LEN, end, 1) ?? '' };
    const nameAttr = NAME_ATTR[d.kind];
    if (nameAttr !== undefined) {
      const name = strAttr(buf, body + NFGENMSG_LEN, end, nameAttr);
      if (name !== undefined) d.name = name;
    }
    if (!kind) {
      cur.additions++;
      cur.ruleAdds.push(d);
      continue;
    }
    const key = `${d.kind} ${d.family} ${d.table} ${d.name ?? ''}`;
    if (cur.seen.has(key)) continue;
    cur.seen.add(key);
    cur.deletions.push(d);
  }
  return cur;
}

/** Offset of attribute `type`'s value in buf[from, to), or -1. */
function findAttr(buf: Buffer, from: number, to: number, type: number): number {
  let o = from;
  while (o + 4 <= to) {
    const len = buf.readUInt16LE(o);
    if (len < 4 || o + len > to) return -1;
    if ((buf.readUInt16LE(o + 2) & 0x3fff) === type) return o + 4;
    o += (len + 3) & ~3;
  }
  return -1;
}

function strAttr(buf: Buffer, from: number, to: number, type: number): string | undefined {
  const v = findAttr(buf, from, to, type);
  if (v < 0) return undefined;
  let e = v + buf.readUInt16LE(v - 4) - 4;
  while (e > v && buf[e - 1] === 0) e--;
  return buf.toString('utf8', v, e);
}

export function emptyTransaction(): NftTransaction {
  return { deletions: [], seen: new Set(), ruleAdds: [], additions: 0, portid: 0 };
}

/** A subscription to nftables events in the calling thread's netns. close() ends it. */
export class NftEventSocket {
  private readonly fd: number;
  private readonly rbuf = Buffer.alloc(256 * 1024);
  private readonly poll: ReturnType<typeof koffi.node.poll>;
  private pending = emptyTransaction();
  private closed = false;

  constructor(private readonly on: NftEventHandlers) {
    this.fd = check(sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER), 'open nfnetlink event socket', 'nftables');
    try {
      // A rebuild of 10k elements queues ~1 MB of events: room for that before ENOBUFS.
      const size = Buffer.alloc(4);
      size.writeInt32LE(8 << 20);
      if (sys.setsockopt(this.fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) !== 0) sys.setsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, size, 4);
      const sa = Buffer.alloc(12);
      sa.writeUInt16LE(AF_NETLINK, 0);
      sa.writeUInt32LE(1 << (NFNLGRP_NFTABLES - 1), 8);
      check(sys.bind(this.fd, sa, 12), 'subscribe to nftables events (NFNLGRP_NFTABLES)', 'nftables');
      // An exception must not unwind into koffi's libuv callback (a fatal napi_throw): rethrown on
      // the next tick, it is an ordinary uncaught exception. The handle stays ref'd: whoever opens
      // the watch closes it (an unref'd handle with queued events crashes node's exit cleanup).
      this.poll = koffi.node.poll(this.fd, { readable: true }, () => {
        try {
          this.drain();
        } catch (e) {
          process.nextTick(() => { throw e; });
        }
      });
    } catch (e) {
      sys.close(this.fd);
      throw e;
    }
  }

  private drain(): void {
    for (;;) {
      if (this.closed) return;
      const n = Number(sys.recv(this.fd, this.rbuf, this.rbuf.length, 0));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) return;
        if (e === ENOBUFS) {
          this.pending = emptyTransaction();
          this.on.overflow();
          continue;
        }
        // Closed rather than retried: a persistent error would make the poll handle spin.
        this.close();
        this.on.failed(new KernelError('read nftables events', 'nftables', e));
        return;
      }
      if (n === 0) return;
      this.pending = decodeEvents(this.rbuf.subarray(0, n), this.pending, (t) => this.on.transaction(t));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poll.close();
    sys.close(this.fd);
  }
}

/** Whether a transaction was committed by tsd: this process (libnftables, the element socket) or a command it ran. */
export function isOwnTransaction(t: NftTransaction): boolean {
  return t.pid !== undefined && (t.pid === process.pid || isRecentChild(t.pid));
}

/**
 * Watch nftables events for damage: `classify` looks at every transaction *not* committed by
 * tsd and returns the damage it did (or undefined); a queue overflow is uncertain damage.
 */
export function watchNftEvents(classify: (t: NftTransaction) => FirewallDamage | undefined, onDamage: (d: FirewallDamage) => void): FirewallWatcher {
  const sock = new NftEventSocket({
    transaction(t) {
      if (isOwnTransaction(t)) return;
      const d = classify(t);
      // A kernel that does not name the committing process: it may be tsd's own, so only a
      // check (not the event) can decide, or tsd's repairs would trigger each other.
      if (d) onDamage(t.pid === undefined ? { ...d, certain: false } : d);
    },
    overflow() {
      onDamage({ what: ['nftables events lost (receive queue overflow)'], certain: false });
    },
    failed(e) {
      onDamage({ what: [`nftables events stopped (${e instanceof Error ? e.message : String(e)}): repairs need tsctl firewall reload`], certain: false });
    },
  });
  return { mode: 'events', close: () => sock.close() };
}

/** "nft pid 1234" for a damage report. */
export function originOf(t: NftTransaction): string | undefined {
  return t.pid === undefined ? undefined : `${t.proc ?? 'process'} pid ${t.pid}`;
}

/** A deletion in words: "table inet tsd", "chain inet tsd forward", "rules of chain ip filter TSD-FORWARD". */
export function describeDeletion(d: NftObjectRef): string {
  const where = `${d.family} ${d.table}`;
  switch (d.kind) {
    case 'table': return `table ${where}`;
    case 'chain': return `chain ${where} ${d.name ?? '?'}`;
    case 'rule': return `rules of chain ${where} ${d.name ?? '?'}`;
    case 'set': return `set ${where} ${d.name ?? '?'}`;
    case 'setelem': return `elements of set ${where} ${d.name ?? '?'}`;
    default: return `${d.kind}s of table ${where}`;
  }
}

/**
 * Distinct descriptions: a flush deletes many rules of one chain (one line for them), and a
 * deleted table takes its chains, sets and rules with it (only the table is named).
 */
export function describeAll(ds: readonly NftObjectRef[]): string[] {
  const tables = new Set(ds.filter((d) => d.kind === 'table').map((d) => `${d.family} ${d.table}`));
  return [...new Set(ds.filter((d) => d.kind === 'table' || !tables.has(`${d.family} ${d.table}`)).map(describeDeletion))];
}
