// core/kernel/netlink/codec.ts — the rtnetlink wire format: nlmsghdr framing, rtattr/nlattr
// encoding (4-byte aligned, NLA_F_NESTED for nests) and decoding, and the constants tsd uses
// (from include/uapi/linux/{netlink,rtnetlink,if_link,if_addr,neighbour}.h). Host byte order is
// little-endian here (x86_64/arm64); port numbers inside attributes are big-endian where the
// kernel says so (IFLA_VXLAN_PORT). Pure code, no syscalls: unit-tested in test/core/kernel/netlink.

export const NLMSG_HDRLEN = 16;

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  /** On an NLMSG_ERROR: extended-ack TLVs follow. */
  ACK_TLVS: 0x200,
  CAPPED: 0x100,
} as const;

export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
  NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30,
} as const;

export const AF_UNSPEC = 0;
export const AF_BRIDGE = 7;

export const IFLA = {
  ADDRESS: 1, BROADCAST: 2, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, PROTINFO: 12, OPERSTATE: 16,
  LINKINFO: 18, NET_NS_PID: 19, GROUP: 27, NET_NS_FD: 28, NUM_TX_QUEUES: 31, NUM_RX_QUEUES: 32, LINK_NETNSID: 37,
  ALT_IFNAME: 53,
} as const;
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_MACVLAN_MODE = 1;
export const IFLA_VXLAN = { ID: 1, GROUP: 2, LINK: 3, LOCAL: 4, TTL: 5, LEARNING: 7, PORT: 15, GROUP6: 16, LOCAL6: 17 } as const;
export const IFLA_BR = { FORWARD_DELAY: 1, AGEING_TIME: 4, STP_STATE: 5, MCAST_SNOOPING: 23 } as const;
export const IFLA_BRPORT = { MODE: 4, LEARNING: 8, UNICAST_FLOOD: 9, ISOLATED: 33 } as const;

export const IFF_UP = 0x1;

export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, FLAGS: 8 } as const;
export const IFA_F = { NODAD: 0x02, PERMANENT: 0x80 } as const;

export const RTA = { DST: 1, SRC: 2, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const;
export const RT_TABLE_MAIN = 254;
export const RTPROT = { KERNEL: 2, BOOT: 3, STATIC: 4 } as const;
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254 } as const;
export const RTN = { UNICAST: 1, LOCAL: 2 } as const;

export const NDA = { DST: 1, LLADDR: 2, PORT: 6, VNI: 7, IFINDEX: 8, MASTER: 9 } as const;
export const NUD = { NOARP: 0x40, PERMANENT: 0x80 } as const;
export const NTF = { SELF: 0x02, MASTER: 0x04 } as const;

const align4 = (n: number) => (n + 3) & ~3;

/**
 * Builds one netlink message in a growable buffer: header, fixed struct, attributes, nests.
 * `finish()` patches nlmsg_len and returns a view (valid until the writer is reused).
 */
export class MessageWriter {
  buf: Buffer;
  len = 0;
  constructor(size = 1024) {
    this.buf = Buffer.alloc(size);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n + 256));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Start a message; seq and pid are patched in by the socket. */
  begin(type: number, flags: number): this {
    this.len = 0;
    this.ensure(NLMSG_HDRLEN);
    this.buf.fill(0, 0, NLMSG_HDRLEN);
    this.buf.writeUInt16LE(type, 4);
    this.buf.writeUInt16LE(flags, 6);
    this.len = NLMSG_HDRLEN;
    return this;
  }

  /** Reserve `size` zeroed bytes (a fixed struct such as ifinfomsg) and return its offset. */
  struct(size: number): number {
    this.ensure(size);
    const off = this.len;
    this.buf.fill(0, off, off + size);
    this.len += align4(size);
    return off;
  }

  attr(type: number, payload: Uint8Array): this {
    const alen = 4 + payload.length;
    this.ensure(align4(alen));
    this.buf.writeUInt16LE(alen, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.buf.set(payload, this.len + 4);
    this.buf.fill(0, this.len + alen, this.len + align4(alen));
    this.len += align4(alen);
    return this;
  }

  u8(type: number, v: number): this {
    return this.fixed(type, 1, (o) => this.buf.writeUInt8(v, o));
  }
  u16(type: number, v: number): this {
    return this.fixed(type, 2, (o) => this.buf.writeUInt16LE(v, o));
  }
  u16be(type: number, v: number): this {
    return this.fixed(type, 2, (o) => this.buf.writeUInt16BE(v, o));
  }
  u32(type: number, v: number): this {
    return this.fixed(type, 4, (o) => this.buf.writeUInt32LE(v >>> 0, o));
  }
  s32(type: number, v: number): this {
    return this.fixed(type, 4, (o) => this.buf.writeInt32LE(v, o));
  }
  /** NUL-terminated string attribute. */
  str(type: number, s: string): this {
    const n = Buffer.byteLength(s);
    return this.fixed(type, n + 1, (o) => {
      this.buf.write(s, o);
      this.buf[o + n] = 0;
    });
  }

  private fixed(type: number, size: number, write: (off: number) => void): this {
    const alen = 4 + size;
    this.ensure(align4(alen));
    this.buf.writeUInt16LE(alen, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.buf.fill(0, this.len + 4, this.len + align4(alen));
    write(this.len + 4);
    this.len += align4(alen);
    return this;
  }

  /** Open a nested attribute; close it with `end(offset)`. */
  nest(type: number): number {
    this.ensure(4);
    const off = this.len;
    this.buf.writeUInt16LE(type | NLA_F_NESTED, off + 2);
    this.len += 4;
    return off;
  }
  end(nestOffset: number): this {
    this.buf.writeUInt16LE(this.len - nestOffset, nestOffset);
    return this;
  }

  finish(): Buffer {
    this.buf.writeUInt32LE(this.len, 0);
    return this.buf.subarray(0, this.len);
  }
}

/** One message of a reply: type, flags, seq and its payload (after the 16-byte header). */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/** Split a datagram into messages (views into `buf`). */
export function parseMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the NESTED/BYTEORDER bits masked off); last one wins on duplicates. */
export type Attrs = Map<number, Buffer>;

export function parseAttrs(buf: Buffer, offset = 0): Attrs {
  const out: Attrs = new Map();
  let off = offset;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

/** Every attribute in order, duplicates kept (e.g. several NDA_DST on a vxlan FDB dump). */
export function parseAttrList(buf: Buffer, offset = 0): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let off = offset;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.push([buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len)]);
    off += align4(len);
  }
  return out;
}

export function attrStr(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}
export const attrU8 = (b: Buffer | undefined) => (b && b.length >= 1 ? b.readUInt8(0) : undefined);
export const attrU32 = (b: Buffer | undefined) => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);
export const attrS32 = (b: Buffer | undefined) => (b && b.length >= 4 ? b.readInt32LE(0) : undefined);
export const attrU16be = (b: Buffer | undefined) => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined);

/** struct nlmsgerr: negative errno, the echoed header (capped), then extended-ack TLVs. */
export function parseError(msg: NetlinkMessage): { errno: number; extack?: string } {
  const errno = -msg.payload.readInt32LE(0) | 0; // | 0: no -0 for an ack
  let extack: string | undefined;
  if (msg.flags & NLM_F.ACK_TLVS) {
    // With NETLINK_CAP_ACK the echoed request is only its 16-byte header.
    const echoedLen = msg.flags & NLM_F.CAPPED ? NLMSG_HDRLEN : msg.payload.readUInt32LE(4);
    const tlvs = parseAttrs(msg.payload, 4 + align4(echoedLen));
    extack = attrStr(tlvs.get(1 /* NLMSGERR_ATTR_MSG */));
  }
  return extack ? { errno, extack } : { errno };
}
