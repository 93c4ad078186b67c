// test/core/store/lmdb.test.ts — the embedded (LMDB) store against the shared Store contract,
// plus what only it has: reopening from disk, a second handle in another process sharing the env.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../core/store/open.js';
import { storeSuite } from './store-suite.js';

describe('embedded store (LMDB)', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsd-lmdb-test-'));
  let n = 0;
  let current = '';
  after(() => rmSync(root, { recursive: true, force: true }));

  storeSuite('embedded', {
    fresh: async () => openStore({ kind: 'embedded', path: (current = join(root, `db${n++}`)) }),
    reopen: async () => openStore({ kind: 'embedded', path: current }),
  });

  it('is chosen by openStore({ kind: "embedded" })', async () => {
    const s = await openStore({ kind: 'embedded', path: join(root, 'kind') });
    assert.equal(s.kind, 'embedded');
    await s.close();
  });

  it('sees writes made by another process on the same environment, and continues its revisions', async () => {
    const path = join(root, 'shared');
    const s = await openStore({ kind: 'embedded', path });
    const mine = await s.put('a', 1);
    const openJs = new URL('../../../core/store/open.js', import.meta.url).pathname;
    const script = `
      const { openStore } = await import(${JSON.stringify(openJs)});
      const s = await openStore({ kind: 'embedded', path: ${JSON.stringify(path)} });
      const cur = await s.get('a');
      const rev = await s.put('b', cur.value + 1);
      process.stdout.write(String(rev));
      await s.close();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(Number(out), mine + 1);
    const b = await s.get<number>('b');
    assert.deepEqual(b, { key: 'b', value: 2, revision: mine + 1 });
    assert.ok((await s.put('c', 3)) > mine + 1);
    await s.close();
  });

  it('rejects empty and over-long keys and undefined values with a message naming the key', async () => {
    const s = await openStore({ kind: 'embedded', path: join(root, 'bad') });
    await assert.rejects(s.put('', 1), /store key: must not be empty/);
    await assert.rejects(s.put('x'.repeat(3000), 1), /longer than/);
    await assert.rejects(s.put('u', undefined), /store key u: value is undefined/);
    await s.close();
  });
});
