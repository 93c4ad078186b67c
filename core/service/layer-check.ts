// core/service/layer-check.ts — the decisions of `tsctl layer check [--repair]` (peers.md #36),
// as a pure function of facts gathered by LayerService: which problems tsd's layers have and what
// a repair may do about each. The rule: only what belongs to tsd and is provably dead is removed
// (a record whose files are gone and on which nothing sits, an apply's leftover, an interrupted
// operation's intent); a driver layer with no tsd record (dockerd's) is never touched.

import type { LayerFilesState } from '../driver/graph-driver.js';
import type { LayerIntent } from '../model/intent.js';

/** The part of a layer record the decisions read. */
export interface CheckedLayer {
  id: string;
  parent: string;
  driver: string;
  /** Outstanding mounts the record counts. */
  mounts: number;
}

export interface LayerFacts {
  record: CheckedLayer;
  /** undefined: the driver has no layer with this id. */
  files: LayerFilesState | undefined;
  /** Sandboxes whose read-write root sits on this layer (never removed under them). */
  readWriteChildren: number;
  /** Set when the record's driver could not be reached: nothing is known about its files. */
  driverError?: string;
}

export interface LayerCheckFacts {
  layers: LayerFacts[];
  /** Driver layers holding an interrupted apply's leftovers (any owner). */
  interruptedApplies: Array<{ driver: string; id: string }>;
  /** Layer intents with no operation under way in this process: a crash interrupted them. */
  staleIntents: LayerIntent[];
}

export type LayerProblemKind = 'files-missing' | 'files-incomplete' | 'parent-missing' | 'mount-count' | 'interrupted-apply' | 'interrupted-operation' | 'driver-unavailable';

export type LayerRepair =
  /** Delete the record and whatever is left of its driver layer (both tsd's). */
  | { action: 'remove-layer' }
  /** Release the kernel mount nobody's record counts (a `layer mount` killed before its record). */
  | { action: 'unmount' }
  /** The record counts mounts the kernel no longer has: set the count to 0. */
  | { action: 'reset-mount-count' }
  /** Remove an apply's leftover (overlay2 diff-apply/): never part of a layer. */
  | { action: 'remove-leftover' }
  /** Roll the operation back (import) or finish it (rm), as the startup reconcile does. */
  | { action: 'finish-operation' }
  | { action: 'none'; reason: string };

export interface LayerProblem {
  kind: LayerProblemKind;
  layer: string;
  driver: string;
  detail: string;
  repair: LayerRepair;
}

const short = (id: string) => id.slice(0, 12);

/** Every problem the facts show, each with the repair --repair would do (or why none). */
export function planLayerCheck(f: LayerCheckFacts): LayerProblem[] {
  const out: LayerProblem[] = [];
  const byId = new Map(f.layers.map((l) => [l.record.id, l]));
  const children = new Map<string, string[]>();
  for (const l of f.layers) if (l.record.parent) children.set(l.record.parent, [...(children.get(l.record.parent) ?? []), l.record.id]);

  for (const i of f.staleIntents) {
    out.push({
      kind: 'interrupted-operation', layer: i.id, driver: i.driver,
      detail: i.kind === 'layer-import' ? `an import started ${i.created} did not finish` : `a removal started ${i.created} did not finish`,
      repair: { action: 'finish-operation' },
    });
  }
  const underIntent = new Set(f.staleIntents.map((i) => i.id));

  // A driver that cannot be reached says nothing about the files: never judged as missing.
  for (const l of f.layers) {
    if (l.driverError === undefined || underIntent.has(l.record.id)) continue;
    out.push({
      kind: 'driver-unavailable', layer: l.record.id, driver: l.record.driver, detail: `driver ${l.record.driver}: ${l.driverError}`,
      repair: { action: 'none', reason: 'kept: its files cannot be looked at; check again once the driver is back' },
    });
  }

  // Broken layers: removable once nothing sits on them except layers removed in the same repair.
  const broken = f.layers.filter((l) => !underIntent.has(l.record.id) && l.driverError === undefined && (!l.files || l.files.missing.length > 0));
  const removable = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const l of broken) {
      const id = l.record.id;
      if (removable.has(id) || l.readWriteChildren > 0 || l.files?.kernelMount === 'mounted') continue;
      if ((children.get(id) ?? []).every((c) => removable.has(c))) { removable.add(id); changed = true; }
    }
  }
  for (const l of broken) {
    const { id, driver } = l.record;
    const kind: LayerProblemKind = l.files ? 'files-incomplete' : 'files-missing';
    const detail = l.files ? `the driver layer lacks ${l.files.missing.join(', ')}` : `driver ${driver} has no layer ${id}`;
    let repair: LayerRepair = { action: 'remove-layer' };
    if (!removable.has(id)) {
      const kids = (children.get(id) ?? []).filter((c) => !removable.has(c));
      repair = { action: 'none', reason:
        l.readWriteChildren > 0 ? `kept: the root filesystem of ${l.readWriteChildren} sandbox(es) sits on it; remove them first`
        : l.files?.kernelMount === 'mounted' ? 'kept: it is mounted; unmount it first'
        : `kept: layer(s) ${kids.map(short).join(', ')} sit on it and are not removable; remove them first` };
    }
    out.push({ kind, layer: id, driver, detail, repair });
  }

  for (const l of f.layers) {
    const { id, parent, driver, mounts } = l.record;
    if (l.driverError !== undefined) continue;
    if (parent && !byId.has(parent) && !underIntent.has(id)) {
      const usable = l.files && l.files.missing.length === 0;
      out.push({
        kind: 'parent-missing', layer: id, driver, detail: `its parent layer ${parent} has no record`,
        repair: { action: 'none', reason: usable
          ? 'kept: its files are complete and usable; a parent record cannot be rebuilt (its diff ID is unknown): re-import the chain, then tsctl layer rm this one'
          : 'kept: see its files problem' },
      });
    }
    if (!l.files || l.files.missing.length > 0 || underIntent.has(id)) continue;
    if (l.files.kernelMount === 'mounted' && mounts === 0) {
      out.push({ kind: 'mount-count', layer: id, driver, detail: 'mounted in the kernel, but its record counts no mount', repair: { action: 'unmount' } });
    } else if (l.files.kernelMount === 'unmounted' && mounts > 0) {
      out.push({ kind: 'mount-count', layer: id, driver, detail: `its record counts ${mounts} mount(s), the kernel has none`, repair: { action: 'reset-mount-count' } });
    }
  }

  for (const a of f.interruptedApplies) {
    out.push({
      kind: 'interrupted-apply', layer: a.id, driver: a.driver,
      detail: `the leftovers of an interrupted apply (${byId.has(a.id) ? 'a tsd layer' : 'a layer tsd has no record of: dockerd\'s or a killed import'})`,
      repair: { action: 'remove-leftover' },
    });
  }
  return out;
}

/** Repair order: operations first, then leftovers and mounts, then layers children before parents. */
export function repairOrder(problems: readonly LayerProblem[], depthOf: (id: string) => number): LayerProblem[] {
  const rank = (p: LayerProblem) => ({ 'finish-operation': 0, 'remove-leftover': 1, unmount: 2, 'reset-mount-count': 3, 'remove-layer': 4, none: 5 })[p.repair.action];
  return [...problems].sort((a, b) => rank(a) - rank(b) || depthOf(b.layer) - depthOf(a.layer));
}
