// drivers/ipam/default/pool-id.ts — pool identifiers and store keys of the default IPAM.
// Pool IDs follow Docker's built-in IPAM: "<space>/<subnet>[/<ip-range>]", e.g.
// "LocalDefault/172.18.0.0/16" or "LocalDefault/10.0.0.0/16/10.0.5.0/24".

import { NotFoundError } from '../../../core/errors.js';
import { formatCidr, parseCidr, type Cidr } from './ip.js';

export const LOCAL_SPACE = 'LocalDefault';
export const GLOBAL_SPACE = 'GlobalDefault';
export const SPACES: readonly string[] = [LOCAL_SPACE, GLOBAL_SPACE];

export interface ParsedPoolId {
  space: string;
  subnet: Cidr;
  range: Cidr | null;
}

export function poolIdOf(space: string, subnet: Cidr, range: Cidr | null): string {
  return range ? `${space}/${formatCidr(subnet)}/${formatCidr(range)}` : `${space}/${formatCidr(subnet)}`;
}

export function parsePoolId(id: string): ParsedPoolId {
  const parts = id.split('/');
  const notFound = () => new NotFoundError(`pool ${JSON.stringify(id)}: not found`);
  if ((parts.length !== 3 && parts.length !== 5) || !SPACES.includes(parts[0]!)) throw notFound();
  try {
    const subnet = parseCidr(`${parts[1]}/${parts[2]}`, 'poolId');
    const range = parts.length === 5 ? parseCidr(`${parts[3]}/${parts[4]}`, 'poolId') : null;
    return { space: parts[0]!, subnet, range };
  } catch {
    throw notFound();
  }
}

/** One pool per subnet per address space: the key names the subnet ('/' is the store's separator). */
export function poolKeyOf(space: string, subnet: Cidr): string {
  return `${space}_${formatCidr(subnet).replace('/', '_')}`;
}

export const keys = {
  space: (space: string) => `spaces/${space}`,
  pool: (poolKey: string) => `pools/${poolKey}`,
  addrPrefix: (poolKey: string) => `addr/${poolKey}/`,
  cursor: (poolKey: string) => `addr/${poolKey}/cursor`,
  block: (poolKey: string, index: bigint) => `addr/${poolKey}/b/${index}`,
};
