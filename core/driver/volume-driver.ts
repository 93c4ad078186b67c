// core/driver/volume-driver.ts — the volume driver contract, shaped after Docker's VolumeDriver API.

export interface VolumeInfo {
  name: string;
  /** Absolute host path where the volume is (or will be) mounted; may be empty. */
  mountpoint?: string;
  /** RFC 3339 timestamp, or absent. */
  createdAt?: string;
  status?: Record<string, unknown>;
}

export interface VolumeDriverCapabilities {
  scope: 'local' | 'global';
}

export interface VolumeDriver {
  readonly name: string;
  /** Create a volume. Options are driver-specific (`-o k=v`). Undone by remove. */
  create(name: string, options: Record<string, string>): Promise<void>;
  /** Remove a volume; fails with ConflictError while it is mounted. */
  remove(name: string): Promise<void>;
  /** Mount for caller `callerId` (refcounted per caller); returns the host path. */
  mount(name: string, callerId: string): Promise<string>;
  /** Undo mount for `callerId`. The last unmount really unmounts. */
  unmount(name: string, callerId: string): Promise<void>;
  path(name: string): Promise<string>;
  /** NotFoundError if unknown. */
  get(name: string): Promise<VolumeInfo>;
  list(): Promise<VolumeInfo[]>;
  capabilities(): Promise<VolumeDriverCapabilities>;
}
