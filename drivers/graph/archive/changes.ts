// drivers/graph/archive/changes.ts — what changed in a layer (moby's archive.Changes*) and how
// big the change is. Two ways to find out, as in moby:
//  - overlayChanges: walk only the upper dir; 0/0 char devices are deletions, names present in a
//    lower layer are modifications, the rest additions (overlay2's Changes).
//  - naiveChanges: compare two full trees by metadata (vfs, and overlay2 when `parent` is not the
//    direct parent). Unlike moby (#9874) a directory whose mtime alone changed is reported as
//    modified: the naive Diff must carry it for apply(diff(x)) to reproduce x exactly. Directory
//    sizes are ignored (they depend on the file system's history); xattrs count.

import fs from 'node:fs';
import { ChangeKind, type LayerChange } from '../../../core/driver/graph-driver.js';
import type { FilesApi } from '../../../core/kernel/index.js';
import { OVERLAY_OPAQUE_XATTR, WHITEOUT_META_PREFIX } from './apply.js';
import { byteOrder } from './export.js';

export type ChangeFiles = Pick<FilesApi, 'getXattr' | 'readXattrs'>;

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

function sorted(dir: string): string[] {
  return fs.readdirSync(dir).sort(byteOrder);
}

/** Changes recorded in an overlay upper dir `upper`, against the lower diff dirs `lowers` (nearest first). */
export function overlayChanges(upper: string, lowers: readonly string[], files: ChangeFiles, opaqueXattr = OVERLAY_OPAQUE_XATTR): LayerChange[] {
  const changes: LayerChange[] = [];
  const changedDirs = new Set<string>();
  const inLower = (rel: string) => lowers.some((l) => lstatOrUndefined(`${l}${rel}`) !== undefined);
  const walk = (rel: string) => {
    for (const n of sorted(`${upper}${rel}`)) {
      if (n.startsWith(WHITEOUT_META_PREFIX)) continue;
      const path = `${rel}/${n}`;
      const st = fs.lstatSync(`${upper}${path}`);
      let kind: ChangeKind;
      if (st.isCharacterDevice() && st.rdev === 0) {
        kind = ChangeKind.Delete;
      } else if (st.isDirectory() && isOpaque(`${upper}${path}`, files, opaqueXattr) && inLower(path)) {
        kind = ChangeKind.Delete; // moby reports a re-created opaque dir as deleted, its content as added
      } else {
        kind = ChangeKind.Add;
        for (const l of lowers) {
          const ls = lstatOrUndefined(`${l}${path}`);
          if (!ls) continue;
          if (ls.isDirectory() && st.isDirectory() && ls.size === st.size && ls.mode === st.mode && Math.floor(ls.mtimeMs) === Math.floor(st.mtimeMs)) {
            kind = -1 as ChangeKind; // same directory, only there because something below changed
          } else {
            kind = ChangeKind.Modify;
          }
          break;
        }
      }
      if (kind !== (-1 as ChangeKind)) changes.push({ path, kind });
      if (st.isDirectory()) changedDirs.add(path);
      if (kind === ChangeKind.Add || kind === ChangeKind.Delete) {
        if (rel !== '' && !changedDirs.has(rel)) {
          changes.push({ path: rel, kind: ChangeKind.Modify });
          changedDirs.add(rel);
        }
      }
      if (st.isDirectory()) walk(path);
    }
  };
  walk('');
  return changes;
}

function isOpaque(abs: string, files: ChangeFiles, attr: string): boolean {
  const v = files.getXattr(abs, attr);
  return !!v && v.length === 1 && v[0] === 0x79;
}

function sameXattrs(a: string, b: string, files: ChangeFiles): boolean {
  const xa = files.readXattrs(a);
  const xb = files.readXattrs(b);
  if (xa.size !== xb.size) return false;
  for (const [k, v] of xa) {
    const w = xb.get(k);
    if (!w || !w.equals(v)) return false;
  }
  return true;
}

/** Changes that turn the tree `oldRoot` (undefined = empty) into `newRoot`, sorted by path. */
export function naiveChanges(newRoot: string, oldRoot: string | undefined, files: ChangeFiles): LayerChange[] {
  const changes: LayerChange[] = [];
  const addAll = (rel: string) => {
    for (const n of sorted(`${newRoot}${rel}`)) {
      const path = `${rel}/${n}`;
      changes.push({ path, kind: ChangeKind.Add });
      if (fs.lstatSync(`${newRoot}${path}`).isDirectory()) addAll(path);
    }
  };
  const compare = (rel: string) => {
    const newNames = sorted(`${newRoot}${rel}`);
    const oldNames = new Set(fs.readdirSync(`${oldRoot}${rel}`));
    const at = changes.length;
    for (const n of newNames) {
      const path = `${rel}/${n}`;
      const ns = fs.lstatSync(`${newRoot}${path}`);
      const os = oldNames.delete(n) ? fs.lstatSync(`${oldRoot}${path}`) : undefined;
      if (!os || (ns.mode & 0o170000) !== (os.mode & 0o170000)) {
        if (os) changes.push({ path, kind: ChangeKind.Delete });
        changes.push({ path, kind: ChangeKind.Add });
        if (ns.isDirectory()) addAll(path);
        continue;
      }
      const differs = ns.mode !== os.mode || ns.uid !== os.uid || ns.gid !== os.gid || ns.rdev !== os.rdev ||
        Math.floor(ns.mtimeMs / 1000) !== Math.floor(os.mtimeMs / 1000) ||
        (!ns.isDirectory() && (ns.size !== os.size ||
          (ns.isSymbolicLink() && fs.readlinkSync(`${newRoot}${path}`) !== fs.readlinkSync(`${oldRoot}${path}`)))) ||
        !sameXattrs(`${newRoot}${path}`, `${oldRoot}${path}`, files);
      if (differs) changes.push({ path, kind: ChangeKind.Modify });
      if (ns.isDirectory()) {
        const before = changes.length;
        compare(path);
        if (changes.length > before && !differs) changes.splice(before, 0, { path, kind: ChangeKind.Modify });
      }
    }
    for (const n of [...oldNames].sort(byteOrder)) changes.push({ path: `${rel}/${n}`, kind: ChangeKind.Delete });
    void at;
  };
  if (oldRoot === undefined) addAll('');
  else compare('');
  // A type change is reported as Delete + Add of the same path; export needs the Delete first,
  // then the entry, so a stable sort by path keeps that order.
  return changes.sort((a, b) => byteOrder(a.path, b.path));
}

/** Bytes of regular files below `dir`, each inode once (moby's directory.Size). */
export function treeSize(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const st = fs.lstatSync(p);
        if (st.nlink > 1) {
          const k = `${st.dev}:${st.ino}`;
          if (seen.has(k)) continue;
          seen.add(k);
        }
        total += st.size;
      }
    }
  };
  walk(dir);
  return total;
}

/** Bytes of the regular files named by Add/Modify changes in `root` (moby's ChangesSize). */
export function changesSize(root: string, changes: readonly LayerChange[]): number {
  const seen = new Set<string>();
  let total = 0;
  for (const c of changes) {
    if (c.kind === ChangeKind.Delete) continue;
    const st = lstatOrUndefined(`${root}${c.path}`);
    if (!st || !st.isFile()) continue;
    const k = `${st.dev}:${st.ino}`;
    if (seen.has(k)) continue;
    seen.add(k);
    total += st.size;
  }
  return total;
}
