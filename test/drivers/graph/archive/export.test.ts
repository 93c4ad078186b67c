// test/drivers/graph/archive/export.test.ts — exportTree / exportChanges pack headers and file
// contents into 1 MiB output chunks; GNU tar (an independent reader) must get back exactly the
// files, sizes and bytes, including files that span several chunks and odd sizes.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { exportChanges, exportTree } from '../../../../drivers/graph/archive/export.js';
import { ChangeKind } from '../../../../core/driver/graph-driver.js';
import { filesApi } from '../../../../core/kernel/index.js';

async function collect(r: AsyncIterable<Buffer>): Promise<{ tar: Buffer }> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c);
  return { tar: Buffer.concat(parts) };
}

describe('archive: export', () => {
  let tmp: string;
  let src: string;
  const sizes: Record<string, number> = { 'empty': 0, 'one': 1, 'block': 512, 'odd': 1000, 'mib': 1 << 20, 'big': (5 << 20) + 7 };

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-export-'));
    src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'd/e'), { recursive: true });
    for (const [n, size] of Object.entries(sizes)) fs.writeFileSync(path.join(src, 'd', n), crypto.randomBytes(size));
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(src, 'd/e', `s${i}`), `small ${i}`);
    fs.symlinkSync('../one', path.join(src, 'd/e/link'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('exportTree: GNU tar extracts the same bytes (files spanning output chunks, odd sizes)', async () => {
    const { tar } = await collect(exportTree(src, { files: filesApi, whiteouts: 'overlay' }));
    assert.equal(tar.length % 512, 0);
    fs.writeFileSync(path.join(tmp, 'out.tar'), tar);
    const dst = path.join(tmp, 'dst');
    fs.mkdirSync(dst);
    await execa('tar', ['-C', dst, '-xf', path.join(tmp, 'out.tar')]);
    const diff = await execa('diff', ['-r', '--no-dereference', src, dst], { reject: false });
    assert.equal(diff.exitCode, 0, diff.stdout);
    for (const [n, size] of Object.entries(sizes)) assert.equal(fs.statSync(path.join(dst, 'd', n)).size, size, n);
  });

  it('exportChanges: deletions as .wh. files, changed files with their bytes', async () => {
    const changes = [
      { path: '/d/big', kind: ChangeKind.Modify },
      { path: '/d/odd', kind: ChangeKind.Add },
      { path: '/d/gone', kind: ChangeKind.Delete },
    ];
    const { tar } = await collect(exportChanges(src, changes, filesApi));
    fs.writeFileSync(path.join(tmp, 'out.tar'), tar);
    const list = (await execa('tar', ['-tvf', path.join(tmp, 'out.tar')])).stdout.split('\n');
    assert.deepEqual(list.map((l) => l.split(/\s+/).pop()), ['d/big', 'd/.wh.gone', 'd/odd']);
    const dst = path.join(tmp, 'dst');
    fs.mkdirSync(dst);
    await execa('tar', ['-C', dst, '-xf', path.join(tmp, 'out.tar')]);
    for (const n of ['big', 'odd']) assert.ok(fs.readFileSync(path.join(dst, 'd', n)).equals(fs.readFileSync(path.join(src, 'd', n))), n);
  });
});
