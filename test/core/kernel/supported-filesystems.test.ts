// test/core/kernel/supported-filesystems.test.ts — the kernel's filesystem list, read from
// /proc/filesystems (no root needed), cross-checked against the file itself.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { supportedFilesystems } from '../../../core/kernel/mount.js';

describe('supportedFilesystems', () => {
  it('lists every type in /proc/filesystems, nodev ones included, without the nodev marker', () => {
    const got = supportedFilesystems();
    const lines = fs.readFileSync('/proc/filesystems', 'utf8').split('\n').filter(Boolean);
    for (const l of lines) assert.ok(got.has(l.split('\t')[1]!.trim()), l);
    assert.ok(got.has('tmpfs') && got.has('proc'));
    assert.equal(got.has('nodev'), false);
    assert.equal(got.has(''), false);
  });
});
