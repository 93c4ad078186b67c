// core/kernel/firewall/iptables/mode.ts — legacy vs nft iptables, chosen the way kubernetes'
// iptables-wrappers does (toolchain.md §5): kubelet's canary chains decide first; otherwise the
// variant with more rule lines wins, ties and empty hosts go to nft. tsd then calls that
// variant's binaries by name and never repoints the host's alternatives.

import { runCommand } from '../../exec.js';

export type IptablesMode = 'nft' | 'legacy';

const hint = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)/m;

async function save(cmd: string, args: string[] = []): Promise<string> {
  const r = await runCommand(cmd, args, { timeout: 5000 });
  return r.exitCode === 0 ? r.stdout : '';
}

export function countRuleLines(dump: string): number {
  let n = 0;
  for (const line of dump.split('\n')) if (line.startsWith('-')) n++;
  return n;
}

/** Pure decision, given the dumps (unit-tested). */
export function chooseMode(d: { nftMangle: string; legacy: string; nft: string }): { mode: IptablesMode; why: string } {
  if (hint.test(d.nftMangle)) return { mode: 'nft', why: 'kubelet canary chain in iptables-nft' };
  if (hint.test(d.legacy)) return { mode: 'legacy', why: 'kubelet canary chain in iptables-legacy' };
  const legacy = countRuleLines(d.legacy);
  const nft = countRuleLines(d.nft);
  return { mode: legacy > nft ? 'legacy' : 'nft', why: `rule lines legacy=${legacy} nft=${nft}` };
}

export async function detectIptablesMode(): Promise<{ mode: IptablesMode; why: string }> {
  const nftMangle = (await save('iptables-nft-save', ['-t', 'mangle'])) + (await save('ip6tables-nft-save', ['-t', 'mangle']));
  // Never `-t mangle` on legacy: that would create the table.
  const legacy = (await save('iptables-legacy-save')) + (await save('ip6tables-legacy-save'));
  if (hint.test(nftMangle) || hint.test(legacy)) return chooseMode({ nftMangle, legacy, nft: '' });
  const nft = (await save('iptables-nft-save')) + (await save('ip6tables-nft-save'));
  return chooseMode({ nftMangle, legacy, nft });
}

/** The binaries of one mode and family. */
export function binaries(mode: IptablesMode, family: 4 | 6): { save: string; restore: string } {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  return { save: `${base}-${mode}-save`, restore: `${base}-${mode}-restore` };
}
