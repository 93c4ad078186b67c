// bench/dns-serve.ts — tsd's resolver alone in a process, for the DNS benches (so that its CPU
// time is measured like a peer's, from /proc, and the bench's own work does not share its event
// loop): `node dns-serve.js ADDRESS RECORDS [ALIASES [UDP]]` serves sandbox "client" on ADDRESS:0 with
// RECORDS names c0… (or, with ALIASES=1, aliases r0… of one sandbox) and prints "port N".
// UDP=batch (default, as the daemon runs it) serves UDP from the offload worker thread
// (recvmmsg/sendmmsg, core/dns/udp-offload.ts; DNS_TSD_THREADS threads, default as the daemon:
// min(2, cores)); UDP=dgram uses Node's dgram on the main thread.
import os from 'node:os';
import { DnsRecords } from '../core/dns/records.js';
import { DnsServer } from '../core/dns/server.js';
import { Forwarder } from '../core/dns/forward.js';

const [address = '127.0.0.1', countText = '10', aliasMode = '0', udpMode = 'batch'] = process.argv.slice(2);
const n = Number(countText);
const ipOf = (i: number) => `10.90.${(i >> 8) & 255}.${i & 255}`;
const records = new DnsRecords();
records.addNetwork('bench');
records.addEndpoint({ networkId: 'bench', sandboxId: 'client', name: 'client', ipv4: '10.89.0.2' });
if (aliasMode === '1') {
  records.addEndpoint({ networkId: 'bench', sandboxId: 'target', name: 'target', aliases: Array.from({ length: n }, (_, i) => `r${i}`), ipv4: '10.91.0.3' });
} else {
  for (let i = 0; i < n; i++) records.addEndpoint({ networkId: 'bench', sandboxId: `c${i}`, name: `c${i}`, ipv4: ipOf(i) });
}
const forwarder = new Forwarder();
const server = new DnsServer({
  records, forwarder, defaultUpstreams: () => [],
  udpBatch: udpMode === 'batch' ? { module: new URL('../core/kernel/udp-batch.js', import.meta.url).href, threads: Number(process.env.DNS_TSD_THREADS ?? Math.min(2, os.availableParallelism())) } : undefined,
});
const port = await server.listen({ sandboxId: 'client', address, port: 0 });
console.log(`port ${port}`);
const stop = async () => {
  await server.close();
  forwarder.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
