// core/kernel/firewall/iptables/backend.ts — IptablesFirewall: tsd's TSD-* chains in the nat
// and filter tables of iptables and ip6tables (the mode's own binaries), changed only through
// `iptables-restore --noflush` batches: one process per address family per operation.
//
// Like the nftables backend it keeps a model; a batch that fails (rules deleted behind tsd's
// back) triggers a rebuild of the chains from the model.

import { runCommand } from '../../exec.js';
import { errorOf, isTsdError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { Firewall } from '../firewall.js';
import { FirewallModel } from '../model.js';
import { SerialQueue } from '../serial.js';
import type { FirewallDesired, FirewallNetwork, FirewallState, PortEntry, PortMapping } from '../types.js';
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
