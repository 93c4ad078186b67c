// core/model/ids.ts — object ids and names: 64-hex ids like Docker's, 12-char short ids, and the
// name rule every network, sandbox and volume shares.

import { randomBytes } from 'node:crypto';

export const ID_RE = /^[0-9a-f]{64}$/;
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const NAME_MAX = 128;

/** A fresh 64-hex id (256 random bits, as Docker's stringid.GenerateRandomID). */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** Why `name` is not a valid object name, or undefined when it is. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.length > NAME_MAX) return `longer than ${NAME_MAX} characters`;
  if (!NAME_RE.test(name)) return 'only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed';
  return undefined;
}
