// core/dns/wire.ts — the resolver's hot path on the wire: parse a standard query (header, one
// question, optional EDNS0 OPT) and build the answer, straight from and into Buffers.
//
// Why hand-coded rather than dns-packet: bench/dns-codec.ts measures both on the same queries
// (docs/benchmarks.md, "## dns"); decoding into objects and re-encoding costs several times more
// than slicing the question out and appending fixed-size records. dns-packet stays the reference
// codec in the tests and the fake upstreams. Anything this parser does not accept gets an
// explicit FORMERR / NOTIMP / drop decision here — it never throws on any input.

/** Response codes used by the resolver. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const TYPE_OPT = 41;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;
/** Plain-DNS UDP limit without EDNS0 (RFC 1035). */
export const MIN_UDP_SIZE = 512;
/** The UDP size we advertise and the most we send over UDP (DNS flag day 2020). */
export const OUR_UDP_SIZE = 1232;
export const MAX_TCP_SIZE = 65535;

/** A query the resolver can answer or forward. */
export interface Query {
  readonly id: number;
  /** byte 2 of the header (QR/opcode/AA/TC/RD) as received */
  readonly flags1: number;
  /** byte 3 of the header as received (RA/Z/AD/CD/rcode) */
  readonly flags2: number;
  /** qname + qtype + qclass exactly as received (case kept, for the echo) */
  readonly question: Buffer;
  /** lower-cased wire form of the qname as a latin1 string (records.ts wireKey) */
  readonly key: string;
  readonly qtype: number;
  readonly qclass: number;
  /** true when the query carried an OPT record */
  readonly edns: boolean;
  /** EDNS version asked for (0 when none) */
  readonly ednsVersion: number;
  /** The largest UDP answer the client accepts (≥ 512). */
  readonly udpSize: number;
}

export type ParseResult =
  | { kind: 'query'; query: Query }
  /** Reply with this rcode (header only, plus the question when it parsed). */
  | { kind: 'error'; rcode: number; id: number; flags1: number; question: Buffer | undefined }
  /** Too short to reply to, or a response (never answer a response: no loops). */
  | { kind: 'drop' };

const DROP: ParseResult = Object.freeze({ kind: 'drop' });

function err(buf: Buffer, rcode: number, question?: Buffer): ParseResult {
  return { kind: 'error', rcode, id: buf.readUInt16BE(0), flags1: buf[2]!, question };
}

/** Parse a query datagram (or one TCP frame without its length prefix). Never throws. */
export function parseQuery(buf: Buffer): ParseResult {
  const len = buf.length;
  if (len < 12) return DROP;
  const flags1 = buf[2]!;
  if (flags1 & 0x80) return DROP; // QR: this is a response
  if ((flags1 & 0x78) !== 0) return err(buf, RCODE.NOTIMP); // opcode other than QUERY
  const qd = (buf[4]! << 8) | buf[5]!;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const ar = (buf[10]! << 8) | buf[11]!;
  if (qd !== 1 || an !== 0 || ns !== 0) return err(buf, RCODE.FORMERR);

  // qname: uncompressed labels (a pointer in the only question could only point into itself).
  let p = 12;
  for (;;) {
    if (p >= len) return err(buf, RCODE.FORMERR);
    const l = buf[p]!;
    if (l === 0) break;
    if (l > 63) return err(buf, RCODE.FORMERR);
    p += 1 + l;
    if (p - 12 > 254) return err(buf, RCODE.FORMERR); // name > 255 octets
  }
  const nameEnd = p + 1;
  if (nameEnd + 4 > len) return err(buf, RCODE.FORMERR);
  const qtype = (buf[nameEnd]! << 8) | buf[nameEnd + 1]!;
  const qclass = (buf[nameEnd + 2]! << 8) | buf[nameEnd + 3]!;
  const question = buf.subarray(12, nameEnd + 4);
  const key = lowerLatin1(buf, 12, nameEnd);

  // Additional section: find the OPT record; skip others (e.g. a TSIG we do not verify).
  let edns = false;
  let ednsVersion = 0;
  let udpSize = MIN_UDP_SIZE;
  p = nameEnd + 4;
  for (let i = 0; i < ar; i++) {
    const owner = p;
    // owner name: labels or a pointer
    for (;;) {
      if (p >= len) return err(buf, RCODE.FORMERR, question);
      const l = buf[p]!;
      if (l === 0) { p += 1; break; }
      if ((l & 0xc0) === 0xc0) { p += 2; break; }
      if (l > 63) return err(buf, RCODE.FORMERR, question);
      p += 1 + l;
    }
    if (p + 10 > len) return err(buf, RCODE.FORMERR, question);
    const type = (buf[p]! << 8) | buf[p + 1]!;
    const rdlen = (buf[p + 8]! << 8) | buf[p + 9]!;
    if (type === TYPE_OPT) {
      if (edns || buf[owner] !== 0) return err(buf, RCODE.FORMERR, question); // two OPTs, or OPT not at root
      edns = true;
      const size = (buf[p + 2]! << 8) | buf[p + 3]!;
      udpSize = size < MIN_UDP_SIZE ? MIN_UDP_SIZE : size;
      ednsVersion = buf[p + 5]!;
    }
    p += 10 + rdlen;
    if (p > len) return err(buf, RCODE.FORMERR, question);
  }
  return {
    kind: 'query',
    query: { id: (buf[0]! << 8) | buf[1]!, flags1, flags2: buf[3]!, question, key, qtype, qclass, edns, ednsVersion, udpSize },
  };
}

/** buf[start..end) as latin1 with ASCII A–Z lowered (length octets are < 64, never letters). */
function lowerLatin1(buf: Buffer, start: number, end: number): string {
  const s = buf.toString('latin1', start, end);
  // Fast path: most names are already lower case.
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 32));
  }
  return s;
}

export interface AnswerOptions {
  rcode: number;
  /** RR type of every answer record (A, AAAA or PTR); ignored when `rdata` is empty. */
  type: number;
  rdata: readonly Buffer[];
  ttl: number;
  /** The most bytes this answer may take (UDP: the client's EDNS size; TCP: 65535). */
  maxSize: number;
}

/**
 * Build a response to `q`: header, the question echoed, answers pointing at the question's name
 * (compression pointer 0xC00C), and an OPT record when the query had one. Records that do not fit
 * `maxSize` are left off and TC is set (the client retries over TCP). AA is clear and RA set, as
 * Docker's resolver answers.
 */
export function buildAnswer(q: Query, o: AnswerOptions): Buffer {
  const badVers = q.edns && q.ednsVersion !== 0;
  const rcode = badVers ? RCODE.BADVERS : o.rcode;
  const rdata = badVers ? [] : o.rdata;
  const qlen = q.question.length;
  const optLen = q.edns ? 11 : 0;
  const fixed = 12 + qlen + optLen;
  let n = rdata.length;
  let size = fixed;
  for (let i = 0; i < n; i++) size += 12 + rdata[i]!.length;
  let tc = 0;
  if (size > o.maxSize) {
    tc = 0x02;
    size = fixed;
    let fit = 0;
    while (fit < n && size + 12 + rdata[fit]!.length <= o.maxSize) size += 12 + rdata[fit++]!.length;
    n = fit;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = q.id >> 8;
  out[1] = q.id & 0xff;
  out[2] = 0x80 | (q.flags1 & 0x01) | tc; // QR, RD echoed, opcode 0, AA 0
  out[3] = 0x80 | (q.flags2 & 0x10) | (rcode & 0x0f); // RA, CD echoed
  out[4] = 0;
  out[5] = 1;
  out[6] = n >> 8;
  out[7] = n & 0xff;
  out[8] = 0;
  out[9] = 0;
  out[10] = 0;
  out[11] = q.edns ? 1 : 0;
  q.question.copy(out, 12);
  let p = 12 + qlen;
  const ttl = o.ttl;
  for (let i = 0; i < n; i++) {
    const r = rdata[i]!;
    out[p] = 0xc0;
    out[p + 1] = 12;
    out[p + 2] = o.type >> 8;
    out[p + 3] = o.type & 0xff;
    out[p + 4] = 0;
    out[p + 5] = 1;
    out.writeUInt32BE(ttl, p + 6);
    out[p + 10] = r.length >> 8;
    out[p + 11] = r.length & 0xff;
    r.copy(out, p + 12);
    p += 12 + r.length;
  }
  if (q.edns) writeOpt(out, p, rcode);
  return out;
}

function writeOpt(out: Buffer, p: number, rcode: number): void {
  out[p] = 0; // root owner
  out[p + 1] = 0;
  out[p + 2] = TYPE_OPT;
  out[p + 3] = OUR_UDP_SIZE >> 8;
  out[p + 4] = OUR_UDP_SIZE & 0xff;
  out[p + 5] = rcode >> 4; // extended rcode (BADVERS = 16 → 1)
  out[p + 6] = 0; // version
  out[p + 7] = 0;
  out[p + 8] = 0;
  out[p + 9] = 0;
  out[p + 10] = 0;
}

/** Header-only (plus question, when known) error reply for a packet that did not parse as a query. */
export function buildError(id: number, flags1: number, rcode: number, question: Buffer | undefined): Buffer {
  const qlen = question ? question.length : 0;
  const out = Buffer.alloc(12 + qlen);
  out.writeUInt16BE(id, 0);
  out[2] = 0x80 | (flags1 & 0x79); // QR, opcode and RD echoed
  out[3] = 0x80 | (rcode & 0x0f);
  if (question) {
    out[5] = 1;
    question.copy(out, 12);
  }
  return out;
}

/** A forwarded answer that is too big for the client's UDP size: header + question + TC. */
export function truncatedCopy(resp: Buffer, q: Query): Buffer {
  const out = Buffer.alloc(12 + q.question.length);
  resp.copy(out, 0, 0, 4);
  out[2] = out[2]! | 0x02;
  out[5] = 1;
  q.question.copy(out, 12);
  return out;
}
