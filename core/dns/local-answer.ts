// core/dns/local-answer.ts — the answer to a query from the record tables alone, shared by the
// main-thread server (server.ts) and the UDP worker threads (udp-worker.ts).
import { TYPE_A, TYPE_AAAA, type DnsRecords, type LocalAnswer } from './records.js';
import { buildAnswer, CLASS_ANY, CLASS_IN, RCODE, TYPE_ANY, type Query } from './wire.js';

const NO_RDATA: readonly Buffer[] = [];
const UNKNOWN: LocalAnswer = { kind: 'unknown' };

/**
 * The NOERROR answer (records or NODATA) when `q` names a local name the sandbox may see;
 * undefined when the name is not local (forward, NXDOMAIN or REFUSED: the caller decides).
 */
export function localAnswer(records: DnsRecords, sandboxId: string, q: Query, maxSize: number, ttl: number): Buffer | undefined {
  let local: LocalAnswer = UNKNOWN;
  let type = q.qtype;
  if (q.qclass === CLASS_IN || q.qclass === CLASS_ANY) {
    if (q.qtype === TYPE_ANY) {
      local = records.lookup(sandboxId, q.key, TYPE_A);
      type = TYPE_A;
      if (local.kind !== 'records') {
        const v6 = records.lookup(sandboxId, q.key, TYPE_AAAA);
        if (v6.kind === 'records') { local = v6; type = TYPE_AAAA; }
      }
    } else {
      local = records.lookup(sandboxId, q.key, q.qtype);
    }
  }
  if (local.kind === 'records') return buildAnswer(q, { rcode: RCODE.NOERROR, type, rdata: local.rdata, ttl, maxSize });
  if (local.kind === 'nodata') return buildAnswer(q, { rcode: RCODE.NOERROR, type, rdata: NO_RDATA, ttl, maxSize });
  return undefined;
}
