// core/kernel/firewall/iptables/backend.ts — IptablesFirewall: tsd's TSD-* chains in the nat
// and filter tables of iptables and ip6tables (the mode's own binaries), changed only through
// `iptables-restore --noflush` batches: one process per address family per operation.
//
// Like the nftables backend it keeps a model; a batch that fails (rules deleted behind tsd's
// back) triggers a rebuild of the chains from the model.

import { runCommand } from '../../exec.js';
import { errorOf, isTsdError, UnavailableError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { Firewall } from '../firewall.js';
import { FirewallModel } from '../model.js';
import { SerialQueue } from '../serial.js';
import { describeAll, originOf, watchNftEvents, type NftTransaction } from '../nft-events.js';
import type {
  FirewallDamage, FirewallDesired, FirewallNetwork, FirewallState, FirewallWatcher, FirewallWatchOptions, PortEntry, PortMapping,
} from '../types.js';
import { binaries, type IptablesMode } from './mode.js';
import {
  CHAINS,
  JUMPS,
  staticRules,
  USER_CHAIN,
  add,
  declareChains,
  del,
  dumpHas,
  dumpHasChain,
  insertJump,
  type Rule,
  networkRules,
  portRule,
  restoreText,
  type Table,
} from './rules.js';

type Line = { table: Table; line: string };
const FAMILIES = [4, 6] as const;

export class IptablesFirewall implements Firewall {
  readonly backend = 'iptables' as const;
  private readonly model = new FirewallModel();
  private readonly queue = new SerialQueue();
  private ready = false;

  constructor(
    readonly mode: IptablesMode,
    private readonly log: Logger,
  ) {}

  addNetwork(n: FirewallNetwork): Promise<void> {
    return this.queue.run(async () => {
      const prev = this.model.planNetwork(n);
      if (prev && JSON.stringify(prev) === JSON.stringify(n)) return;
      await this.ensureReady();
      await this.apply(`add network ${n.id}`, (fam) => [
        ...(prev ? networkRules(prev, fam).map(del) : []),
        ...networkRules(n, fam).map(add),
      ], (m) => m.commitNetwork(n));
    });
  }

  removeNetwork(id: string): Promise<void> {
    return this.queue.run(async () => {
      const n = this.model.networks.get(id);
      if (!n) return;
      await this.ensureReady();
      const entries = this.model.entriesOf(id);
      await this.apply(`remove network ${id}`, (fam) => [
        ...portLines(entries, fam, del),
        ...networkRules(n, fam).map(del),
      ], (m) => m.commitRemoveNetwork(id));
    });
  }

  publishPorts(mappings: readonly PortMapping[]): Promise<void> {
    return this.queue.run(async () => {
      const entries = this.model.planPublish(mappings);
      if (!entries.length) return;
      await this.ensureReady();
      await this.apply(`publish ${entries.length} port(s)`, (fam) => portLines(entries, fam, add), (m) => m.commitPublish(entries));
    });
  }

  unpublishPorts(mappings: readonly PortMapping[]): Promise<void> {
    return this.queue.run(async () => {
      const entries = this.model.planUnpublish(mappings);
      if (!entries.length) return;
      await this.ensureReady();
      await this.apply(`unpublish ${entries.length} port(s)`, (fam) => portLines(entries, fam, del), (m) => m.commitUnpublish(entries));
    });
  }

  reload(desired: FirewallDesired): Promise<void> {
    return this.queue.run(async () => {
      const next = FirewallModel.fromDesired(desired);
      await this.rebuild(next);
      this.model.replaceWith(next);
      this.ready = true;
      this.log.info('firewall reloaded', { backend: 'iptables', mode: this.mode, networks: next.networks.size, ports: next.ports.size });
    });
  }

  purge(): Promise<void> {
    return this.queue.run(async () => {
      for (const fam of FAMILIES) {
        const dump = await this.save(fam);
        const lines: Line[] = JUMPS.filter((j) => dumpHas(dump, j)).map(del);
        const chains = (['nat', 'filter'] as const).flatMap((t) => CHAINS[t].filter((c) => dumpHasChain(dump, c)).map((c) => ({ t, c })));
        // purge removes all of tsd, the user's hook chain and its rules included.
        if (dumpHasChain(dump, USER_CHAIN)) chains.push({ t: 'filter', c: USER_CHAIN });
        // Flush every chain before deleting any: they jump to each other.
        for (const { t, c } of chains) lines.push({ table: t, line: `-F ${c}` });
        for (const { t, c } of chains) lines.push({ table: t, line: `-X ${c}` });
        if (lines.length) await this.restore(fam, 'purge', lines);
      }
      this.model.clear();
      this.ready = false;
    });
  }

  state(): FirewallState {
    return this.model.state('iptables');
  }

  /**
   * Damage to tsd's chains by anyone but tsd. nft mode: nf_tables events in the `ip`/`ip6`
   * `nat`/`filter` tables (iptables-nft is nftables underneath): a TSD-* chain or its rules
   * deleted (TSD-USER's rules excepted: the user's), a table deleted; a rule deleted from a
   * built-in chain may be tsd's jump (uncertain: check() decides). Legacy mode has no events: a
   * check every `checkIntervalMs`, reported when something is missing.
   */
  watch(onDamage: (d: FirewallDamage) => void, opts: FirewallWatchOptions): FirewallWatcher {
    if (this.mode === 'nft') return watchNftEvents((t) => classifyIptablesNft(t), onDamage);
    if (!(opts.checkIntervalMs > 0)) throw new UnavailableError('firewall watch: iptables-legacy has no change events and the check interval (sweep-interval) is 0');
    let running = false;
    const timer = setInterval(() => {
      if (running || !this.ready) return;
      running = true;
      this.check().then(
        (what) => { if (what.length) onDamage({ what, certain: true }); },
        (e: unknown) => this.log.warn('iptables check failed', { err: e }),
      ).finally(() => { running = false; });
    }, opts.checkIntervalMs);
    timer.unref();
    return { mode: 'check', close: () => clearInterval(timer) };
  }

  /**
   * What is missing, per family: a TSD chain, a jump from a built-in chain, or fewer rules in a
   * TSD chain than the model puts there (one *-save per family; counts, not texts, so a rule
   * iptables prints differently is never taken for a missing one).
   */
  check(): Promise<string[]> {
    return this.queue.run(async () => {
      const missing: string[] = [];
      for (const fam of FAMILIES) {
        const bin = fam === 4 ? 'iptables' : 'ip6tables';
        const dump = await this.save(fam);
        const want = new Map<string, number>();
        const count = (r: Rule) => want.set(r.chain, (want.get(r.chain) ?? 0) + 1);
        staticRules(fam).forEach(count);
        for (const n of this.model.networks.values()) networkRules(n, fam).forEach(count);
        for (const e of this.model.ports.values()) if (e.family === fam) count(portRule(e));
        for (const t of ['nat', 'filter'] as const) {
          for (const c of [...CHAINS[t], ...(t === 'filter' ? [USER_CHAIN] : [])]) {
            if (!dumpHasChain(dump, c)) missing.push(`${bin} chain ${t} ${c}`);
          }
        }
        for (const j of JUMPS) if (!dumpHas(dump, j)) missing.push(`${bin} jump ${j.table} ${j.chain} ${j.spec}`);
        for (const [chain, n] of want) {
          const have = dump.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
          if (have < n && dumpHasChain(dump, chain)) missing.push(`${bin} rules of chain ${chain} (${have} of ${n})`);
        }
      }
      return missing;
    });
  }

  /**
   * Declare (create or flush) every TSD chain and refill it from `m`; add missing jumps. The
   * user chain TSD-USER is only created when missing, never flushed.
   */
  private async rebuild(m: FirewallModel): Promise<void> {
    for (const fam of FAMILIES) {
      const dump = await this.save(fam);
      const lines: Line[] = [...declareChains(dump), ...staticRules(fam).map(add)];
      for (const n of m.networks.values()) lines.push(...networkRules(n, fam).map(add));
      lines.push(...portLines([...m.ports.values()], fam, add));
      lines.push(...JUMPS.filter((j) => !dumpHas(dump, j)).map(insertJump));
      await this.restore(fam, 'rebuild', lines);
    }
  }

  private async apply(op: string, linesFor: (fam: 4 | 6) => Line[], commit: (m: FirewallModel) => void): Promise<void> {
    try {
      for (const fam of FAMILIES) {
        const lines = linesFor(fam);
        if (lines.length) await this.restore(fam, op, lines);
      }
    } catch (e) {
      const next = new FirewallModel();
      next.replaceWith(this.model);
      commit(next);
      this.log.warn('iptables batch failed, rebuilding chains from the model', { op, err: e });
      try {
        await this.rebuild(next);
      } catch {
        throw isTsdError(e) ? e : new Error(`${op}: ${String(e)}`);
      }
    }
    commit(this.model);
  }

  /** First use without reload(): adopt complete TSD chains, else (re)build them from the model. */
  private async ensureReady(): Promise<void> {
    if (this.ready) return;
    let complete = true;
    for (const fam of FAMILIES) {
      const dump = await this.save(fam);
      const all = (['nat', 'filter'] as const).every((t) => CHAINS[t].every((c) => dumpHasChain(dump, c))) && dumpHasChain(dump, USER_CHAIN);
      if (!all || !JUMPS.every((j) => dumpHas(dump, j))) complete = false;
    }
    if (!complete) await this.rebuild(this.model);
    this.ready = true;
  }

  private async save(fam: 4 | 6): Promise<string> {
    const r = await runCommand(binaries(this.mode, fam).save, []);
    if (r.exitCode !== 0) throw errorOf('Unavailable', `${binaries(this.mode, fam).save}: ${r.stderr || r.message}`);
    return r.stdout;
  }

  private async restore(fam: 4 | 6, op: string, lines: Line[]): Promise<void> {
    const bin = binaries(this.mode, fam).restore;
    const args = this.mode === 'legacy' ? ['--noflush', '-w', '5'] : ['--noflush'];
    const r = await runCommand(bin, args, { input: restoreText(lines) });
    if (r.exitCode !== 0) {
      const msg = r.stderr.trim() || r.message || `exit ${r.exitCode}`;
      throw errorOf(/Permission denied|not permitted/.test(msg) ? 'Forbidden' : 'Internal', `${bin} ${op}: ${msg.split('\n').slice(0, 3).join(' | ')}`);
    }
  }
}

function portLines(entries: readonly PortEntry[], fam: 4 | 6, verb: typeof add): Line[] {
  const out: Line[] = [];
  for (const e of entries) if (e.family === fam) out.push(verb(portRule(e)));
  return out;
}

const TSD_TABLES = new Set(['nat', 'filter']);
const BUILTIN_WITH_JUMP = new Set(JUMPS.map((j) => j.chain));

/** iptables-nft damage in one foreign transaction (see IptablesFirewall.watch). */
export function classifyIptablesNft(t: NftTransaction): FirewallDamage | undefined {
  const mine = t.deletions.filter((d) => (d.family === 'ip' || d.family === 'ip6') && TSD_TABLES.has(d.table));
  const certain = mine.filter((d) => d.kind === 'table'
    || (d.kind === 'chain' && d.name?.startsWith('TSD-'))
    || (d.kind === 'rule' && d.name?.startsWith('TSD-') && d.name !== USER_CHAIN));
  const maybe = mine.filter((d) => d.kind === 'rule' && d.name !== undefined && BUILTIN_WITH_JUMP.has(d.name));
  if (!certain.length && !maybe.length) return undefined;
  const by = originOf(t);
  return { what: describeAll(certain.length ? certain : maybe), certain: certain.length > 0, ...(by ? { by } : {}) };
}
