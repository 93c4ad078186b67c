// cli/cidr.ts — the little address math `tsctl network create` needs to pair each --gateway,
// --ip-range and --aux-address with the --subnet that contains it (as the docker CLI does).

import net from 'node:net';

function toBig(ip: string): { v: bigint; bits: number } | undefined {
  if (net.isIPv4(ip)) return { v: ip.split('.').reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n), bits: 32 };
  if (!net.isIPv6(ip)) return undefined;
  let [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  // An embedded IPv4 tail counts as two groups.
  const expand = (g: string[]) => g.flatMap((x) => (x.includes('.') ? (() => { const b = toBig(x)!.v; return [(b >> 16n).toString(16), (b & 0xffffn).toString(16)]; })() : [x]));
  const hh = expand(h);
  const tt = expand(t);
  const groups = tail === undefined ? hh : [...hh, ...Array(8 - hh.length - tt.length).fill('0'), ...tt];
  return { v: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g || '0', 16)), 0n), bits: 128 };
}

/** Whether `ipOrCidr` lies inside `cidr`. */
export function contains(cidr: string, ipOrCidr: string): boolean {
  const [base, lenText] = cidr.split('/');
  const inner = ipOrCidr.split('/')[0]!;
  const a = toBig(base ?? '');
  const b = toBig(inner);
  if (!a || !b || a.bits !== b.bits || lenText === undefined) return false;
  const len = BigInt(Number(lenText));
  const shift = BigInt(a.bits) - len;
  return a.v >> shift === b.v >> shift;
}
