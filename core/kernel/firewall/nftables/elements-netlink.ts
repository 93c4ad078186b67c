// core/kernel/firewall/nftables/elements-netlink.ts — the published-port hot path without nft's
// parser: NFT_MSG_NEWSETELEM / DELSETELEM for tsd's four port maps (pub4, pub4any, pub6,
// pub6any), sent as one nfnetlink batch (= one kernel transaction) over a NETLINK_NETFILTER
// socket with our netlink codec. Everything else (skeleton, network sets, rebuilds, listing)
// stays nft text through libnftables.
//
// Why: for 1000 elements libnftables spends ~8 ms CPU parsing and evaluating text, against
// < 1 ms to encode the same elements here; the kernel's work is the same.
// The encoding follows the skeleton's map types (table-model.ts, SCHEMA): concatenations of
// 4-byte-aligned fields, addresses and ports in network byte order, l4proto one byte. If the
// table drifted (other key types), the kernel refuses the batch (EINVAL/ENOENT) and the backend
// rebuilds from its model, as for a failed text batch.

import { KernelError } from '../../kernel-error.js';
import { ipToBytes } from '../../inet.js';
import { check, errno, SOCK_CLOEXEC, sys } from '../../libc.js';
import { MessageWriter, NLA_F_NESTED, NLM_F, NLMSG, parseError, parseMessages } from '../../netlink/codec.js';
import type { PortEntry } from '../types.js';
import { FAMILY, TABLE, portElement } from './table-model.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_NETFILTER = 12;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVTIMEO = 20;
const SO_SNDBUFFORCE = 32;
const EINTR = 4;
const EAGAIN = 11;

const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFPROTO_INET = 1;
const NFTA_SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM = { KEY: 1, DATA: 2 } as const;
const NFTA_DATA_VALUE = 1;
const PROTO: Record<PortEntry['proto'], number> = { tcp: 6, udp: 17, sctp: 132 };
/** Elements per message: the ELEMENTS nest's length is 16 bits (an IPv6 element is 68 bytes). */
const PER_MESSAGE = 500;

if (FAMILY !== 'inet') throw new Error('elements-netlink: encodes for an inet table only');

/** The port map an entry belongs to (same choice as table-model's portElement). */
function mapOf(e: PortEntry): string {
  return e.hostIp === undefined ? `pub${e.family}any` : `pub${e.family}`;
}

/** Write an address at `off` (IPv4 parsed inline: the hot path; IPv6 via inet.ts). */
export function putIp(buf: Buffer, off: number, ip: string, field: string): void {
  let part = 0;
  let digits = 0;
  let o = off;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (!digits || o - off >= 3) return void ipToBytes(ip, field).copy(buf, off);
      buf[o++] = part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return void ipToBytes(ip, field).copy(buf, off);
    } else {
      return void ipToBytes(ip, field).copy(buf, off);
    }
  }
  if (!digits || o - off !== 3) return void ipToBytes(ip, field).copy(buf, off);
  buf[o] = part;
}

/** Key and data bytes of one port element, as the skeleton's map types lay them out. */
export function encodePortElement(e: PortEntry): { set: string; key: Buffer; data: Buffer } {
  const [set] = portElement(e);
  const addrLen = e.family === 4 ? 4 : 16;
  const withHost = e.hostIp !== undefined;
  const key = Buffer.alloc((withHost ? addrLen : 0) + 8);
  let o = 0;
  if (withHost) {
    putIp(key, 0, e.hostIp!, 'hostIp');
    o = addrLen;
  }
  key[o] = PROTO[e.proto];
  key.writeUInt16BE(e.hostPort, o + 4);
  const data = Buffer.alloc(addrLen + 4);
  putIp(data, 0, e.containerIp, 'containerIp');
  data.writeUInt16BE(e.containerPort, addrLen);
  return { set, key, data };
}

/** One NETLINK_NETFILTER socket that applies element batches to `inet tsd`. */
export class NftElementSocket {
  private readonly fd: number;
  private readonly w = new MessageWriter(64 * 1024);
  private readonly rbuf = Buffer.alloc(64 * 1024);
  private seq = Math.floor(Math.random() * 0x3fffffff);
  private closed = false;

  /** Opens the socket in the calling thread's netns (create it where the nft ctx lives). */
  constructor() {
    this.fd = check(sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER), 'open nfnetlink socket', 'nftables');
    try {
      const int = (v: number) => {
        const b = Buffer.alloc(4);
        b.writeInt32LE(v);
        return b;
      };
      sys.setsockopt(this.fd, SOL_NETLINK, NETLINK_CAP_ACK, int(1), 4);
      sys.setsockopt(this.fd, SOL_NETLINK, NETLINK_EXT_ACK, int(1), 4);
      // Big batches (tens of thousands of elements) must fit one sendmsg to stay one transaction.
      if (sys.setsockopt(this.fd, SOL_SOCKET, SO_SNDBUFFORCE, int(8 << 20), 4) !== 0) sys.setsockopt(this.fd, SOL_SOCKET, SO_SNDBUF, int(8 << 20), 4);
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(10n, 0);
      check(sys.setsockopt(this.fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16), 'set timeout', 'nfnetlink socket');
      const sa = Buffer.alloc(12);
      sa.writeUInt16LE(AF_NETLINK, 0);
      check(sys.bind(this.fd, sa, 12), 'bind nfnetlink socket', 'nftables');
    } catch (e) {
      sys.close(this.fd);
      throw e;
    }
  }

  /**
   * Add or delete port elements in one transaction (all or none). A delete sends keys only.
   * Throws KernelError naming the operation and the map ("publish ports inet tsd pub4any: File
   * exists (EEXIST)"), with the kernel's extended-ack text when it gives one.
   */
  apply(verb: 'add' | 'delete', entries: readonly PortEntry[], op: string): void {
    if (this.closed) throw new KernelError(op, `${FAMILY} ${TABLE}`, 9, 'nfnetlink socket closed');
    const bySet = new Map<string, PortEntry[]>();
    for (const e of entries) {
      const set = mapOf(e);
      const list = bySet.get(set);
      if (list) list.push(e);
      else bySet.set(set, [e]);
    }
    const w = this.w;
    w.len = 0;
    const seqs: Array<{ seq: number; set: string }> = [];
    const beginSeq = this.header(NFNL_MSG_BATCH_BEGIN, NLM_F.REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    this.endMessage();
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (verb === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    // nft's own flags: `add element` is NLM_F_CREATE without EXCL (re-adding an identical element
    // is fine, a different mapping for the same key is EBUSY/EEXIST).
    const flags = NLM_F.REQUEST | NLM_F.ACK | (verb === 'add' ? NLM_F.CREATE : 0);
    for (const [set, list] of bySet) {
      for (let i = 0; i < list.length; i += PER_MESSAGE) {
        const seq = this.header(type, flags, NFPROTO_INET, 0);
        w.str(NFTA_SET_ELEM_LIST.TABLE, TABLE);
        w.str(NFTA_SET_ELEM_LIST.SET, set);
        const els = w.nest(NFTA_SET_ELEM_LIST.ELEMENTS);
        const stop = Math.min(list.length, i + PER_MESSAGE);
        for (let j = i; j < stop; j++) this.element(list[j]!, verb === 'add');
        w.end(els);
        this.endMessage();
        seqs.push({ seq, set });
      }
    }
    const endSeq = this.header(NFNL_MSG_BATCH_END, NLM_F.REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    this.endMessage();
    if (!seqs.length) return;
    const msg = w.buf.subarray(0, w.len);
    for (;;) {
      if (sys.send(this.fd, msg, msg.length, 0) !== -1) break;
      const e = errno();
      if (e !== EINTR) throw new KernelError(op, `${FAMILY} ${TABLE}`, e, 'nfnetlink send');
    }
    // Every element message asked for an ack; the kernel delivers acks and errors in message
    // order after the commit (or abort), so the last message's reply ends the batch. A failure
    // on BATCH_BEGIN/END is reported under their own seq and nothing else comes.
    const lastSeq = seqs[seqs.length - 1]!.seq;
    let first: KernelError | undefined;
    for (;;) {
      const n = Number(sys.recv(this.fd, this.rbuf, this.rbuf.length, 0));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        throw first ?? new KernelError(op, `${FAMILY} ${TABLE}`, e === EAGAIN ? 110 : e, 'no nfnetlink reply');
      }
      for (const m of parseMessages(this.rbuf.subarray(0, n))) {
        if (m.type !== NLMSG.ERROR) continue;
        const { errno: err, extack } = parseError(m);
        const batchEdge = m.seq === beginSeq || m.seq === endSeq;
        const which = seqs.find((s) => s.seq === m.seq);
        if (!which && !batchEdge) continue; // an earlier, timed-out batch
        if (err !== 0) first ??= new KernelError(op, `${FAMILY} ${TABLE}${which ? ` ${which.set}` : ''}`, err, extack);
        if (m.seq === lastSeq || (batchEdge && err !== 0)) {
          if (first) throw first;
          return;
        }
      }
    }
  }

  /**
   * One NFTA_LIST_ELEM { KEY { VALUE }, DATA { VALUE } } written in place (no per-element
   * allocation): key = [host address] . proto (1 byte, padded to 4) . port (BE, padded to 4);
   * data = container address . port (BE, padded to 4).
   */
  private element(e: PortEntry, withData: boolean): void {
    const w = this.w;
    const addrLen = e.family === 4 ? 4 : 16;
    const keyLen = (e.hostIp === undefined ? 0 : addrLen) + 8;
    const dataLen = addrLen + 4;
    const total = 4 + 8 + keyLen + (withData ? 8 + dataLen : 0);
    if (w.len + total > w.buf.length) this.grow(total);
    const b = w.buf;
    let o = w.len;
    b.writeUInt16LE(total, o);
    b.writeUInt16LE(NFTA_LIST_ELEM | NLA_F_NESTED, o + 2);
    b.writeUInt16LE(8 + keyLen, o + 4);
    b.writeUInt16LE(NFTA_SET_ELEM.KEY | NLA_F_NESTED, o + 6);
    b.writeUInt16LE(4 + keyLen, o + 8);
    b.writeUInt16LE(NFTA_DATA_VALUE, o + 10);
    o += 12;
    b.fill(0, o, o + keyLen);
    if (e.hostIp !== undefined) {
      putIp(b, o, e.hostIp, 'hostIp');
      o += addrLen;
    }
    b[o] = PROTO[e.proto];
    b.writeUInt16BE(e.hostPort, o + 4);
    o += 8;
    if (withData) {
      b.writeUInt16LE(8 + dataLen, o);
      b.writeUInt16LE(NFTA_SET_ELEM.DATA | NLA_F_NESTED, o + 2);
      b.writeUInt16LE(4 + dataLen, o + 4);
      b.writeUInt16LE(NFTA_DATA_VALUE, o + 6);
      o += 8;
      b.fill(0, o, o + dataLen);
      putIp(b, o, e.containerIp, 'containerIp');
      b.writeUInt16BE(e.containerPort, o + addrLen);
      o += dataLen;
    }
    w.len = o;
  }

  private grow(n: number): void {
    const w = this.w;
    const next = Buffer.alloc(Math.max(w.buf.length * 2, w.len + n + 4096));
    w.buf.copy(next, 0, 0, w.len);
    w.buf = next;
  }

  /** Start a message: nlmsghdr + nfgenmsg (family, version 0, res_id big-endian). */
  private header(type: number, flags: number, family: number, resId: number): number {
    const w = this.w;
    const start = w.len;
    if (w.buf.length < start + 4096) this.grow(4096);
    const seq = (this.seq = (this.seq + 1) >>> 0);
    w.buf.fill(0, start, start + 20);
    w.buf.writeUInt16LE(type, start + 4);
    w.buf.writeUInt16LE(flags, start + 6);
    w.buf.writeUInt32LE(seq, start + 8);
    w.buf.writeUInt8(family, start + 16);
    w.buf.writeUInt16BE(resId, start + 18);
    w.len = start + 20;
    this.msgStart = start;
    return seq;
  }

  private msgStart = 0;

  private endMessage(): void {
    this.w.buf.writeUInt32LE(this.w.len - this.msgStart, this.msgStart);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sys.close(this.fd);
  }
}
