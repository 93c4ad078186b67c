// test/core/undo.test.ts — the undo stack: newest first, continues past failures, commit forgets.
import assert from 'node:assert/strict';
import { UndoStack } from '../../core/undo.js';
import { MultiError } from '../../core/errors.js';

describe('UndoStack', () => {
  it('rolls back newest first and keeps going past a failing undo', async () => {
    const order: string[] = [];
    const u = new UndoStack();
    u.push('a', () => { order.push('a'); });
    u.push('b', () => { throw new Error('boom'); });
    u.push('c', async () => { order.push('c'); });
    await assert.rejects(u.rollback(), (e: unknown) => e instanceof MultiError && /undo b: boom/.test(e.message));
    assert.deepEqual(order, ['c', 'a']);
    assert.equal(u.size, 0);
  });

  it('run() commits on success and rethrows the original error after rolling back', async () => {
    const done: string[] = [];
    assert.equal(await UndoStack.run(async (u) => { u.push('x', () => { done.push('x'); }); return 7; }), 7);
    assert.equal(done.length, 0);
    await assert.rejects(
      UndoStack.run(async (u) => { u.push('y', () => { done.push('y'); }); throw new Error('step 2 failed'); }),
      /step 2 failed/,
    );
    assert.deepEqual(done, ['y']);
  });
});
