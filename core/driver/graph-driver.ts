// core/driver/graph-driver.ts — the graph (layer storage) driver contract, shaped after moby's
// graphdriver.Driver + the GraphDriver plugin API (used by tsd's core and served to dockerd ≤ 27).

import type { Readable } from 'node:stream';

export interface IdMap {
  containerId: number;
  hostId: number;
  size: number;
}

export interface GraphInitRequest {
  /** Root directory the driver owns. */
  home: string;
  /** `--storage-opt` style "key=value" strings. */
  options: string[];
  uidMaps: IdMap[];
  gidMaps: IdMap[];
}

export interface CreateLayerOptions {
  mountLabel?: string;
  storageOpt?: Record<string, string>;
}

export const ChangeKind = { Modify: 0, Add: 1, Delete: 2 } as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

export interface LayerChange {
  /** Absolute within the layer, leading "/". */
  path: string;
  kind: ChangeKind;
}

export interface GraphDriverCapabilities {
  reproducesExactDiffs: boolean;
}

export interface GraphDriver {
  readonly name: string;
  /** Called once before any other method (dockerd's GraphDriver.Init). */
  init(req: GraphInitRequest): Promise<void>;
  capabilities(): Promise<GraphDriverCapabilities>;
  /** New read-only layer on `parent` ("" = base). Undone by remove. */
  create(id: string, parent: string, opts?: CreateLayerOptions): Promise<void>;
  /** New read-write (container) layer on `parent`. */
  createReadWrite(id: string, parent: string, opts?: CreateLayerOptions): Promise<void>;
  /** Idempotent. */
  remove(id: string): Promise<void>;
  /** Mount (refcounted) and return the layer's root directory. Undone by put. */
  get(id: string, mountLabel?: string): Promise<string>;
  put(id: string): Promise<void>;
  exists(id: string): Promise<boolean>;
  status(): Promise<Array<[string, string]>>;
  getMetadata(id: string): Promise<Record<string, string>>;
  /** Daemon shutdown: unmount everything this driver mounted. */
  cleanup(): Promise<void>;
  /** Uncompressed tar of the changes of `id` relative to `parent` ("" = whole layer), AUFS whiteouts. */
  diff(id: string, parent: string): Promise<Readable>;
  changes(id: string, parent: string): Promise<LayerChange[]>;
  /** Apply an uncompressed tar to layer `id`; returns the size applied in bytes. */
  applyDiff(id: string, parent: string, tar: Readable): Promise<number>;
  diffSize(id: string, parent: string): Promise<number>;
}

/** ApplyDiff's result when the caller also wants the layer's diff ID. */
export interface AppliedDiff {
  /** Bytes of content applied (what applyDiff returns). */
  size: number;
  /** "sha256:<hex>" of the tar stream exactly as read, computed in the same pass as the apply. */
  diffId: string;
}

/** Optional capability (tsd's own layer import, tsctl): applyDiff plus the stream's digest. */
export interface DigestingApply {
  applyDiffWithDigest(id: string, parent: string, tar: Readable): Promise<AppliedDiff>;
}

export function hasDigestingApply(d: GraphDriver): d is GraphDriver & DigestingApply {
  return typeof (d as Partial<DigestingApply>).applyDiffWithDigest === 'function';
}

/** What a driver can tell about one layer's files (`tsctl layer check`). */
export interface LayerFilesState {
  /** Parts the layer cannot be used without that are gone ("diff/", "lower l/ABC…"); [] = complete. */
  missing: string[];
  /** "none": using the layer needs no kernel mount (a base overlay2 layer, vfs); else whether one is in /proc/self/mountinfo now. */
  kernelMount: 'none' | 'mounted' | 'unmounted';
}

/**
 * Optional capability: a look at the files behind the driver's layers, for the startup reconcile
 * and `tsctl layer check`. It reports facts and removes only leftovers that belong to no layer.
 */
export interface LayerFilesInspection {
  /** One state per id, in order (one look at the mount table for all); undefined when the driver has no layer with that id. */
  inspectLayers(ids: readonly string[]): Promise<Array<LayerFilesState | undefined>>;
  /** Layers (any owner: dockerd's too) holding the leftovers of an apply a crash interrupted, not one under way now. */
  interruptedApplies(): Promise<string[]>;
  /** Remove those leftovers of layer `id`; false when there were none (or an apply is under way). */
  removeInterruptedApply(id: string): Promise<boolean>;
}

export function hasLayerFilesInspection(d: GraphDriver): d is GraphDriver & LayerFilesInspection {
  return typeof (d as Partial<LayerFilesInspection>).inspectLayers === 'function';
}
