// drivers/volume/local/validate.ts — what tsd-local accepts: volume names, labels and the
// `type` / `device` / `o` / `size` options (Docker's local driver semantics), turned into the one
// mount the volume needs. Pure: the kernel's filesystem list and the file system are passed in.

import { InvalidArgumentError } from '../../../core/errors.js';

/** Docker's RestrictedNamePattern for local volume names (at least two characters). */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** One path component (NAME_MAX); the name becomes a directory under the data dir. */
export const MAX_NAME_LENGTH = 255;

export const OPTION_KEYS = ['type', 'device', 'o', 'size'] as const;

/** As in Docker: each option needs its companions. */
const REQUIRES: Record<string, readonly string[]> = {
  type: ['device'],
  device: ['type'],
  o: ['type', 'device'],
};

/** tmpfs(5) mount options and the shape of their values (undefined = a bare word). */
const TMPFS_OPTIONS: Record<string, RegExp | undefined> = {
  size: /^\d+[kKmMgGtTpPeE%]?$/,
  nr_blocks: /^\d+[kKmMgGtTpPeE%]?$/,
  nr_inodes: /^\d+[kKmMgGtTpPeE%]?$/,
  mode: /^[0-7]{1,4}$/,
  uid: /^\d+$/,
  gid: /^\d+$/,
  huge: /^(never|always|within_size|advise|deny|force)$/,
  mpol: /^(default|prefer|bind|interleave|local)(:[0-9,-]+)?$/,
  inode32: undefined,
  inode64: undefined,
  noswap: undefined,
};

/** Filesystems that need `addr=` (an IP; a host name is resolved at mount time, as Docker does). */
export const NETWORK_FILESYSTEMS = new Set(['nfs', 'nfs4', 'cifs', 'smb3']);

/** The one mount a volume with options needs at its `_data` directory. */
export interface MountSpec {
  type: string;
  device: string;
  /** `o`, completed (e.g. tmpfs `size` from the `size` option). */
  o: string;
  bind: boolean;
}

export interface ValidationEnv {
  /** Filesystem types the kernel can mount (/proc/filesystems). */
  filesystems: () => ReadonlySet<string>;
  /** Whether the kernel mounts `type` (default: filesystems().has). Lets the caller cache. */
  knowsFilesystem?: (type: string) => boolean;
  /** Split `o` into MS_* flags and filesystem data, as the kernel layer will. */
  parseMountOptions: (o: string) => { flags: number; data: string };
  pathExists: (p: string) => boolean;
}

export function validateVolumeName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('volume name: empty');
  const shown = JSON.stringify(name.length > 40 ? name.slice(0, 40) + '…' : name);
  if (name.length > MAX_NAME_LENGTH) {
    throw new InvalidArgumentError(`volume name ${shown}: ${name.length} characters, at most ${MAX_NAME_LENGTH}`);
  }
  if (name.includes('/') || name.includes('\\')) {
    throw new InvalidArgumentError(`volume name ${shown}: contains a path separator; a volume name cannot name a host path`);
  }
  if (name === '.' || name === '..' || name.startsWith('.')) {
    throw new InvalidArgumentError(`volume name ${shown}: may not start with "." (it would escape or hide in the volume directory)`);
  }
  if (!NAME_RE.test(name)) {
    throw new InvalidArgumentError(
      `volume name ${shown}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`,
    );
  }
  return name;
}

export function validateLabels(labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw new InvalidArgumentError('labels: must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    if (k === '' || /[\s=]/.test(k)) throw new InvalidArgumentError(`label ${JSON.stringify(k)}: a key may not be empty or hold spaces or "="`);
    if (typeof v !== 'string') throw new InvalidArgumentError(`label ${JSON.stringify(k)}: value must be a string`);
    out[k] = v;
  }
  return out;
}

/** Docker's RAMInBytes: "64m", "1.5g", "512", "10 KiB" → bytes. */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) return undefined;
  const mult = { k: 1, m: 2, g: 3, t: 4, p: 5 }[(m[2] ?? '').toLowerCase()] ?? 0;
  const n = Number(m[1]) * 1024 ** mult;
  return Number.isSafeInteger(Math.floor(n)) ? Math.floor(n) : undefined;
}

/** Hide `password=` values before an option string reaches an error message or a log line. */
export function redact(o: string): string {
  return o.replace(/(^|,)(password|pass)=[^,]*/g, '$1$2=********');
}

/**
 * Check every option and build the mount the volume needs, or undefined for a plain directory
 * volume. Every rejection names the option and the reason.
 */
export function validateOptions(options: unknown, env: ValidationEnv): MountSpec | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) throw new InvalidArgumentError('options: must be an object of strings');
  const opts = options as Record<string, unknown>;
  for (const [k, v] of Object.entries(opts)) {
    if (!(OPTION_KEYS as readonly string[]).includes(k)) {
      throw new InvalidArgumentError(`option ${JSON.stringify(k)}: unknown; tsd-local accepts ${OPTION_KEYS.join(', ')}`);
    }
    if (typeof v !== 'string') throw new InvalidArgumentError(`option ${JSON.stringify(k)}: value must be a string`);
  }
  const o = opts as Record<string, string>;
  if (Object.keys(o).length === 0) return undefined;
  for (const [k, needs] of Object.entries(REQUIRES)) {
    if (!(k in o)) continue;
    for (const n of needs) {
      if (!(n in o)) throw new InvalidArgumentError(`option "${k}": needs option "${n}" too (e.g. type=tmpfs device=tmpfs)`);
    }
  }
  if ('size' in o && !('type' in o)) throw new InvalidArgumentError('option "size": only for type=tmpfs (tsd-local sets no disk quotas)');

  const type = o.type ?? '';
  const device = o.device ?? '';
  const mountOpts = o.o ?? '';
  if (type === '') throw new InvalidArgumentError('option "type": empty');
  if (device === '') throw new InvalidArgumentError('option "device": empty');
  if (/[\s,]/.test(type)) throw new InvalidArgumentError(`option "type": ${JSON.stringify(type)} is not a filesystem name`);

  const tokens = mountOpts === '' ? [] : mountOpts.split(',');
  for (const t of tokens) {
    if (t === '') throw new InvalidArgumentError(`option "o": empty entry in ${JSON.stringify(redact(mountOpts))}`);
    if (!/^[A-Za-z][A-Za-z0-9_.-]*(=[^\s,]*)?$/.test(t)) {
      throw new InvalidArgumentError(`option "o": ${JSON.stringify(redact(t))} is not a mount option (word or key=value)`);
    }
  }
  const bind = tokens.includes('bind') || tokens.includes('rbind');
  const { data } = env.parseMountOptions(mountOpts);
  const dataTokens = data === '' ? [] : data.split(',');

  if (bind) {
    if (!device.startsWith('/')) throw new InvalidArgumentError(`option "device": ${JSON.stringify(device)} must be an absolute path for o=bind`);
    if (!env.pathExists(device)) throw new InvalidArgumentError(`option "device": bind source ${device} does not exist`);
    if (dataTokens.length) {
      throw new InvalidArgumentError(`option "o": ${JSON.stringify(redact(dataTokens[0]!))} has no meaning for a bind mount`);
    }
    if ('size' in o) throw new InvalidArgumentError('option "size": only for type=tmpfs (tsd-local sets no disk quotas)');
    return { type, device, o: mountOpts, bind };
  }

  if (type === 'none') throw new InvalidArgumentError('option "type": "none" mounts nothing unless o has bind or rbind');
  if (!(env.knowsFilesystem ? env.knowsFilesystem(type) : env.filesystems().has(type))) {
    throw new InvalidArgumentError(
      `option "type": unknown filesystem ${JSON.stringify(type)}; this kernel mounts ${[...env.filesystems()].sort().join(', ')}`,
    );
  }

  let finalOpts = mountOpts;
  if (type === 'tmpfs') {
    for (const t of dataTokens) {
      const eq = t.indexOf('=');
      const key = eq < 0 ? t : t.slice(0, eq);
      const value = eq < 0 ? undefined : t.slice(eq + 1);
      if (!(key in TMPFS_OPTIONS)) {
        throw new InvalidArgumentError(
          `option "o": ${JSON.stringify(t)} is not a tmpfs option (${Object.keys(TMPFS_OPTIONS).join(', ')} or mount flags)`,
        );
      }
      const shape = TMPFS_OPTIONS[key];
      if (shape ? value === undefined || !shape.test(value) : value !== undefined) {
        throw new InvalidArgumentError(`option "o": ${JSON.stringify(t)} has a bad value for tmpfs ${key}`);
      }
    }
    if ('size' in o) {
      const bytes = parseSize(o.size!);
      if (bytes === undefined || bytes <= 0) throw new InvalidArgumentError(`option "size": ${JSON.stringify(o.size)} is not a size (e.g. 64m, 1g)`);
      if (dataTokens.some((t) => t.startsWith('size='))) throw new InvalidArgumentError('option "size": given twice (also as o=size=…)');
      finalOpts = finalOpts ? `${finalOpts},size=${bytes}` : `size=${bytes}`;
    }
  } else if ('size' in o) {
    throw new InvalidArgumentError('option "size": only for type=tmpfs (tsd-local sets no disk quotas)');
  }

  if (NETWORK_FILESYSTEMS.has(type)) {
    const addr = dataTokens.find((t) => t.startsWith('addr='));
    if (addr === 'addr=') throw new InvalidArgumentError('option "o": addr= needs an address or host name');
    if ((type === 'cifs' || type === 'smb3') && /^\/\/[^/]*:\d*(\/|$)/.test(device)) {
      throw new InvalidArgumentError('option "device": no port in a CIFS device URL; put port= in o');
    }
  }
  return { type, device, o: finalOpts, bind: false };
}
