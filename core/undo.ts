// core/undo.ts — the undo stack every multi-step change uses.
//
// Push an undo after each step succeeds; on failure `rollback()` runs them newest first,
// continuing past failures, so the kernel and the store end as they were.

import { MultiError } from './errors.js';

export type UndoFn = () => Promise<void> | void;

export class UndoStack {
  private steps: Array<{ what: string; fn: UndoFn }> = [];

  /** Register the undo of a step that has just succeeded. */
  push(what: string, fn: UndoFn): void {
    this.steps.push({ what, fn });
  }

  get size(): number {
    return this.steps.length;
  }

  /** Forget all undos: the operation succeeded. */
  commit(): void {
    this.steps = [];
  }

  /**
   * Run every undo, newest first. Errors are collected; if any undo failed a MultiError is
   * thrown after all have run (the caller usually logs it and rethrows the original failure).
   */
  async rollback(): Promise<void> {
    const errors: unknown[] = [];
    const steps = this.steps.reverse();
    this.steps = [];
    for (const s of steps) {
      try {
        await s.fn();
      } catch (e) {
        errors.push(new Error(`undo ${s.what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      }
    }
    if (errors.length) throw new MultiError('rollback', errors);
  }

  /**
   * Run `body` with a fresh stack: commit on success, roll back on failure and rethrow the
   * original error (rollback failures are attached as `rollbackError`).
   */
  static async run<T>(body: (undo: UndoStack) => Promise<T>): Promise<T> {
    const undo = new UndoStack();
    try {
      const result = await body(undo);
      undo.commit();
      return result;
    } catch (e) {
      try {
        await undo.rollback();
      } catch (re) {
        if (e && typeof e === 'object') Object.assign(e, { rollbackError: re });
      }
      throw e;
    }
  }
}
