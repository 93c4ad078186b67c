// core/driver/volume-driver.ts — the volume driver contract, shaped after Docker's VolumeDriver API.

export interface VolumeInfo {
  name: string;
  /** Absolute host path where the volume is (or will be) mounted; may be empty. */
  mountpoint?: string;
  /** RFC 3339 timestamp, or absent. */
  createdAt?: string;
  status?: Record<string, unknown>;
  /** User labels given at create (`--label k=v`). */
  labels?: Record<string, string>;
  /** Driver options given at create (`-o k=v`). */
  options?: Record<string, string>;
}

/** What `reconcile()` did at daemon start (volume names per outcome). */
export interface VolumeReconcileReport {
  /** Mounted volumes whose mount was still in place. */
  kept: string[];
  /** Mounted volumes whose mount was gone and has been made again. */
  restored: string[];
  /** Volumes whose callers were dropped because the mount could not be restored. */
  dropped: Array<{ name: string; reason: string }>;
  /** Mount points under the data dir that no stored volume claimed, now unmounted. */
  strayUnmounted: string[];
}

export interface VolumeDriverCapabilities {
  scope: 'local' | 'global';
}

export interface VolumeDriver {
  readonly name: string;
  /** Create a volume. Options are driver-specific (`-o k=v`). Undone by remove. */
  create(name: string, options: Record<string, string>, labels?: Record<string, string>): Promise<void>;
  /** Remove a volume; fails with ConflictError while it is mounted, unless `force` (which unmounts). */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  /** Mount for caller `callerId` (refcounted per caller); returns the host path. */
  mount(name: string, callerId: string): Promise<string>;
  /** Undo mount for `callerId`. The last unmount really unmounts. */
  unmount(name: string, callerId: string): Promise<void>;
  path(name: string): Promise<string>;
  /** NotFoundError if unknown. */
  get(name: string): Promise<VolumeInfo>;
  list(): Promise<VolumeInfo[]>;
  capabilities(): Promise<VolumeDriverCapabilities>;
  /**
   * Optional: repair state at daemon start (remount volumes that have callers, drop callers whose
   * mount cannot be restored, unmount stray mounts). Called once before the API serves.
   */
  reconcile?(): Promise<VolumeReconcileReport>;
}
