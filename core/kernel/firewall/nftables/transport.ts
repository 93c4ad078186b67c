// core/kernel/firewall/nftables/transport.ts — how nft commands reach the kernel: the contract
// both transports implement, and the error an nft failure becomes.

import { errorOf, type ErrorCode, type TsdError } from '../../../errors.js';
import type { PortEntry } from '../types.js';

export interface NftTransport {
  readonly kind: 'libnftables' | 'exec';
  /**
   * Run nft text commands as one transaction (all or none). Returns nft's output (for `list`).
   * Throws NftError with nft's own message.
   */
  run(commands: string): Promise<string>;
  /**
   * Optional fast path for the published-port maps (pub4, pub4any, pub6, pub6any of tsd's
   * table): add or delete these elements in one transaction without nft text. Same all-or-none
   * contract as `run`; throws a TsdError (KernelError) on failure. Transports without it get
   * `elementCommands` text through `run`.
   */
  portElements?(verb: 'add' | 'delete', entries: readonly PortEntry[], op: string): Promise<void>;
  close(): void;
}

/** Map nft's message to a stable code (its netlink errors are printed as strerror text). */
function codeFor(message: string): ErrorCode {
  if (/No such file or directory/.test(message)) return 'NotFound';
  if (/File exists|Device or resource busy/.test(message)) return 'Conflict';
  if (/Operation not permitted|Permission denied/.test(message)) return 'Forbidden';
  if (/syntax error|Invalid|Could not resolve/.test(message)) return 'InvalidArgument';
  return 'Internal';
}

/** An nft failure: `op` is what tsd was doing, the message is nft's (first lines). */
export function nftError(op: string, nftMessage: string): TsdError {
  const msg = nftMessage.trim().split('\n').filter((l) => l.startsWith('Error') || l.includes('Error:')).slice(0, 3).join(' | ') || nftMessage.trim().slice(0, 500);
  return errorOf(codeFor(msg), `nft ${op}: ${msg || 'failed'}`);
}
