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
import type { FirewallDesired, FirewallNetwork, FirewallState, PortEntry, PortMapping } from '../types.js';
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
  userRulesText,
  type Elements,
} from './table-model.js';
import type { NftTransport } from './transport.js';

export class NftablesFirewall implements Firewall {
  readonly backend = 'nftables' as const;
  private readonly model = new FirewallModel();
  private readonly queue = new SerialQueue();
  private ready = false;

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
    let listing = '';
    try {
      listing = await this.nft.run(listUserChain);
    } catch (e) {
      if (!(isTsdError(e) && e.code === 'NotFound')) throw e;
    }
    const user = userRulesText(listing);
    try {
      await this.nft.run(rebuildText(els, user));
    } catch (e) {
      if (!user || !isTsdError(e)) throw e;
      // Never drop the user's rules silently: say which chain made the rebuild fail.
      throw errorOf(e.code, `${e.message} (while keeping the rules of chain ${FAMILY} ${TABLE} ${USER_CHAIN}: a rule there may refer to an object tsd's rebuild does not recreate)`);
    }
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
