// test/core/errors.test.ts — error codes survive context wrapping; MultiError lists every failure.
import assert from 'node:assert/strict';
import { ConflictError, MultiError, NotFoundError, codeOf, withContext, wrap } from '../../core/errors.js';
import { KernelError } from '../../core/kernel/kernel-error.js';

describe('errors', () => {
  it('wrap prefixes the message and keeps the code', async () => {
    await assert.rejects(wrap('create network web', () => { throw new ConflictError('name in use'); }), (e: unknown) => {
      assert.equal(codeOf(e), 'Conflict');
      assert.equal((e as Error).message, 'create network web: name in use');
      return true;
    });
  });

  it('unknown errors become Internal', () => {
    assert.equal(codeOf(new Error('x')), 'Internal');
    assert.equal(withContext('op', 'str').message, 'op: str');
  });

  it('KernelError names errno, operation and object and maps to a code', () => {
    const e = new KernelError('create veth', 'tsd1234', 17);
    assert.equal(e.message, 'create veth tsd1234: File exists (EEXIST)');
    assert.equal(e.code, 'Conflict');
    assert.equal(e.errnoName, 'EEXIST');
    assert.equal(new KernelError('open netns', 'x', 2).code, 'NotFound');
    const w = withContext('attach', e);
    assert.equal((w as unknown as { errno: number }).errno, 17);
  });

  it('MultiError lists every failure', () => {
    const m = new MultiError('teardown', [new NotFoundError('a gone'), new Error('b stuck')]);
    assert.equal(m.message, 'teardown: a gone; b stuck');
    assert.equal(m.code, 'NotFound');
  });
});
