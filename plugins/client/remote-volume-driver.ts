// plugins/client/remote-volume-driver.ts — a VolumeDriver that is an external plugin (dockerd's
// volume/drivers proxy + adapter). Per-call deadlines are dockerd's (Create/Mount 2 min, the rest
// 1 min). Capabilities: any error or an empty/unknown scope reads as local; cached after success.
// Get with `{"Volume": null}` and no error is "no such volume".

import { NotFoundError } from '../../core/errors.js';
import type { VolumeDriver, VolumeDriverCapabilities, VolumeInfo } from '../../core/driver/volume-driver.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { VOLUME_TIMEOUTS_MS, volumeFromWire, VolumeMethod as M, VolumeReply as R, volumeScopeFromWire } from '../protocol/volume-driver.js';
import type { PluginClient } from './plugin-client.js';

export class RemoteVolumeDriver implements VolumeDriver {
  readonly name: string;
  private caps?: VolumeDriverCapabilities;

  constructor(private readonly client: PluginClient, private readonly log: Logger = silentLogger) {
    this.name = client.name;
  }

  private call(method: string, args: unknown): Promise<unknown> {
    return this.client.call(method, args, { subsystem: 'VolumeDriver', timeoutMs: VOLUME_TIMEOUTS_MS[method]! });
  }

  async create(name: string, options: Record<string, string>): Promise<void> {
    await this.call(M.Create, { Name: name, Opts: options });
  }

  async remove(name: string): Promise<void> {
    await this.call(M.Remove, { Name: name });
  }

  async mount(name: string, callerId: string): Promise<string> {
    return this.client.parseReply(R.Mount, await this.call(M.Mount, { Name: name, ID: callerId }), M.Mount).Mountpoint;
  }

  async unmount(name: string, callerId: string): Promise<void> {
    await this.call(M.Unmount, { Name: name, ID: callerId });
  }

  async path(name: string): Promise<string> {
    return this.client.parseReply(R.Path, await this.call(M.Path, { Name: name }), M.Path).Mountpoint ?? '';
  }

  async get(name: string): Promise<VolumeInfo> {
    const r = this.client.parseReply(R.Get, await this.call(M.Get, { Name: name }), M.Get);
    if (!r.Volume) throw new NotFoundError(`plugin ${this.name}: ${M.Get}: no such volume ${name}`);
    return volumeFromWire(r.Volume);
  }

  async list(): Promise<VolumeInfo[]> {
    return (this.client.parseReply(R.List, await this.call(M.List, {}), M.List).Volumes ?? []).map(volumeFromWire);
  }

  async capabilities(): Promise<VolumeDriverCapabilities> {
    if (this.caps) return this.caps;
    try {
      const r = this.client.parseReply(R.Capabilities, await this.call(M.Capabilities, {}), M.Capabilities);
      this.caps = { scope: volumeScopeFromWire(r.Capabilities?.Scope) };
      return this.caps;
    } catch (e) {
      this.log.debug('VolumeDriver.Capabilities failed: scope local', { err: e });
      return { scope: 'local' };
    }
  }
}
