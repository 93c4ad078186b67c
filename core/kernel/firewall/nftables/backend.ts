// core/kernel/firewall/nftables/backend.ts — NftablesFirewall: tsd's `inet tsd` table. The
// skeleton is loaded once; every later operation is one batch of set/map element adds and
// deletes (never a rule per port or per network), so its cost is flat in what is installed.
//
// Drift (someone flushed or edited the table) makes an element batch fail; the backend then
// rebuilds the whole table from its model in one transaction and retries nothing else.

import { errorOf, isTsdError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { Firewall } from '../firewall.js';
import { FirewallModel } from '../model.js';
import { SerialQueue } from '../serial.js';
import { describeAll, originOf, watchNftEvents, type NftObjectRef, type NftTransaction } from '../nft-events.js';
import type {
  FirewallDamage, FirewallDesired, FirewallNetwork, FirewallState, FirewallWatcher, PortEntry, PortMapping,
} from '../types.js';
import {
  FAMILY,
  SCHEMA,
  TABLE,
  USER_CHAIN,
  elementCommands,
  networkElements,
  portElements,
  listUserChain,
  purgeText,
  rebuildText,
  skeletonText,
  userRulesText,
  type Elements,
} from './table-model.js';
import type { NftTransport } from './transport.js';

export class NftablesFirewall implements Firewall {
  readonly backend = 'nftables' as const;
  private readonly model = new FirewallModel();
  private readonly queue = new SerialQueue();
  private ready = false;
  /**
   * The user chain's rules as last seen (read back by a rebuild, or refreshed when someone edits
   * the chain): a flush that takes the whole table away (`nft flush ruleset`) leaves nothing to
   * read back, and the repair re-adds these instead.
   */
  private userRules = '';
  /** A foreign transaction that damaged tsd's rules also emptied the user chain (flush table). */
  private userRulesLost = false;

  constructor(
    private readonly nft: NftTransport,
    private readonly log: Logger,
  ) {}

  get transport(): NftTransport['kind'] {
    return this.nft.kind;
  }

  addNetwork(n: FirewallNetwork): Promise<void> {
    return this.queue.run(async () => {
      const prev = this.model.planNetwork(n);
      if (prev && JSON.stringify(prev) === JSON.stringify(n)) return;
      await this.ensureReady();
      let cmds = '';
      if (prev) cmds += elementCommands('delete', networkElements(prev));
      cmds += elementCommands('add', networkElements(n));
      await this.apply(`add network ${n.id}`, cmds, (m) => m.commitNetwork(n));
    });
  }

  removeNetwork(id: string): Promise<void> {
    return this.queue.run(async () => {
      const n = this.model.networks.get(id);
      if (!n) return;
      await this.ensureReady();
      const els = portElements(this.model.entriesOf(id));
      networkElements(n, els);
      await this.apply(`remove network ${id}`, elementCommands('delete', els), (m) => m.commitRemoveNetwork(id));
    });
  }

  publishPorts(mappings: readonly PortMapping[]): Promise<void> {
    return this.queue.run(async () => {
      const entries = this.model.planPublish(mappings);
      if (!entries.length) return;
      await this.ensureReady();
      const op = `publish ${entries.length} port(s)`;
      await this.apply(op, this.portBatch('add', entries, op), (m) => m.commitPublish(entries));
    });
  }

  unpublishPorts(mappings: readonly PortMapping[]): Promise<void> {
    return this.queue.run(async () => {
      const entries: PortEntry[] = this.model.planUnpublish(mappings);
      if (!entries.length) return;
      await this.ensureReady();
      const op = `unpublish ${entries.length} port(s)`;
      await this.apply(op, this.portBatch('delete', entries, op), (m) => m.commitUnpublish(entries));
    });
  }

  reload(desired: FirewallDesired): Promise<void> {
    return this.queue.run(async () => {
      const next = FirewallModel.fromDesired(desired);
      await this.rebuild(elementsOf(next));
      this.model.replaceWith(next);
      this.ready = true;
      this.log.info('firewall reloaded', { backend: 'nftables', networks: next.networks.size, ports: next.ports.size });
    });
  }

  purge(): Promise<void> {
    return this.queue.run(async () => {
      await this.nft.run(purgeText());
      this.model.clear();
      this.userRules = '';
      this.ready = false;
    });
  }

  state(): FirewallState {
    return this.model.state('nftables');
  }

  close(): void {
    this.nft.close();
  }

  /**
   * Run one element batch. On failure the table may have drifted from the model: rebuild it
   * from the model as it would be after this operation (one transaction). If that fails too,
   * the original error is thrown and the model is unchanged.
   */
  private async apply(op: string, cmds: string | (() => Promise<unknown>), commit: (m: FirewallModel) => void): Promise<void> {
    try {
      await (typeof cmds === 'string' ? this.nft.run(cmds) : cmds());
    } catch (e) {
      const next = new FirewallModel();
      next.replaceWith(this.model);
      commit(next);
      this.log.warn('nft batch failed, rebuilding table from the model', { op, err: e });
      try {
        await this.rebuild(elementsOf(next));
      } catch {
        throw isTsdError(e) ? e : new Error(`${op}: ${String(e)}`);
      }
    }
    commit(this.model);
  }

  /**
   * Replace the table in one transaction, keeping the user chain's rules: they are read back
   * and re-added in the same batch (tsd never flushes or writes that chain). A table without
   * the chain (absent, or an older schema) has no user rules to keep.
   */
  private async rebuild(els: Elements): Promise<void> {
    let user: string;
    let fromCopy = false;
    try {
      user = userRulesText(await this.nft.run(listUserChain));
    } catch (e) {
      if (!(isTsdError(e) && e.code === 'NotFound')) throw e;
      user = ''; // the chain went with the table
    }
    if (!user && this.userRulesLost && this.userRules) {
      // The flush that took tsd's rules took the user's too: put back what the chain held.
      user = this.userRules;
      fromCopy = true;
    }
    this.userRulesLost = false;
    try {
      await this.nft.run(rebuildText(els, user));
      this.userRules = user;
    } catch (e) {
      if (fromCopy) {
        // They were gone from the kernel already: restoring tsd's rules matters more than
        // rules that no longer load (a jump to a chain the flush removed). Said, not silent.
        this.log.warn('user chain rules from before the flush could not be re-added: dropped', { chain: `${FAMILY} ${TABLE} ${USER_CHAIN}`, rules: user, err: e });
        this.userRules = '';
        await this.nft.run(rebuildText(els, ''));
        return;
      }
      if (!user || !isTsdError(e)) throw e;
      // Never drop the user's rules silently: say which chain made the rebuild fail.
      throw errorOf(e.code, `${e.message} (while keeping the rules of chain ${FAMILY} ${TABLE} ${USER_CHAIN}: a rule there may refer to an object tsd's rebuild does not recreate)`);
    }
  }

  /**
   * Damage to `inet tsd` by anyone but tsd: a deleted table, chain, set, element or rule of
   * tsd's chains. Rules deleted from (or added to) the user chain are the user's business: they
   * only refresh the copy a later repair puts back.
   */
  watch(onDamage: (d: FirewallDamage) => void): FirewallWatcher {
    return watchNftEvents((t) => this.classify(t), onDamage);
  }

  private classify(t: NftTransaction): FirewallDamage | undefined {
    const ours = (d: { family: string; table: string }) => d.family === FAMILY && d.table === TABLE;
    const userRule = (d: NftObjectRef) => ours(d) && d.kind === 'rule' && d.name === USER_CHAIN;
    const gone = t.deletions.filter((d) => ours(d) && !userRule(d));
    if (gone.length) {
      if (gone.some((d) => d.kind === 'table' || (d.kind === 'chain' && d.name === USER_CHAIN)) || t.deletions.some(userRule)) this.userRulesLost = true;
      return { what: describeAll(gone), certain: true, ...(originOf(t) ? { by: originOf(t)! } : {}) };
    }
    const userEdit = [...t.deletions, ...t.ruleAdds].some((d) => ours(d) && d.kind === 'rule' && d.name === USER_CHAIN);
    if (userEdit) void this.refreshUserRules();
    return undefined;
  }

  private refreshUserRules(): Promise<void> {
    return this.queue.run(async () => {
      try {
        this.userRules = userRulesText(await this.nft.run(listUserChain));
      } catch (e) {
        this.log.debug('user chain not readable', { err: e });
      }
    });
  }

  /** Missing parts of the skeleton: the table, its schema, a chain, or rules of a chain. */
  check(): Promise<string[]> {
    return this.queue.run(async () => {
      let listing: string;
      try {
        listing = await this.nft.run(`list table ${FAMILY} ${TABLE}`);
      } catch (e) {
        if (isTsdError(e) && e.code === 'NotFound') return [`table ${FAMILY} ${TABLE}`];
        throw e;
      }
      if (!listing.includes(`comment "${SCHEMA}"`)) return [`schema comment of table ${FAMILY} ${TABLE}`];
      const want = ruleCounts(skeletonText());
      const have = ruleCounts(listing);
      const missing: string[] = [];
      for (const [chain, n] of want) {
        if (chain === USER_CHAIN) continue;
        const got = have.get(chain);
        if (got === undefined) missing.push(`chain ${FAMILY} ${TABLE} ${chain}`);
        else if (got < n) missing.push(`rules of chain ${FAMILY} ${TABLE} ${chain}`);
      }
      return missing;
    });
  }

  /** The port-map batch: the transport's fast path when it has one, else element text. */
  private portBatch(verb: 'add' | 'delete', entries: readonly PortEntry[], op: string): string | (() => Promise<unknown>) {
    const fast = this.nft.portElements;
    if (fast) return () => fast.call(this.nft, verb, entries, op);
    return elementCommands(verb, portElements(entries));
  }

  /** First use without reload(): adopt an existing table of our schema, else create it. */
  private async ensureReady(): Promise<void> {
    if (this.ready) return;
    let listing: string | undefined;
    try {
      listing = await this.nft.run(`list table ${FAMILY} ${TABLE}`);
    } catch (e) {
      if (!(isTsdError(e) && e.code === 'NotFound')) throw e;
    }
    if (listing === undefined || !listing.includes(`comment "${SCHEMA}"`)) {
      if (listing !== undefined) this.log.warn('nft table of another schema replaced', { table: `${FAMILY} ${TABLE}` });
      await this.rebuild(elementsOf(this.model));
    }
    this.ready = true;
  }
}

function elementsOf(m: FirewallModel): Elements {
  const els: Elements = new Map();
  for (const n of m.networks.values()) networkElements(n, els);
  portElements([...m.ports.values()], els);
  return els;
}

/** Chain name → rule lines, from nft's text listing (or the skeleton): lines inside `chain X { }`. */
function ruleCounts(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let chain: string | undefined;
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    const m = /^chain (\S+) \{$/.exec(l);
    if (m) {
      chain = m[1]!;
      out.set(chain, 0);
    } else if (l === '}') {
      chain = undefined;
    } else if (chain && l && !/^(type |comment |policy )/.test(l)) {
      out.set(chain, out.get(chain)! + 1);
    }
  }
  return out;
}
