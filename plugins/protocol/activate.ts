// plugins/protocol/activate.ts — the `/Plugin.Activate` handshake (v1 plugins, §2.4) and the
// Implements values dockerd understands (§10.4).

import { z } from 'zod';
import type { DriverKind } from '../../core/driver/registry.js';
import { wireReply } from './wire.js';

/** Every Implements value dockerd knows (exact case). tsd resolves the four DriverKinds. */
export const KNOWN_IMPLEMENTS = ['VolumeDriver', 'NetworkDriver', 'IpamDriver', 'authz', 'LogDriver', 'MetricsCollector', 'GraphDriver'] as const;

export const ActivateReply = wireReply({ Implements: z.array(z.string()).nullish(), Err: z.string().optional() });

export interface Manifest {
  implements: string[];
}

/** Exact string match, as dockerd does ("Plugin does not implement the requested driver"). */
export function implementsKind(m: Manifest, kind: DriverKind): boolean {
  return m.implements.includes(kind);
}
