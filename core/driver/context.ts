// core/driver/context.ts — DriverContext: everything a built-in driver may touch. A driver is
// built by `createXDriver(ctx)`; it never imports the kernel, the store or another driver.

import type { Kernel } from '../kernel/index.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';

export interface DriverContext {
  /** Child logger, e.g. { driver: 'tsd-bridge' }. */
  log: Logger;
  /** The driver's own key space in the state store (scoped: "drivers/<name>/"). */
  store: Store;
  /** Kernel operations (links, namespaces, firewall, mounts, sysctl). */
  kernel: Kernel;
  /** A directory the driver owns under tsd's data root, e.g. /var/lib/tsd/volumes. */
  dataDir: string;
  /** Driver-specific settings from tsd's config file. */
  config: Record<string, unknown>;
}
