// plugins/client/remote-graph-driver.ts — a GraphDriver that is an external plugin (dockerd ≤ 27's
// graphdriver proxy). Capabilities answered 404 mean defaults; Exists reads any error as false;
// Diff returns the raw 200 body; ApplyDiff streams the tar with id/parent in the query string.
// Diff/ApplyDiff have no deadline by default (layers can be large).

import type { Readable } from 'node:stream';
import type {
  CreateLayerOptions,
  GraphDriver,
  GraphDriverCapabilities,
  GraphInitRequest,
  LayerChange,
} from '../../core/driver/graph-driver.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { GraphMethod as M, GraphReply as R, idMapToWire } from '../protocol/graph-driver.js';
import { isNotImplemented, type PluginClient } from './plugin-client.js';

const sub = { subsystem: 'GraphDriver' } as const;

function layerArgs(id: string, parent: string, opts?: CreateLayerOptions): Record<string, unknown> {
  const a: Record<string, unknown> = { ID: id, Parent: parent };
  if (opts?.mountLabel) a.MountLabel = opts.mountLabel;
  if (opts?.storageOpt && Object.keys(opts.storageOpt).length) a.StorageOpt = opts.storageOpt;
  return a;
}

export class RemoteGraphDriver implements GraphDriver {
  readonly name: string;

  constructor(private readonly client: PluginClient, private readonly log: Logger = silentLogger) {
    this.name = client.name;
  }

  private call(method: string, args: unknown): Promise<unknown> {
    return this.client.call(method, args, sub);
  }

  async init(req: GraphInitRequest): Promise<void> {
    await this.call(M.Init, { Home: req.home, Opts: req.options, UIDMaps: req.uidMaps.map(idMapToWire), GIDMaps: req.gidMaps.map(idMapToWire) });
  }

  async capabilities(): Promise<GraphDriverCapabilities> {
    try {
      const r = this.client.parseReply(R.Capabilities, await this.call(M.Capabilities, {}), M.Capabilities);
      return { reproducesExactDiffs: !!r.Capabilities?.ReproducesExactDiffs };
    } catch (e) {
      if (isNotImplemented(e)) return { reproducesExactDiffs: false };
      throw e;
    }
  }

  async create(id: string, parent: string, opts?: CreateLayerOptions): Promise<void> {
    await this.call(M.Create, layerArgs(id, parent, opts));
  }

  async createReadWrite(id: string, parent: string, opts?: CreateLayerOptions): Promise<void> {
    await this.call(M.CreateReadWrite, layerArgs(id, parent, opts));
  }

  async remove(id: string): Promise<void> {
    await this.call(M.Remove, { ID: id });
  }

  async get(id: string, mountLabel?: string): Promise<string> {
    const args: Record<string, unknown> = { ID: id };
    if (mountLabel) args.MountLabel = mountLabel;
    return this.client.parseReply(R.Get, await this.call(M.Get, args), M.Get).Dir;
  }

  async put(id: string): Promise<void> {
    await this.call(M.Put, { ID: id });
  }

  async exists(id: string): Promise<boolean> {
    try {
      return !!this.client.parseReply(R.Exists, await this.call(M.Exists, { ID: id }), M.Exists).Exists;
    } catch (e) {
      this.log.debug('GraphDriver.Exists failed: false', { err: e });
      return false;
    }
  }

  async status(): Promise<Array<[string, string]>> {
    return this.client.parseReply(R.Status, await this.call(M.Status, {}), M.Status).Status ?? [];
  }

  async getMetadata(id: string): Promise<Record<string, string>> {
    return this.client.parseReply(R.GetMetadata, await this.call(M.GetMetadata, { ID: id }), M.GetMetadata).Metadata ?? {};
  }

  async cleanup(): Promise<void> {
    await this.call(M.Cleanup, {});
  }

  async diff(id: string, parent: string): Promise<Readable> {
    return this.client.callStream(M.Diff, { ID: id, Parent: parent }, { ...sub, timeoutMs: 0 });
  }

  async changes(id: string, parent: string): Promise<LayerChange[]> {
    const r = this.client.parseReply(R.Changes, await this.call(M.Changes, { ID: id, Parent: parent }), M.Changes);
    return (r.Changes ?? []).map((c) => ({ path: c.Path, kind: c.Kind }));
  }

  async applyDiff(id: string, parent: string, tar: Readable): Promise<number> {
    // Hex IDs, not URL-escaped by dockerd; we escape anyway so odd IDs cannot break the query.
    const query = `id=${encodeURIComponent(id)}&parent=${encodeURIComponent(parent)}`;
    const body = await this.client.callUpload(M.ApplyDiff, tar, { ...sub, query, timeoutMs: 0 });
    return this.client.parseReply(R.Size, body, M.ApplyDiff).Size ?? 0;
  }

  async diffSize(id: string, parent: string): Promise<number> {
    return this.client.parseReply(R.Size, await this.call(M.DiffSize, { ID: id, Parent: parent }), M.DiffSize).Size ?? 0;
  }
}
