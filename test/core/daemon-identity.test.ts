// test/core/daemon-identity.test.ts — the daemon id: made once, kept across starts, one per data
// root; a damaged file is refused naming the file, not silently replaced.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAEMON_ID_FILE, loadDaemonId } from '../../core/daemon-identity.js';

describe('daemon identity', () => {
  const roots: string[] = [];
  const root = () => { const r = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-id-')); roots.push(r); return r; };
  after(() => { for (const r of roots) fs.rmSync(r, { recursive: true, force: true }); });

  it('made at the first start (mode 0600), the same at the next; another data root gets another', () => {
    const a = root();
    const id = loadDaemonId(a);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(path.join(a, DAEMON_ID_FILE)).mode & 0o777, 0o600);
    assert.equal(loadDaemonId(a), id);
    assert.notEqual(loadDaemonId(root()), id);
    assert.deepEqual(fs.readdirSync(a), [DAEMON_ID_FILE], 'no temp file left');
  });

  it('a damaged file is refused, naming it', () => {
    const a = root();
    fs.writeFileSync(path.join(a, DAEMON_ID_FILE), 'garbage\n');
    assert.throws(() => loadDaemonId(a), (e: unknown) => (e as { code?: string }).code === 'InvalidArgument' && /daemon-id: "garbage" is not 64 hex digits/.test(String(e)));
  });
});
