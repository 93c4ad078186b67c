// core/kernel/firewall/nftables/table-model.ts — tsd's nft table as text: the static skeleton
// (loaded once) and the set/map elements that carry every network policy and published port.
// Pure functions; the backend sends their output to libnftables in one transaction.
//
// Why text and not JSON: nft 1.0.6 cannot declare a map with concatenated data in JSON (it
// silently makes a plain set, and a dnat rule using it segfaults nft; toolchain.md §4), and text
// elements measured as fast. Every value reaching this text is validated first (types.ts): nft
// would resolve a non-address through DNS.

import { cidrFamily, type FirewallNetwork, type PortEntry } from '../types.js';

export const TABLE = 'tsd';
export const FAMILY = 'inet';
/** Bumped when the skeleton changes: a table with another comment is rebuilt at startup. */
export const SCHEMA = 'tsd schema 3';
/**
 * The user's hook chain (Docker's DOCKER-USER): jumped to first from `forward`, so rules added
 * with `nft add rule inet tsd user ...` decide before tsd's accept/isolation verdicts. tsd never
 * writes a rule into it: a rebuild reads its rules back and re-adds them in the same transaction.
 */
export const USER_CHAIN = 'user';

/**
 * The skeleton. Rules are fixed; all per-network and per-port data are set/map elements, so a
 * publish or a network add is an element batch whose cost does not depend on what is installed.
 *  - pub4/pub6: (host address . l4proto . port) → (container address . port)
 *  - pub4any/pub6any: (l4proto . port) → (container address . port), for "every local address"
 *  - bridges: every tsd bridge; internal / isolated: bridges with that policy
 *  - samebr / noicc: (bridge . bridge) pairs deciding routed traffic inside one bridge
 *  - masq4/masq6: subnets whose egress through a non-tsd interface is masqueraded
 *  - net4/net6: (subnet . bridge), for hairpin masquerade of DNAT'ed traffic back into its bridge
 * ::1 is never DNAT'ed (output): IPv6 has no route_localnet, the sandbox would drop the packet;
 * tsd-bridge serves [::1]:port in-process instead (drivers/network/bridge/loopback6-proxy.ts).
 */
export function skeletonText(): string {
  return `table ${FAMILY} ${TABLE} {
  comment "${SCHEMA}"
  set bridges { type ifname; }
  set internal { type ifname; }
  set isolated { type ifname; }
  set noicc { type ifname . ifname; }
  set samebr { type ifname . ifname; }
  set masq4 { type ipv4_addr; flags interval; }
  set masq6 { type ipv6_addr; flags interval; }
  set net4 { type ipv4_addr . ifname; flags interval; }
  set net6 { type ipv6_addr . ifname; flags interval; }
  map pub4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  map pub4any { type inet_proto . inet_service : ipv4_addr . inet_service; }
  map pub6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
  map pub6any { type inet_proto . inet_service : ipv6_addr . inet_service; }
  chain published {
    dnat ip to ip daddr . meta l4proto . th dport map @pub4
    dnat ip to meta l4proto . th dport map @pub4any
    dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6
    dnat ip6 to meta l4proto . th dport map @pub6any
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump published
  }
  chain output {
    type nat hook output priority -100; policy accept;
    ip6 daddr ::1 return
    fib daddr type local jump published
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname @bridges ip saddr 127.0.0.0/8 masquerade
    ct status dnat ip saddr . oifname @net4 masquerade
    ct status dnat ip6 saddr . oifname @net6 masquerade
    ip saddr @masq4 oifname != @bridges masquerade
    ip6 saddr @masq6 oifname != @bridges masquerade
  }
  chain ${USER_CHAIN} {
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    jump ${USER_CHAIN}
    iifname . oifname @noicc drop
    iifname . oifname @samebr accept
    iifname @internal drop
    oifname @internal drop
    iifname @isolated oifname @bridges drop
    oifname @isolated iifname @bridges drop
  }
}
`;
}

/** Set name → element texts, grouped so one command per set carries all of them. */
export type Elements = Map<string, string[]>;

function push(els: Elements, set: string, el: string): void {
  const list = els.get(set);
  if (list) list.push(el);
  else els.set(set, [el]);
}

const q = (ifname: string) => `"${ifname}"`;

/** The elements that express one network's policy. */
export function networkElements(n: FirewallNetwork, els: Elements = new Map()): Elements {
  const br = q(n.bridge);
  push(els, 'bridges', br);
  push(els, n.icc ? 'samebr' : 'noicc', `${br} . ${br}`);
  if (n.internal) push(els, 'internal', br);
  if (n.isolate) push(els, 'isolated', br);
  for (const s of n.subnets) {
    const fam = cidrFamily(s);
    push(els, `net${fam}`, `${s} . ${br}`);
    if (n.masquerade && !n.internal) push(els, `masq${fam}`, s);
  }
  return els;
}

/** Map name and element text of one published port. */
export function portElement(e: PortEntry): [string, string] {
  const data = `${e.containerIp} . ${e.containerPort}`;
  if (e.hostIp === undefined) return [`pub${e.family}any`, `${e.proto} . ${e.hostPort} : ${data}`];
  return [`pub${e.family}`, `${e.hostIp} . ${e.proto} . ${e.hostPort} : ${data}`];
}

export function portElements(entries: readonly PortEntry[], els: Elements = new Map()): Elements {
  for (const e of entries) {
    const [set, el] = portElement(e);
    push(els, set, el);
  }
  return els;
}

/** Element keys only (a delete needs no map data). */
function keyOf(el: string): string {
  const i = el.indexOf(' : ');
  return i < 0 ? el : el.slice(0, i);
}

/** `add element` / `delete element` commands, one per set. */
export function elementCommands(verb: 'add' | 'delete', els: Elements): string {
  let out = '';
  for (const [set, list] of els) {
    if (!list.length) continue;
    const items = verb === 'delete' ? list.map(keyOf) : list;
    out += `${verb} element ${FAMILY} ${TABLE} ${set} { ${items.join(', ')} }\n`;
  }
  return out;
}

/**
 * Replace the whole table atomically: the `add table` makes the `delete` valid when the table is
 * absent, and the kernel applies the batch as one transaction (no window without rules).
 * `userRules` (from `userRulesText`) puts the user chain's rules back in the same transaction.
 */
export function rebuildText(els: Elements, userRules = ''): string {
  return `add table ${FAMILY} ${TABLE}\ndelete table ${FAMILY} ${TABLE}\n${skeletonText()}${userRules}${elementCommands('add', els)}`;
}

/** The listing of the user chain, reduced to its rules. */
export const listUserChain = `list chain ${FAMILY} ${TABLE} ${USER_CHAIN}`;

/**
 * `nft list chain inet tsd user` output → text that re-adds those rules to the (new, empty) user
 * chain. The listing is nft's own syntax (rules one per line, no handles), so the rules are
 * re-added verbatim; chain-level lines (a comment) are kept too. Empty when the chain has no rule.
 */
export function userRulesText(listing: string): string {
  const lines = listing.split('\n');
  const start = lines.findIndex((l) => l.trim() === `chain ${USER_CHAIN} {`);
  if (start < 0) return '';
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() === '}') break;
    if (l.trim()) body.push(l.trim());
  }
  if (!body.length) return '';
  return `table ${FAMILY} ${TABLE} {\n  chain ${USER_CHAIN} {\n${body.map((b) => `    ${b}\n`).join('')}  }\n}\n`;
}

export function purgeText(): string {
  return `add table ${FAMILY} ${TABLE}\ndelete table ${FAMILY} ${TABLE}\n`;
}
