// test/core/service/volumes.test.ts — VolumeService through the registry's volume driver.
import assert from 'node:assert/strict';
import { harness } from './harness.js';
import { parseFilters } from '../../../core/model/filters.js';

describe('VolumeService', () => {
  let h: ReturnType<typeof harness>;
  beforeEach(() => { h = harness(); });
  afterEach(() => h.cleanup());

  it('create is idempotent for the same driver, inspect shows Docker fields', async () => {
    const v = await h.volumes.create({ name: 'data', labels: { a: '1' }, options: { o: 'x' } });
    assert.deepEqual(v, { Name: 'data', Driver: 'local', Mountpoint: '/fake/volumes/data', CreatedAt: v.CreatedAt, Labels: { a: '1' }, Scope: 'local', Options: { o: 'x' }, UsageData: { Size: -1, RefCount: 0 } });
    assert.equal((await h.volumes.create({ name: 'data' })).CreatedAt, v.CreatedAt);
    await assert.rejects(h.volumes.create({ name: 'data', driver: 'fake-local' }), /already exists with driver local/);
    await assert.rejects(h.volumes.create({ name: '../x' }), /volume name "..\/x"/);
    await assert.rejects(h.volumes.create({ name: 'y', options: { bad: '1' } }), /create volume y: option bad/);
    assert.equal(h.vol.volumes.has('y'), false);
    await assert.rejects(h.volumes.inspect('nope'), /no such volume/);
  });

  it('rm is refused while mounted unless forced; rm -f of a missing volume succeeds', async () => {
    await h.volumes.create({ name: 'data' });
    await h.volumes.mount('data', 'sb1');
    await assert.rejects(h.volumes.remove('data'), (e: unknown) => (e as { code: string }).code === 'Conflict' && /in use - \[sb1\]/.test(String(e)));
    await h.volumes.remove('data', { force: true });
    assert.equal(h.vol.volumes.size, 0);
    await h.volumes.remove('data', { force: true });
    await assert.rejects(h.volumes.remove('data'), /no such volume/);
  });

  it('ls filters; prune removes anonymous volumes, or all unused with all=true', async () => {
    await h.volumes.create({ name: 'keep', labels: { env: 'prod' } });
    await h.volumes.create({ name: 'used' });
    await h.volumes.mount('used', 'sb');
    const anon = await h.volumes.create({});
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    const names = async (f: string) => (await h.volumes.list(parseFilters(f))).volumes.map((v) => v.Name);
    assert.deepEqual(await names('{"label":["env=prod"]}'), ['keep']);
    assert.deepEqual(await names('{"dangling":["false"]}'), ['used']);
    assert.deepEqual((await h.volumes.prune()).deleted, [anon.Name]);
    assert.deepEqual((await h.volumes.prune(parseFilters('{"all":["true"]}'))).deleted, ['keep']);
    assert.deepEqual(await names(''), ['used']);
  });

  it('ls and inspect include volumes only the driver knows (made by another client of its socket), as dockerd merges List; rm removes them', async () => {
    await h.volumes.create({ name: 'mine' });
    await h.vol.create('from-dockerd', {});
    const { volumes, warnings } = await h.volumes.list();
    assert.deepEqual(warnings, []);
    assert.deepEqual(volumes.map((v) => [v.Name, v.Driver]), [['from-dockerd', 'fake-local'], ['mine', 'local']]);
    assert.equal(volumes[0]!.Mountpoint, '/fake/volumes/from-dockerd');
    const names = async (f: string) => (await h.volumes.list(parseFilters(f))).volumes.map((v) => v.Name);
    assert.deepEqual(await names('{"driver":["fake-local"]}'), ['from-dockerd']);
    assert.deepEqual(await names('{"name":["dockerd"]}'), ['from-dockerd']);
    assert.equal((await h.volumes.inspect('from-dockerd')).Driver, 'fake-local');
    await h.volumes.remove('from-dockerd');
    assert.equal(h.vol.volumes.has('from-dockerd'), false);
    assert.deepEqual(await names('{}'), ['mine']);
  });
});
