// core/kernel/firewall/iptables/rules.ts — tsd's iptables rules as iptables-restore lines, per
// address family: the TSD-* chains and the jumps into them, one network's rules, one published
// port's DNAT rule. Pure functions. iptables has no maps, so this backend (the compatibility
// path) does write one rule per port — still in one iptables-restore batch per operation.

import { cidrFamily, type FirewallNetwork, type PortEntry } from '../types.js';

export type Table = 'nat' | 'filter';

/** A rule: table, chain and the match/target spec (no -A/-D). */
export interface Rule {
  table: Table;
  chain: string;
  spec: string;
}

export const CHAINS: Record<Table, string[]> = {
  nat: ['TSD-PREROUTING', 'TSD-OUTPUT', 'TSD-POSTROUTING', 'TSD-DNAT'],
  filter: ['TSD-FORWARD', 'TSD-ISOLATION-1', 'TSD-ISOLATION-2', 'TSD-ISOLATION-3'],
};

/**
 * The user's hook chain (Docker's DOCKER-USER), in the filter table of each family: jumped to
 * first from TSD-FORWARD, created when missing, never declared (= flushed) or written by tsd
 * except by purge().
 */
export const USER_CHAIN = 'TSD-USER';

/** Jumps from the built-in chains (inserted first, once; found again through *-save). */
export const JUMPS: Rule[] = [
  { table: 'nat', chain: 'PREROUTING', spec: '-j TSD-PREROUTING' },
  { table: 'nat', chain: 'OUTPUT', spec: '-j TSD-OUTPUT' },
  { table: 'nat', chain: 'POSTROUTING', spec: '-j TSD-POSTROUTING' },
  { table: 'filter', chain: 'FORWARD', spec: '-j TSD-FORWARD' },
];

/**
 * Fixed rules inside tsd's chains. ::1 is never DNAT'ed (IPv6 has no route_localnet: the sandbox
 * would drop the packet); tsd-bridge serves [::1]:port in-process (loopback6-proxy.ts).
 */
export function staticRules(family: 4 | 6): Rule[] {
  return [
    { table: 'nat', chain: 'TSD-PREROUTING', spec: '-m addrtype --dst-type LOCAL -j TSD-DNAT' },
    { table: 'nat', chain: 'TSD-OUTPUT', spec: `${family === 6 ? '! -d ::1/128 ' : ''}-m addrtype --dst-type LOCAL -j TSD-DNAT` },
    { table: 'filter', chain: 'TSD-FORWARD', spec: `-j ${USER_CHAIN}` },
    { table: 'filter', chain: 'TSD-FORWARD', spec: '-j TSD-ISOLATION-1' },
  ];
}

/** The rules of one network for one family (empty when it has no subnet of that family). */
export function networkRules(n: FirewallNetwork, family: 4 | 6): Rule[] {
  const subnets = n.subnets.filter((s) => cidrFamily(s) === family);
  if (!subnets.length) return [];
  const b = n.bridge;
  const out: Rule[] = [];
  const nat = (spec: string) => out.push({ table: 'nat', chain: 'TSD-POSTROUTING', spec });
  const fwd = (chain: string, spec: string) => out.push({ table: 'filter', chain, spec });
  // Host → 127.0.0.1:port → DNAT to a sandbox: the source must not stay loopback on the bridge.
  if (family === 4) nat(`-s 127.0.0.0/8 -o ${b} -j MASQUERADE`);
  for (const s of subnets) {
    nat(`-s ${s} -o ${b} -m conntrack --ctstate DNAT -j MASQUERADE`);
    if (n.masquerade && !n.internal) nat(`-s ${s} ! -o ${b} -j MASQUERADE`);
  }
  if (!n.icc) fwd('TSD-FORWARD', `-i ${b} -o ${b} -j DROP`);
  if (n.internal) {
    fwd('TSD-FORWARD', `-i ${b} ! -o ${b} -j DROP`);
    fwd('TSD-FORWARD', `-o ${b} ! -i ${b} -j DROP`);
  }
  // Isolation in stages (Docker's DOCKER-ISOLATION-STAGE-*): traffic leaving bridge b for another
  // bridge goes to stage 2 (drop towards every tsd bridge) if b isolates, else to stage 3 (drop
  // towards the bridges that isolate).
  fwd('TSD-ISOLATION-1', `-i ${b} ! -o ${b} -j ${n.isolate ? 'TSD-ISOLATION-2' : 'TSD-ISOLATION-3'}`);
  fwd('TSD-ISOLATION-2', `-o ${b} -j DROP`);
  if (n.isolate) fwd('TSD-ISOLATION-3', `-o ${b} -j DROP`);
  return out;
}

/** The DNAT rule of one published port. */
export function portRule(e: PortEntry): Rule {
  const dst = e.hostIp === undefined ? '' : `-d ${e.hostIp}/${e.family === 4 ? 32 : 128} `;
  const to = e.family === 4 ? `${e.containerIp}:${e.containerPort}` : `[${e.containerIp}]:${e.containerPort}`;
  return { table: 'nat', chain: 'TSD-DNAT', spec: `${dst}-p ${e.proto} -m ${e.proto} --dport ${e.hostPort} -j DNAT --to-destination ${to}` };
}

/** iptables-restore text: `lines` grouped per table, each table committed (one transaction). */
export function restoreText(lines: Array<{ table: Table; line: string }>): string {
  let out = '';
  for (const table of ['nat', 'filter'] as const) {
    const ls = lines.filter((l) => l.table === table);
    if (!ls.length) continue;
    out += `*${table}\n${ls.map((l) => l.line).join('\n')}\nCOMMIT\n`;
  }
  return out;
}

export const add = (r: Rule) => ({ table: r.table, line: `-A ${r.chain} ${r.spec}` });
export const del = (r: Rule) => ({ table: r.table, line: `-D ${r.chain} ${r.spec}` });
export const insertJump = (r: Rule) => ({ table: r.table, line: `-I ${r.chain} 1 ${r.spec}` });

/**
 * Chain declarations: in --noflush mode a declaration creates the chain or flushes it. The user
 * chain is declared only when `dump` (the family's *-save) does not hold it: never flushed.
 */
export function declareChains(dump: string): Array<{ table: Table; line: string }> {
  const out = (['nat', 'filter'] as const).flatMap((t) => CHAINS[t].map((c) => ({ table: t, line: `:${c} - [0:0]` })));
  if (!dumpHasChain(dump, USER_CHAIN)) out.push({ table: 'filter', line: `:${USER_CHAIN} - [0:0]` });
  return out;
}

/** Whether a *-save dump holds a rule (save prints `-A CHAIN spec`, with matches expanded). */
export function dumpHas(dump: string, r: Rule): boolean {
  return dump.split('\n').some((l) => l === `-A ${r.chain} ${r.spec}`);
}

export function dumpHasChain(dump: string, chain: string): boolean {
  return dump.split('\n').some((l) => l.startsWith(`:${chain} `));
}
