// core/dns/hosts-export.ts — `<execRoot>/hosts` (e.g. /run/tsd/hosts): every local name of every
// network with a host listener (host-dns.ts), one `IP name name.<network> aliases… shortid` line
// per address, for tools the user points at it (HOSTALIASES-style, `getent -s files`, a
// dnsmasq `addn-hosts`, …). tsd never edits /etc/hosts.
//
// Rewritten atomically (write a temp file, rename) after connect, disconnect, network rm and
// listener changes, coalesced: the record change (the attach hot path) only tests a Set and, the
// first time, arms a timer; the file is built and written off that path, once per burst.
// Removed at close (a stale list after shutdown would mislead); rebuilt at the next start.
//
// Interface (core/dns/index.ts wires it):
//   const ex = new HostsExport({ records, file, log }); ex.start()
//   await ex.flush()   write now (tests, shutdown ordering)
//   await ex.close()   stop watching, remove the file

import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { DnsRecords, RecordsChange } from './records.js';

export interface HostsExportOptions {
  records: DnsRecords;
  file: string;
  log?: Logger;
  /** Coalescing window in ms (default 20). */
  delayMs?: number;
}

const HEADER = '# tsd: names of the networks with com.tsd.network.host_dns=true. Rewritten by tsd; do not edit.\n';

export class HostsExport {
  /** networkId → network name, for networks with a host view */
  private readonly networks = new Map<string, string | undefined>();
  /** host view id → networkId */
  private readonly views = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private unwatch: (() => void) | undefined;
  private closed = false;

  constructor(private readonly o: HostsExportOptions) {}

  start(): void {
    this.unwatch = this.o.records.watch((c) => this.onChange(c));
    this.schedule();
  }

  /** Runs inside every record change: O(1), no I/O. */
  private onChange(c: RecordsChange): void {
    switch (c.op) {
      case 'addEndpoint':
        if (this.networks.has(c.ep.networkId)) this.schedule();
        return;
      case 'removeEndpoint':
        if (this.networks.has(c.networkId)) this.schedule();
        return;
      case 'addHostView':
        this.views.set(c.viewId, c.networkId);
        this.networks.set(c.networkId, c.zone);
        this.schedule();
        return;
      case 'removeHostView': {
        const id = this.views.get(c.viewId);
        this.views.delete(c.viewId);
        if (id !== undefined) this.networks.delete(id);
        this.schedule();
        return;
      }
      case 'removeNetwork':
        if (!this.networks.delete(c.networkId)) return;
        for (const [v, id] of this.views) if (id === c.networkId) this.views.delete(v);
        this.schedule();
        return;
      default:
    }
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.o.delayMs ?? 20);
    this.timer.unref();
  }

  /** The file's text from the tables as they are now. */
  render(): string {
    let out = HEADER;
    for (const [networkId, name] of this.networks) {
      out += `# network ${name ?? ''} ${networkId}\n`;
      const zone = name && /^[a-z0-9_.-]+$/i.test(name) ? name : undefined;
      for (const e of this.o.records.hostsEntries(networkId)) {
        const [first, ...rest] = e.names;
        out += [e.ip, first, ...(zone ? [`${first}.${zone}`] : []), ...rest].join('\t') + '\n';
      }
    }
    return out;
  }

  /** Write the file now (serialised with any write under way). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.writing = this.writing.then(() => this.write(), () => this.write());
    return this.writing;
  }

  private async write(): Promise<void> {
    if (this.closed) return;
    const file = this.o.file;
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(tmp, this.render(), { mode: 0o644 });
      await fs.promises.rename(tmp, file);
    } catch (e) {
      this.o.log?.warn('hosts export not written', { file, err: e });
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.unwatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing.catch(() => undefined);
    this.closed = true;
    await fs.promises.rm(this.o.file, { force: true });
  }
}
