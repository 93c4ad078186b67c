// bench/hostdns.ts — what the host-DNS work costs on the two hot paths it touches:
//  1. a record change (connect / disconnect: addEndpoint + removeEndpoint) on a network with a
//     host listener, whose hosts export is armed by every change, against one without;
//  2. lookups: an exact hit (unchanged path), a wildcard hit ("a.b.web" via "*.web", after an
//     exact miss) and a plain miss, with 10 000 names and 10 000 wildcards in the table.
// Interleaved rounds, best of each; no sockets, bounded (a few seconds).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DnsRecords, wireKey, TYPE_A } from '../core/dns/records.js';
import { HostsExport } from '../core/dns/hosts-export.js';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const N = 5000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-bench-hostdns-'));
const records = new DnsRecords();
const ex = new HostsExport({ records, file: path.join(dir, 'hosts') });
ex.start();
records.addNetwork('plain');
records.addNetwork('host');
records.addHostView('host:host', 'host', 'host');

function changes(net: string): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) records.addEndpoint({ networkId: net, sandboxId: `${net}${i}`, name: `c${i}`, aliases: ['a'], ipv4: `10.9.${i >> 8}.${i & 255}` });
  for (let i = 0; i < N; i++) records.removeEndpoint(net, `${net}${i}`);
  return Number(process.hrtime.bigint() - t0) / (2 * N) / 1000;
}

const table = new DnsRecords();
table.addNetwork('n');
for (let i = 0; i < 10_000; i++) table.addEndpoint({ networkId: 'n', sandboxId: `s${i}`, name: `c${i}`, aliases: [`*.w${i}`], ipv4: `10.0.${i >> 8}.${i & 255}` });
table.addEndpoint({ networkId: 'n', sandboxId: 'web', name: 'front', aliases: ['*.web'], ipv4: '10.1.0.2' });
const keys = { exact: wireKey('c4242'), wildcard: wireKey('a.b.web'), miss: wireKey('nothere.example.com') };

function lookups(key: string): number {
  const M = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < M; i++) table.lookup('s1', key, TYPE_A);
  return Number(process.hrtime.bigint() - t0) / M;
}

const best: Record<string, number> = {};
const keep = (k: string, v: number) => { best[k] = Math.min(best[k] ?? Infinity, v); };
for (let r = 0; r < ROUNDS; r++) {
  keep('change, no host listener (µs)', changes('plain'));
  keep('change, host listener + export armed (µs)', changes('host'));
  for (const [k, key] of Object.entries(keys)) keep(`lookup ${k} (ns)`, lookups(key));
  await ex.flush();
}
await ex.close();
fs.rmSync(dir, { recursive: true, force: true });
console.log(`hostdns bench: best of ${ROUNDS} rounds, node ${process.version}, ${os.availableParallelism()} cpus, load ${os.loadavg()[0]!.toFixed(1)}`);
for (const [k, v] of Object.entries(best)) console.log(`  ${k.padEnd(44)} ${v.toFixed(2)}`);
