// test/core/driver/registry.test.ts — built-ins win, aliases resolve, remote lookups are consulted.
import assert from 'node:assert/strict';
import { DriverRegistry, type RemoteDriverSource } from '../../../core/driver/registry.js';
import type { VolumeDriver } from '../../../core/driver/volume-driver.js';

function fakeVolumeDriver(name: string): VolumeDriver {
  const no = async () => { throw new Error('unused'); };
  return { name, create: no, remove: no, mount: no, unmount: no, path: no, get: no, list: async () => [], capabilities: async () => ({ scope: 'local' }) };
}

describe('DriverRegistry', () => {
  it('resolves built-ins by name and alias, then remote plugins, else NotFound', async () => {
    const remoteCalls: string[] = [];
    const remote: RemoteDriverSource = {
      async lookup(kind, name) { remoteCalls.push(`${kind}/${name}`); return name === 'ext' ? (fakeVolumeDriver('ext') as never) : undefined; },
      async scan() { return [fakeVolumeDriver('ext') as never]; },
    };
    const r = new DriverRegistry(remote);
    r.register('VolumeDriver', fakeVolumeDriver('tsd-local'), ['local']);
    assert.equal((await r.resolve('VolumeDriver', 'local')).driver.name, 'tsd-local');
    assert.equal((await r.resolve('VolumeDriver', 'tsd-local')).builtin, true);
    const ext = await r.resolve('VolumeDriver', 'ext');
    assert.equal(ext.builtin, false);
    await assert.rejects(r.resolve('VolumeDriver', 'nope'), (e: unknown) => (e as { code: string }).code === 'NotFound');
    await assert.rejects(r.resolve('VolumeDriver', '../x'), /invalid/);
    assert.deepEqual(remoteCalls, ['VolumeDriver/ext', 'VolumeDriver/nope']);
    assert.deepEqual((await r.all('VolumeDriver')).map((d) => d.name), ['tsd-local', 'ext']);
    assert.throws(() => r.register('VolumeDriver', fakeVolumeDriver('tsd-local')), /already registered/);
  });
});
