// core/service/sandboxes.ts — SandboxService: named sandboxes (network namespaces endpoints
// join). tsd creates the namespace (pinned under its run dir), pins a running process's by PID,
// or adopts an existing one by path. It writes the sandbox's resolv.conf/hosts/hostname under
// the data root. rm disconnects every endpoint first, then removes what tsd owns.
// With `rootfs`, the sandbox also gets a root filesystem: a read-write layer made on the given
// layer (LayerService → graph driver CreateReadWrite + Get), and volumes bound inside it
// (VolumeService mount with caller id "<sandbox id>:<target>", then a bind that cannot leave the
// root). rm releases them in reverse; reconcile restores the mounts or releases the sandbox.

import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, InvalidArgumentError, MultiError, NotFoundError, messageOf, withContext } from '../errors.js';
import type { Logger } from '../log.js';
import { isIp } from '../model/addr.js';
import { checkFilterKeys, matchLabels, type Filters } from '../model/filters.js';
import { nameProblem, newId, shortId } from '../model/ids.js';
import { parseVolumeSpec, type ApiSandbox, type SandboxRecord, type VolumeSpec } from '../model/sandbox.js';
import type { SandboxRemoveIntent } from '../model/intent.js';
import { UndoStack } from '../undo.js';
import type { DnsRegistry, NetnsProvider, ProcessExitWatch, SandboxMounts } from './hooks.js';
import type { LayerService } from './layers.js';
import type { VolumeService } from './volumes.js';
import type { NetworkService } from './networks.js';
import type { Records } from './records.js';
import type { SandboxFiles } from './sandbox-files.js';

export interface CreateSandboxInput {
  name: string;
  /** Adopt this existing netns path instead of creating one. */
  netnsPath?: string;
  /** Pin the netns of this running process instead of creating one. */
  pid?: number;
  hostname?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  labels?: Record<string, string>;
  /** A layer id (or unique prefix): the sandbox gets a read-write root on top of it. */
  rootfs?: string;
  /** "NAME:/path[:ro|rw]" volumes bound inside the root (needs rootfs). */
  volumes?: string[];
}

export interface SandboxServiceDeps {
  records: Records;
  networks: NetworkService;
  netns: NetnsProvider;
  /** Closes the sandbox's resolver sockets on removal (optional: tests without DNS). */
  dns?: DnsRegistry;
  files: SandboxFiles;
  /** Where tsd pins the namespaces it creates, e.g. /run/tsd/netns. */
  netnsDir: string;
  log: Logger;
  /** Root filesystems and volumes (absent in tests that only need namespaces). */
  layers?: LayerService;
  volumes?: VolumeService;
  mounts?: SandboxMounts;
  /**
   * Reports the exit of a PID-adopted sandbox's process (pidfd), so the sandbox is removed then,
   * not at the next sweep. Absent: the sweep alone notices (peers.md #30).
   */
  exitWatch?: ProcessExitWatch;
}

const volumeCaller = (sandboxId: string, target: string) => `${sandboxId}:${target}`;

export const SANDBOX_FILTERS = ['id', 'name', 'label'] as const;

export class SandboxService {
  /** Cancel functions of the exit watches, by sandbox id. */
  private readonly exitWatches = new Map<string, () => void>();
  /** Removals an exit report started, awaited by stopExitWatch. */
  private readonly exitRemovals = new Set<Promise<void>>();
  private exitWatchStopped = false;

  constructor(private readonly d: SandboxServiceDeps) {}

  async create(input: CreateSandboxInput): Promise<SandboxRecord> {
    const bad = nameProblem(input.name);
    if (bad) throw new InvalidArgumentError(`sandbox name ${JSON.stringify(input.name)}: ${bad}`);
    if (input.netnsPath !== undefined && input.pid !== undefined) throw new InvalidArgumentError('NetnsPath and Pid: give at most one');
    if (input.netnsPath !== undefined && !path.isAbsolute(input.netnsPath)) throw new InvalidArgumentError(`NetnsPath: ${JSON.stringify(input.netnsPath)} is not an absolute path`);
    if (input.pid !== undefined && (!Number.isInteger(input.pid) || input.pid <= 0)) throw new InvalidArgumentError(`Pid: ${input.pid} is not a process id`);
    for (const s of input.dns ?? []) if (!isIp(s)) throw new InvalidArgumentError(`Dns: ${JSON.stringify(s)} is not an IP address`);
    const hostname = input.hostname ?? input.name;
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(hostname)) throw new InvalidArgumentError(`Hostname: ${JSON.stringify(hostname)} is not a valid host name`);
    const specs = this.volumeSpecs(input);
    if (await this.d.records.sandboxNameTaken(input.name)) throw new ConflictError(`sandbox with name ${input.name} already exists`);

    const id = newId();
    const sb: SandboxRecord = {
      id, name: input.name, netnsPath: '', owned: true, origin: { kind: 'created' }, hostname,
      dns: input.dns ?? [], dnsSearch: input.dnsSearch ?? [], dnsOptions: input.dnsOptions ?? [],
      labels: input.labels ?? {}, created: new Date().toISOString(),
      ...(this.d.records.owner ? { owner: this.d.records.owner } : {}),
    };
    await UndoStack.run(async (undo) => {
      if (input.netnsPath !== undefined) {
        if (!(await this.d.netns.isNetns(input.netnsPath))) throw new InvalidArgumentError(`NetnsPath: ${input.netnsPath} is not a network namespace`);
        sb.netnsPath = input.netnsPath;
        sb.owned = false;
        sb.origin = { kind: 'path', path: input.netnsPath };
      } else {
        fs.mkdirSync(this.d.netnsDir, { recursive: true, mode: 0o700 });
        sb.netnsPath = path.join(this.d.netnsDir, shortId(id));
        if (input.pid !== undefined) {
          await this.d.netns.pinPid(input.pid, sb.netnsPath);
          sb.origin = { kind: 'pid', pid: input.pid };
        } else {
          await this.d.netns.create(sb.netnsPath);
        }
        undo.push(`remove netns ${sb.netnsPath}`, () => this.d.netns.remove(sb.netnsPath));
      }
      const netnsId = await this.d.netns.identity?.(sb.netnsPath);
      if (netnsId !== undefined) sb.netnsId = netnsId;
      if (input.rootfs !== undefined) await this.mountRootfs(sb, input.rootfs, specs, undo);
      this.d.files.write(sb, []);
      undo.push('remove sandbox files', () => this.d.files.remove(id));
      await this.d.records.createSandbox(sb);
    }).catch((e: unknown) => {
      throw withContext(`create sandbox ${input.name}`, e);
    });
    this.watchProcess(sb);
    this.d.log.info('sandbox created', { sandbox: sb.name, id, netns: sb.netnsPath, origin: sb.origin.kind });
    return sb;
  }

  /** Parse and check --volume specs before anything is made. */
  private volumeSpecs(input: CreateSandboxInput): VolumeSpec[] {
    const vols = input.volumes ?? [];
    if (input.rootfs !== undefined) {
      if (input.rootfs === '') throw new InvalidArgumentError('RootFs: empty layer id');
      if (!this.d.layers || !this.d.volumes || !this.d.mounts) throw new InvalidArgumentError('RootFs: this tsd has no layer storage');
    } else if (vols.length) {
      throw new InvalidArgumentError('Volumes: a sandbox needs a root filesystem (RootFs, tsctl --rootfs) to mount volumes');
    }
    const specs: VolumeSpec[] = [];
    for (const v of vols) {
      try { specs.push(parseVolumeSpec(v)); } catch (e) { throw new InvalidArgumentError(`Volumes: ${messageOf(e)}`); }
    }
    const seen = new Set<string>();
    for (const v of specs) {
      if (seen.has(v.target)) throw new InvalidArgumentError(`Volumes: duplicate mount point ${v.target}`);
      seen.add(v.target);
    }
    return specs;
  }

  /** Read-write layer on `layerRef`, then each volume bound inside it; every step has its undo. */
  private async mountRootfs(sb: SandboxRecord, layerRef: string, specs: VolumeSpec[], undo: UndoStack): Promise<void> {
    const layers = this.d.layers!;
    const volumes = this.d.volumes!;
    const mounts = this.d.mounts!;
    const rwId = newId();
    const rw = await layers.createReadWrite(layerRef, rwId, sb.id).catch((e: unknown) => { throw withContext('RootFs', e); });
    undo.push(`release read-write layer ${rwId}`, () => layers.releaseReadWrite(rwId));
    sb.rootfs = { layer: rw.record.parent, rwLayer: rwId, driver: rw.record.driver, path: rw.path };
    sb.volumes = [];
    for (const v of specs) {
      const caller = volumeCaller(sb.id, v.target);
      const source = await volumes.mount(v.name, caller).catch((e: unknown) => { throw withContext(`Volumes: ${v.name}:${v.target}`, e); });
      undo.push(`unmount volume ${v.name} for ${caller}`, () => volumes.unmount(v.name, caller));
      const mountPoint = await mounts.bindInRoot(source, rw.path, v.target, v.readonly).catch((e: unknown) => { throw withContext(`Volumes: ${v.name}:${v.target}`, e); });
      undo.push(`unmount ${mountPoint}`, () => mounts.unmount(mountPoint));
      sb.volumes.push({ ...v, source, mountPoint });
    }
  }

  /** Undo mountRootfs: volumes (bind, then the volume's refcount), then the read-write layer. */
  private async releaseRootfs(sb: SandboxRecord, errors: unknown[]): Promise<void> {
    for (const v of [...(sb.volumes ?? [])].reverse()) {
      try { await this.d.mounts?.unmount(v.mountPoint); } catch (e) { errors.push(new Error(`unmount ${v.mountPoint}: ${messageOf(e)}`, { cause: e })); }
      try {
        await this.d.volumes?.unmount(v.name, volumeCaller(sb.id, v.target));
      } catch (e) {
        if (!(e instanceof NotFoundError)) errors.push(new Error(`release volume ${v.name}: ${messageOf(e)}`, { cause: e }));
      }
    }
    if (sb.rootfs) {
      try { await this.d.layers?.releaseReadWrite(sb.rootfs.rwLayer); } catch (e) { errors.push(new Error(`remove read-write layer ${sb.rootfs.rwLayer}: ${messageOf(e)}`, { cause: e })); }
    }
  }

  /** Startup: the root's mount and each volume's bind are put back if they are gone. */
  private async restoreRootfs(sb: SandboxRecord): Promise<{ restored: number }> {
    if (!sb.rootfs || !this.d.layers || !this.d.volumes || !this.d.mounts) return { restored: 0 };
    let restored = 0;
    const root = sb.rootfs.path;
    if (!(await this.d.mounts.isMountPoint(root))) {
      const p = await this.d.layers.remountReadWrite(sb.rootfs.rwLayer);
      if (p !== root) throw new Error(`root filesystem came back at ${p}, not ${root}`);
      if (await this.d.mounts.isMountPoint(root)) restored++;
    }
    for (const v of sb.volumes ?? []) {
      const source = await this.d.volumes.mount(v.name, volumeCaller(sb.id, v.target));
      if (await this.d.mounts.isMountPoint(v.mountPoint)) continue;
      await this.d.mounts.bindInRoot(source, root, v.target, v.readonly);
      restored++;
    }
    return { restored };
  }

  async inspect(ref: string): Promise<ApiSandbox> {
    return this.toApi(await this.d.records.findSandbox(ref));
  }

  async toApi(sb: SandboxRecord): Promise<ApiSandbox> {
    const networks: ApiSandbox['Networks'] = {};
    for (const ep of await this.d.records.sandboxEndpoints(sb.id)) {
      let netName = ep.networkId;
      try { netName = (await this.d.records.findNetwork(ep.networkId)).name; } catch { /* shown by id */ }
      networks[netName] = {
        NetworkID: ep.networkId, NetworkName: netName, EndpointID: ep.id, IfName: ep.ifname, IPv4Address: ep.ipv4,
        IPv6Address: ep.ipv6, MacAddress: ep.macAddress, Gateway: ep.gateway, Aliases: ep.aliases,
      };
    }
    const o = sb.origin;
    return {
      Id: sb.id, Name: sb.name, NetnsPath: sb.netnsPath, Owned: sb.owned,
      Origin: o.kind === 'created' ? 'created' : o.kind === 'pid' ? `pid:${o.pid}` : `path:${o.path}`,
      Hostname: sb.hostname, Created: sb.created, Labels: sb.labels,
      ResolvConfPath: this.d.files.resolvConfPath(sb.id), HostsPath: this.d.files.hostsPath(sb.id), Networks: networks,
      RootPath: sb.rootfs?.path ?? '',
      RootFs: sb.rootfs ? { Layer: sb.rootfs.layer, RwLayer: sb.rootfs.rwLayer, Driver: sb.rootfs.driver } : null,
      Mounts: (sb.volumes ?? []).map((v) => ({ Type: 'volume' as const, Name: v.name, Source: v.source, Destination: v.target, RW: !v.readonly })),
    };
  }

  async list(filters: Filters = new Map()): Promise<ApiSandbox[]> {
    const bad = checkFilterKeys(filters, SANDBOX_FILTERS);
    if (bad) throw new InvalidArgumentError(bad);
    const any = (k: string, pred: (v: string) => boolean) => {
      const vs = filters.get(k);
      return !vs || vs.length === 0 || vs.some(pred);
    };
    const out: ApiSandbox[] = [];
    for (const sb of await this.d.records.listSandboxes()) {
      if (!any('name', (v) => sb.name.includes(v)) || !any('id', (v) => sb.id.startsWith(v))) continue;
      if (!matchLabels(sb.labels, filters.get('label'))) continue;
      out.push(await this.toApi(sb));
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /**
   * Disconnect every endpoint (forced), then remove the netns tsd owns, the files, the record.
   * The sandbox is fenced first (NetworkService.fenceSandbox): a connect running on it finishes
   * and is in the endpoint list, a later one is refused.
   */
  async remove(ref: string): Promise<void> {
    const found = await this.d.records.findSandbox(ref);
    if (!(await this.d.networks.fenceSandbox(found.id))) throw new ConflictError(`sandbox ${found.name}: removal already in progress`);
    try {
      // Re-read under the fence: a removal that finished while we waited leaves NotFound.
      await this.removeFenced(await this.d.records.findSandbox(found.id));
    } finally {
      this.d.networks.unfenceSandbox(found.id);
    }
  }

  private async removeFenced(sb: SandboxRecord): Promise<void> {
    // Finished by the startup reconcile if a crash interrupts it (peers.md #34).
    const intent: SandboxRemoveIntent = { kind: 'sandbox-rm', id: sb.id, created: new Date().toISOString() };
    await this.d.records.putIntent(intent);
    const errors: unknown[] = [];
    for (const ep of await this.d.records.sandboxEndpoints(sb.id)) {
      try {
        await this.d.networks.disconnect(ep.networkId, sb.id, { force: true });
      } catch (e) {
        if (!(e instanceof NotFoundError)) errors.push(new Error(`disconnect ${ep.networkId.slice(0, 12)}: ${messageOf(e)}`, { cause: e }));
      }
    }
    try { await this.d.dns?.removeSandbox?.(sb.id); } catch (e) { errors.push(new Error(`close resolver sockets: ${messageOf(e)}`, { cause: e })); }
    await this.releaseRootfs(sb, errors);
    if (sb.owned) {
      try { await this.d.netns.remove(sb.netnsPath); } catch (e) { errors.push(new Error(`remove netns ${sb.netnsPath}: ${messageOf(e)}`, { cause: e })); }
    }
    this.d.files.remove(sb.id);
    await this.d.records.deleteSandbox(sb, intent);
    this.exitWatches.get(sb.id)?.();
    this.exitWatches.delete(sb.id);
    if (errors.length) this.d.log.warn('sandbox removed with errors', { sandbox: sb.name, err: new MultiError('teardown', errors) });
    this.d.log.info('sandbox removed', { sandbox: sb.name, id: sb.id });
  }

  /**
   * Startup, before `reconcile`: finish every sandbox rm a crash interrupted, and remove the
   * namespaces tsd pinned and the file folders it wrote for sandboxes whose record was never
   * written (a crash inside create). Idempotent.
   */
  async recoverIntents(): Promise<{ finished: number; strayNetns: number; strayFiles: number; strayRootfs: number }> {
    let finished = 0;
    for (const i of await this.d.records.listIntents()) {
      if (i.kind !== 'sandbox-rm') continue;
      try {
        if (await this.d.records.findSandbox(i.id).catch(() => undefined)) await this.remove(i.id);
        else await this.d.records.deleteIntent(i);
        finished++;
        this.d.log.warn('reconcile: finished a sandbox rm a crash interrupted', { sandbox: i.id });
      } catch (e) {
        this.d.log.error('reconcile: sandbox rm intent kept, its recovery failed', { sandbox: i.id, err: e });
      }
    }
    const sandboxes = await this.d.records.listSandboxes();
    const claimedNetns = new Set(sandboxes.map((s) => s.netnsPath));
    let strayNetns = 0;
    let entries: string[] = [];
    try { entries = fs.readdirSync(this.d.netnsDir); } catch { /* no dir yet */ }
    for (const e of entries) {
      const p = path.join(this.d.netnsDir, e);
      if (claimedNetns.has(p)) continue;
      try {
        await this.d.netns.remove(p);
        strayNetns++;
        this.d.log.warn('reconcile: removed a netns no sandbox record claims', { netns: p });
      } catch (err) {
        this.d.log.error('reconcile: netns no sandbox record claims not removed', { netns: p, err });
      }
    }
    const ids = new Set(sandboxes.map((s) => s.id));
    let strayFiles = 0;
    for (const id of this.d.files.listIds()) {
      if (ids.has(id)) continue;
      this.d.files.remove(id);
      strayFiles++;
    }
    const strayRootfs = await this.sweepStrayRootfs(ids);
    return { finished, strayNetns, strayFiles, strayRootfs };
  }

  /**
   * A create killed after its read-write layer or a volume mount, before its record: the
   * volume references (callers "<sandbox id>:<target>") and the read-write layers (owner = the
   * sandbox id) of sandboxes with no record are released. The layer's root goes with a lazy
   * unmount, which takes the volume binds inside it along.
   */
  private async sweepStrayRootfs(ids: ReadonlySet<string>): Promise<number> {
    if (!this.d.layers || !this.d.volumes) return 0;
    if (this.d.records.shared && this.d.records.owner) {
      // A shared store: a layer or volume reference with no sandbox record may be another
      // daemon's sandbox create in flight (neither names its daemon). Left alone.
      this.d.log.info('reconcile: shared store; read-write layers and volume references with no sandbox record are not swept');
      return 0;
    }
    let swept = 0;
    const owner = (caller: string) => caller.slice(0, caller.indexOf(':'));
    for (const v of await this.d.records.listVolumes()) {
      for (const caller of v.mountedBy) {
        if (!caller.includes(':') || ids.has(owner(caller))) continue;
        try {
          await this.d.volumes.unmount(v.name, caller);
          swept++;
          this.d.log.warn('reconcile: released a volume mount no sandbox record claims', { volume: v.name, caller });
        } catch (e) {
          this.d.log.error('reconcile: volume mount no sandbox record claims not released', { volume: v.name, caller, err: e });
        }
      }
    }
    for (const rw of await this.d.layers.listReadWrite()) {
      if (ids.has(rw.owner)) continue;
      try {
        await this.d.layers.releaseReadWrite(rw.id);
        swept++;
        this.d.log.warn('reconcile: removed a read-write layer no sandbox record claims', { layer: rw.id, owner: rw.owner });
      } catch (e) {
        this.d.log.error('reconcile: read-write layer no sandbox record claims not removed', { layer: rw.id, owner: rw.owner, err: e });
      }
    }
    return swept;
  }

  /**
   * Why the sandbox is dead, or undefined while it lives: its namespace file is gone or now holds
   * another namespace, or (adopted by PID) the process exited or left that namespace (a PID
   * reused by another process is in another one). tsd's pin keeps a PID-adopted namespace, and
   * its veths, alive after the process exits, so the process is what is checked. One or two
   * stat(2) calls with an identity-capable provider.
   */
  async vanished(sb: SandboxRecord): Promise<string | undefined> {
    const ns = this.d.netns;
    if (!ns.identity) return (await ns.isNetns(sb.netnsPath)) ? undefined : `netns ${sb.netnsPath} is gone`;
    const id = await ns.identity(sb.netnsPath);
    if (id === undefined) return `netns ${sb.netnsPath} is gone`;
    if (sb.netnsId !== undefined && sb.netnsId !== id) return `netns ${sb.netnsPath} now holds another namespace (${id}, was ${sb.netnsId})`;
    if (sb.origin.kind === 'pid') {
      const own = await ns.identity(`/proc/${sb.origin.pid}/ns/net`);
      if (own === undefined) return `process ${sb.origin.pid} exited`;
      if (own !== id) return `process ${sb.origin.pid} is in another netns (${own})`;
    }
    return undefined;
  }

  /**
   * Watch the process of a PID-adopted sandbox: at its exit the sandbox is removed through the
   * same fenced path as the sweep (removeIfVanished). A watch that cannot be set (EMFILE…) is
   * logged: the sweep still finds the sandbox.
   */
  private watchProcess(sb: SandboxRecord): void {
    const w = this.d.exitWatch;
    if (!w || this.exitWatchStopped || sb.origin.kind !== 'pid' || this.exitWatches.has(sb.id) || !this.d.records.owns(sb)) return;
    const pid = sb.origin.pid;
    try {
      this.exitWatches.set(sb.id, w.watch(pid, () => {
        this.exitWatches.delete(sb.id);
        if (this.exitWatchStopped) return;
        const p = this.removeIfVanished(sb.id, `process ${pid} exited`).finally(() => this.exitRemovals.delete(p));
        this.exitRemovals.add(p);
      }));
    } catch (e) {
      this.d.log.warn('process exit not watched; the background sweep will notice it', { sandbox: sb.name, pid, err: e });
    }
  }

  /**
   * Startup, after reconcile: watch the process of every PID-adopted sandbox left. Returns how
   * many are watched.
   */
  async watchAdoptedProcesses(): Promise<number> {
    if (!this.d.exitWatch) return 0;
    for (const sb of await this.d.records.listSandboxes()) this.watchProcess(sb);
    return this.exitWatches.size;
  }

  /** Shutdown: no more exit reports; removals already started finish; the watch is closed. Idempotent. */
  async stopExitWatch(): Promise<void> {
    this.exitWatchStopped = true;
    for (const cancel of this.exitWatches.values()) cancel();
    this.exitWatches.clear();
    await this.d.exitWatch?.close();
    await Promise.allSettled([...this.exitRemovals]);
  }

  /**
   * An exit report: the sandbox goes exactly as the sweep removes it, if it vanished (checked
   * again: the report is a hint, the netns identity is the proof). Never throws.
   */
  private async removeIfVanished(id: string, hint: string): Promise<void> {
    try {
      const sb = await this.d.records.findSandbox(id);
      const why = await this.vanished(sb);
      if (why === undefined) {
        this.d.log.warn('exit reported but the sandbox looks alive; left to the sweep', { sandbox: sb.name, id, hint });
        return;
      }
      this.d.log.warn('sandbox process exited; removing it and its endpoints', {
        sandbox: sb.name, id, reason: why,
        endpoints: (await this.d.records.sandboxEndpoints(id)).map((e) => ({ network: e.networkId.slice(0, 12), ipv4: e.ipv4, ipv6: e.ipv6, aliases: e.aliases })),
      });
      await this.remove(id);
    } catch (e) {
      // Removed meanwhile (sandbox rm, the sweep), or being removed: nothing left to do.
      if (e instanceof NotFoundError || e instanceof ConflictError) return;
      this.d.log.error('exited sandbox not removed; the sweep retries', { sandbox: id, err: e });
    }
  }

  /**
   * The background sweep (peers.md #30, libnetwork#786): every sandbox that vanished while tsd
   * runs is removed like `sandbox rm` (endpoints torn down, addresses released, DNS records and
   * resolver sockets gone, the pin removed). One failure is logged and the others still go.
   * `stopped` is polled between sandboxes so a shutdown does not wait for a whole pass.
   */
  async sweepVanished(stopped: () => boolean = () => false): Promise<{ removed: string[]; failed: string[] }> {
    const removed: string[] = [];
    const failed: string[] = [];
    for (const sb of await this.d.records.listSandboxes()) {
      if (stopped()) break;
      if (!this.d.records.owns(sb)) continue; // on another daemon's host: its own sweep
      try {
        const why = await this.vanished(sb);
        if (why === undefined) continue;
        const eps = await this.d.records.sandboxEndpoints(sb.id);
        this.d.log.warn('sweep: sandbox vanished; removing it and its endpoints', {
          sandbox: sb.name, id: sb.id, reason: why,
          endpoints: eps.map((e) => ({ network: e.networkId.slice(0, 12), ipv4: e.ipv4, ipv6: e.ipv6, aliases: e.aliases })),
        });
        await this.remove(sb.id);
        removed.push(sb.name);
      } catch (e) {
        // Removed meanwhile by `sandbox rm` (or being removed): nothing left to sweep.
        if (e instanceof NotFoundError || e instanceof ConflictError) continue;
        failed.push(sb.name);
        this.d.log.error('sweep: vanished sandbox not removed; retried next pass', { sandbox: sb.name, id: sb.id, err: e });
      }
    }
    return { removed, failed };
  }

  /**
   * Startup repair: a sandbox whose namespace is gone (reboot, the adopted process exited) is
   * removed with all its endpoints, host-side cleanup included. Files are rewritten.
   */
  async reconcile(): Promise<{ removed: string[] }> {
    const removed: string[] = [];
    for (const sb of await this.d.records.listSandboxes()) {
      if (!this.d.records.owns(sb)) continue; // another daemon's (shared store): its own start-up repairs it
      if ((await this.vanished(sb)) === undefined) {
        try {
          const r = await this.restoreRootfs(sb);
          if (r.restored) this.d.log.info('reconcile: sandbox mounts restored', { sandbox: sb.name, mounts: r.restored });
        } catch (e) {
          this.d.log.warn('reconcile: sandbox root filesystem cannot be restored; removing the sandbox', { sandbox: sb.name, err: e });
          await this.remove(sb.id);
          removed.push(sb.name);
          continue;
        }
        this.d.files.write(sb, await this.d.records.sandboxEndpoints(sb.id));
        continue;
      }
      this.d.log.warn('reconcile: sandbox netns is gone; removing the sandbox', { sandbox: sb.name, netns: sb.netnsPath });
      await this.remove(sb.id);
      removed.push(sb.name);
    }
    return { removed };
  }
}
