// plugins/client/discovery.ts — where legacy (v1) plugins are found (plugin-protocol.md §1.1):
// `NAME.sock` / `NAME/NAME.sock` in /run/docker/plugins, then `NAME.spec`, `NAME/NAME.spec`,
// `NAME.json`, `NAME/NAME.json` in /etc/docker/plugins and /usr/lib/docker/plugins; first hit wins.
// TLS rules are dockerd's (§10.3): .sock/.spec never verify; .json with TLSConfig but no CAFile
// does not verify; .json without TLSConfig verifies https against the system roots.
//
// Entry points: LocalPluginDiscovery (find / list), and the PluginLocator interface — the seam
// where managed (v2) plugin bundles will plug in (they carry `implements` and skip Activate).

import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, NotFoundError, withContext } from '../../core/errors.js';
import { parseWire, wireReply } from '../protocol/wire.js';

export const DEFAULT_SOCKET_DIR = '/run/docker/plugins';
export const DEFAULT_SPEC_DIRS: readonly string[] = ['/etc/docker/plugins', '/usr/lib/docker/plugins'];

export interface TlsSpec {
  insecureSkipVerify: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** How to reach one plugin. */
export interface PluginSpec {
  name: string;
  /** unix:///path, tcp://h:p, http://h:p or https://h:p (any path part is ignored). */
  addr: string;
  /** undefined = Go's default TLS (verify against system roots) for https. */
  tls?: TlsSpec;
  /** The file it was found in. */
  source: string;
  /** Managed plugins: capabilities from config.json; no /Plugin.Activate is sent (§1.2). */
  implements?: string[];
}

export interface PluginLocator {
  /** The plugin called `name`, or undefined if there is none (now). */
  find(name: string): Promise<PluginSpec | undefined>;
  /** Every plugin this locator knows, each name once. */
  list(): Promise<PluginSpec[]>;
}

export interface DiscoveryOptions {
  socketDir?: string;
  specDirs?: readonly string[];
}

const SpecJson = wireReply({
  Name: z.string().optional(),
  Addr: z.string().min(1, 'must not be empty'),
  TLSConfig: wireReply({
    InsecureSkipVerify: z.boolean().optional(),
    CAFile: z.string().optional(),
    CertFile: z.string().optional(),
    KeyFile: z.string().optional(),
  }).nullish(),
});

const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

function checkAddr(addr: string, file: string): string {
  if (!SCHEME_RE.test(addr)) throw new InvalidArgumentError(`plugin spec ${file}: ${JSON.stringify(addr)}: Unknown protocol`);
  return addr;
}

async function kindOf(p: string): Promise<'socket' | 'file' | 'other' | undefined> {
  try {
    const st = await fs.stat(p);
    return st.isSocket() ? 'socket' : st.isFile() ? 'file' : 'other';
  } catch {
    return undefined;
  }
}

/** Plugin names become path parts (as in dockerd), but never climb out of the directories. */
function checkName(name: string): void {
  if (!name || path.isAbsolute(name) || name.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new InvalidArgumentError(`plugin name ${JSON.stringify(name)}: not a valid plugin name`);
  }
}

export async function readSpecFile(name: string, file: string): Promise<PluginSpec> {
  return withContextAsync(`plugin spec ${file}`, async () => {
    const text = await fs.readFile(file, 'utf8');
    if (file.endsWith('.json')) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (e) {
        throw new InvalidArgumentError(`not valid JSON (${(e as Error).message})`);
      }
      const j = parseWire(SpecJson, raw, '');
      const spec: PluginSpec = { name, addr: checkAddr(j.Addr.trim(), file), source: file };
      if (j.TLSConfig) {
        const t = j.TLSConfig;
        // dockerd: a TLSConfig without CAFile forces InsecureSkipVerify.
        spec.tls = { insecureSkipVerify: !t.CAFile || !!t.InsecureSkipVerify };
        if (t.CAFile) spec.tls.caFile = t.CAFile;
        if (t.CertFile) spec.tls.certFile = t.CertFile;
        if (t.KeyFile) spec.tls.keyFile = t.KeyFile;
      }
      return spec;
    }
    return { name, addr: checkAddr(text.trim(), file), tls: { insecureSkipVerify: true }, source: file };
  });
}

async function withContextAsync<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw withContext(context, e);
  }
}

export class LocalPluginDiscovery implements PluginLocator {
  readonly socketDir: string;
  readonly specDirs: readonly string[];

  constructor(opts: DiscoveryOptions = {}) {
    this.socketDir = opts.socketDir ?? DEFAULT_SOCKET_DIR;
    this.specDirs = opts.specDirs ?? DEFAULT_SPEC_DIRS;
  }

  async find(name: string): Promise<PluginSpec | undefined> {
    checkName(name);
    for (const p of [path.join(this.socketDir, `${name}.sock`), path.join(this.socketDir, name, `${name}.sock`)]) {
      // A file that is not a socket is ignored, as in dockerd.
      if ((await kindOf(p)) === 'socket') return { name, addr: `unix://${p}`, tls: { insecureSkipVerify: true }, source: p };
    }
    for (const dir of this.specDirs) {
      for (const p of [
        path.join(dir, `${name}.spec`),
        path.join(dir, name, `${name}.spec`),
        path.join(dir, `${name}.json`),
        path.join(dir, name, `${name}.json`),
      ]) {
        if ((await kindOf(p)) === 'file') return readSpecFile(name, p);
      }
    }
    return undefined;
  }

  /** Like find, but NotFoundError in dockerd's words when nothing is there. */
  async get(name: string): Promise<PluginSpec> {
    const s = await this.find(name);
    if (!s) throw new NotFoundError(`could not find plugin ${name} in v1 plugin registry: plugin not found`);
    return s;
  }

  /**
   * dockerd's Scan: top-level sockets and DIR/DIR.sock in the socket dir, then .spec/.json files
   * (top-level or DIR/DIR.ext) in the spec dirs. Unreadable spec files are reported via onError.
   */
  async list(onError?: (file: string, e: unknown) => void): Promise<PluginSpec[]> {
    const found = new Map<string, PluginSpec>();
    const entries = async (dir: string) => {
      try {
        return await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return [];
      }
    };
    for (const e of await entries(this.socketDir)) {
      const candidates = e.isDirectory()
        ? [{ name: e.name, p: path.join(this.socketDir, e.name, `${e.name}.sock`) }]
        : e.name.endsWith('.sock')
          ? [{ name: e.name.slice(0, -'.sock'.length), p: path.join(this.socketDir, e.name) }]
          : [];
      for (const c of candidates) {
        if (!c.name || found.has(c.name) || (await kindOf(c.p)) !== 'socket') continue;
        found.set(c.name, { name: c.name, addr: `unix://${c.p}`, tls: { insecureSkipVerify: true }, source: c.p });
      }
    }
    for (const dir of this.specDirs) {
      for (const e of await entries(dir)) {
        const files: Array<{ name: string; p: string }> = [];
        if (e.isDirectory()) {
          for (const ext of ['.spec', '.json']) files.push({ name: e.name, p: path.join(dir, e.name, e.name + ext) });
        } else {
          const m = /^(.+)\.(spec|json)$/.exec(e.name);
          if (m) files.push({ name: m[1]!, p: path.join(dir, e.name) });
        }
        for (const f of files) {
          if (found.has(f.name) || (await kindOf(f.p)) !== 'file') continue;
          try {
            found.set(f.name, await readSpecFile(f.name, f.p));
          } catch (err) {
            onError?.(f.p, err);
          }
        }
      }
    }
    return [...found.values()];
  }
}
