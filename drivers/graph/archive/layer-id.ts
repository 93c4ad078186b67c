// drivers/graph/archive/layer-id.ts — what both graph drivers need besides tar: layer id
// validation (ids become path components, so they are checked before any fs call) and a keyed
// lock that serialises operations on one layer (Get/Put refcounts, Remove during ApplyDiff).

import { InvalidArgumentError } from '../../../core/errors.js';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkLayerId(id: string, field = 'id'): string {
  if (typeof id !== 'string' || !ID_RE.test(id) || id.includes('..')) {
    throw new InvalidArgumentError(`layer ${field}: ${JSON.stringify(id)} is not a valid layer id (letters, digits, "_", ".", "-"; at most 128)`);
  }
  return id;
}

export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
