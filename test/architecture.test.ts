// test/architecture.test.ts — enforces who may import whom (../shared/STYLE.md, architecture.md
// §5.2): drivers never import each other, only core/kernel touches the kernel, cli talks to tsd
// only through its API client, core never names a concrete driver. Also: no shell strings.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface ImportEdge {
  from: string;
  to: string;
  typeOnly: boolean;
  line: number;
}

function sourceFiles(dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(abs, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.d.ts')) continue;
    out.push(path.relative(root, path.join(e.parentPath, e.name)));
  }
  return out;
}

function importsOf(file: string): ImportEdge[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const edges: ImportEdge[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[3] ?? m[4] ?? m[5];
    if (!spec || !spec.startsWith('.')) continue;
    const target = path.relative(root, path.resolve(path.dirname(path.join(root, file)), spec)).replace(/\.js$/, '.ts');
    const line = text.slice(0, m.index).split('\n').length;
    const clause = m[0];
    const typeOnly = !!m[2] || /^\s*import\s*\{\s*(type\s+[^,}]+\s*,?\s*)+\}/.test(clause);
    edges.push({ from: file, to: target, typeOnly, line });
  }
  return edges;
}

const all = ['bin', 'core', 'drivers', 'plugins', 'cli'].flatMap(sourceFiles);
const edges = all.flatMap(importsOf);

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + '/');
}

/** drivers/network/bridge/x.ts → "drivers/network/bridge"; drivers/graph/archive/… likewise. */
function driverOf(p: string): string | undefined {
  const m = /^drivers\/([^/]+)\/([^/]+)\//.exec(p);
  return m ? `drivers/${m[1]}/${m[2]}` : undefined;
}

const leaf = ['core/model', 'core/errors.ts', 'core/log.ts', 'core/undo.ts'];
const isLeaf = (p: string) => leaf.some((l) => under(p, l.replace(/\.ts$/, '')) || p === l);

function violation(e: ImportEdge): string | undefined {
  const { from, to } = e;
  // core/daemon.ts is the composition root: the one core file allowed to name concrete drivers.
  if (from === 'core/daemon.ts') return under(to, 'cli') ? 'nothing in core imports the CLI' : undefined;
  if (under(from, 'bin') || under(from, 'test') || under(from, 'integration') || under(from, 'bench')) return undefined;
  if (isLeaf(from)) {
    if (!isLeaf(to)) return 'model/errors/log/undo import nothing else of the project';
    return undefined;
  }
  if (under(to, 'bin')) return 'nothing imports bin/';
  if (under(from, 'core') && (under(to, 'drivers') || under(to, 'plugins') || under(to, 'cli'))) {
    return 'core never imports a concrete driver, the plugin layer or the CLI';
  }
  if (under(from, 'core/kernel')) {
    if (!(under(to, 'core/kernel') || isLeaf(to))) return 'core/kernel imports only kernel modules, model, errors, log, undo';
  }
  if (under(from, 'core/driver')) {
    if (under(to, 'core/kernel') && !e.typeOnly) return 'core/driver may only type-import kernel interfaces';
    if (under(to, 'core/service') || under(to, 'core/api') || under(to, 'core/store') && !e.typeOnly) return 'core/driver is a contract layer';
  }
  if (under(from, 'core/api')) {
    if (under(to, 'core/kernel') || under(to, 'core/store')) return 'core/api goes through core/service';
  }
  if (under(from, 'core/dns')) {
    if (under(to, 'core/kernel') && !e.typeOnly) return 'core/dns gets sockets from an injected opener';
    if (under(to, 'core/service') || under(to, 'core/api')) return 'core/dns does not know the services';
  }
  if (under(from, 'drivers')) {
    const a = driverOf(from);
    const b = driverOf(to);
    if (under(to, 'drivers') && a !== b && b !== 'drivers/graph/archive') return 'drivers never import each other';
    if (under(to, 'core/kernel') && !e.typeOnly) return 'drivers reach the kernel only through DriverContext (type imports only)';
    if (under(to, 'core/service') || under(to, 'core/api') || under(to, 'plugins') || under(to, 'cli')) return 'drivers import core contracts only';
  }
  if (under(from, 'plugins')) {
    if (under(to, 'core/service') || under(to, 'core/store') || under(to, 'core/api') || under(to, 'drivers') || under(to, 'cli')) {
      return 'plugins see only core contracts';
    }
    if (under(to, 'core/kernel') && !e.typeOnly) return 'plugins never touch the kernel';
  }
  if (under(from, 'cli')) {
    if (!under(to, 'cli') && !e.typeOnly) return 'cli talks to tsd only through its API client';
  }
  return undefined;
}

describe('architecture', () => {
  it('finds the source tree', () => {
    assert.ok(all.length > 5, `only ${all.length} source files found under ${root}`);
    assert.ok(edges.length > 5);
  });

  it('every import follows the dependency rule', () => {
    const bad = edges.flatMap((e) => {
      const why = violation(e);
      return why ? [`${e.from}:${e.line} → ${e.to}: ${why}`] : [];
    });
    assert.deepEqual(bad, []);
  });

  it('only core/kernel uses koffi, netlink, execa or child_process', () => {
    const bad: string[] = [];
    for (const f of all) {
      if (under(f, 'core/kernel') || under(f, 'bin')) continue;
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      if (/from\s+['"](koffi|netlink|execa|node:child_process|child_process)['"]/.test(text)) bad.push(f);
    }
    assert.deepEqual(bad, []);
  });

  it('nothing builds a shell string', () => {
    const bad: string[] = [];
    for (const f of all) {
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      if (/\bshell:\s*true\b|execSync\(|\bexec\(\s*[`'"]|['"]sh['"],\s*\[\s*['"]-c['"]/.test(text)) bad.push(f);
    }
    assert.deepEqual(bad, []);
  });

  it('every source file opens with a header comment saying what it owns', () => {
    const bad = all.filter((f) => !fs.readFileSync(path.join(root, f), 'utf8').trimStart().startsWith('//') && !f.startsWith('bin/'));
    assert.deepEqual(bad, []);
  });
});
