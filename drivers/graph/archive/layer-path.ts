// drivers/graph/archive/layer-path.ts — lexical path rules for tar entries, as moby applies them:
// names are cleaned (filepath.Clean); a leading "/" means the layer root; ".." may never climb
// above the root; symlink targets are resolved against the link's directory and hardlink targets
// against the root, and either one leaving the layer is a breakout.

import { ForbiddenError } from '../../../core/errors.js';

/**
 * Clean `name` relative to the layer root. Rooted names ("/etc/x") are taken relative to the root
 * (their ".." stops at the root, like filepath.Join(dest, name)); unrooted names that climb above
 * the root with ".." are refused. Returns the components ([] = the root itself).
 */
export function cleanEntryName(name: string, what = 'tar entry'): string[] {
  const rooted = name.startsWith('/');
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0) out.pop();
      else if (!rooted) throw breakout(what, name, 'climbs above the layer root');
      continue;
    }
    out.push(c);
  }
  return out;
}

/** Components of a symlink's target resolved from the link's directory; refused if it leaves the layer. */
export function symlinkTargetInside(dirParts: readonly string[], linkname: string, entryName: string): void {
  // moby: filepath.Join(filepath.Dir(path), linkname) must stay under the root — Join treats an
  // absolute target as relative, so "/bin/busybox" is fine and "../../../etc" is not.
  const stack = [...dirParts];
  for (const c of linkname.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (stack.length === 0) throw breakout('symlink', entryName, `target ${JSON.stringify(linkname)} points outside the layer`);
      stack.pop();
      continue;
    }
    stack.push(c);
  }
}

/** Hardlink targets are names in the same archive, resolved from the root. */
export function hardlinkTarget(linkname: string, entryName: string): string[] {
  const rooted = linkname.startsWith('/');
  const out: string[] = [];
  for (const c of linkname.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0) out.pop();
      else if (!rooted) throw breakout('hardlink', entryName, `target ${JSON.stringify(linkname)} points outside the layer`);
      continue;
    }
    out.push(c);
  }
  if (out.length === 0) throw breakout('hardlink', entryName, 'target is the layer root');
  return out;
}

export function breakout(what: string, name: string, why: string): ForbiddenError {
  return new ForbiddenError(`${what} ${JSON.stringify(name)}: ${why} (refused: archive breakout)`);
}
