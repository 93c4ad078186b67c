// core/model/options.ts — parsing of Docker-style string options (`--opt k=v`, driver options).

import { InvalidArgumentError } from '../errors.js';

/** Go's strconv.ParseBool, which Docker uses for boolean options; anything else names the option. */
export function parseOptionBool(key: string, v: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new InvalidArgumentError(`option ${key}: ${JSON.stringify(v)} is not a boolean (true/false)`);
}
