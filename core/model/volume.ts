// core/model/volume.ts — a volume as tsd stores it, and its Docker Engine API shape.
//
// The driver holds the data; tsd's record holds what Docker keeps in its volume store: which
// driver, the options and labels given at create time, and who currently has it mounted.

export interface VolumeRecord {
  name: string;
  /** Driver name as given ("local", "tsd-local", a plugin). */
  driver: string;
  options: Record<string, string>;
  labels: Record<string, string>;
  created: string;
  /** Caller ids (sandbox ids) holding a mount; rm is refused while non-empty unless forced. */
  mountedBy: string[];
}

/** Docker's Volume object (GET /volumes, GET /volumes/{name}, POST /volumes/create). */
export interface ApiVolume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Status?: Record<string, unknown>;
  Labels: Record<string, string>;
  Scope: 'local' | 'global';
  Options: Record<string, string>;
  UsageData: { Size: number; RefCount: number } | null;
}

/** Label Docker puts on volumes created without a name; prune removes only these by default. */
export const ANONYMOUS_VOLUME_LABEL = 'com.docker.volume.anonymous';
