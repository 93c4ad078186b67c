// test/core/api/server.test.ts — tsd's API on a real unix socket: Docker's JSON shapes and
// status codes, the /vX.Y/ prefix, one error mapping, and bad input that gets a clear 4xx
// (malformed JSON, wrong types, unknown fields, oversized bodies) while the server lives on.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { listenApi, type ApiServer } from '../../../core/api/server.js';
import { ApiClient } from '../../../cli/api-client.js';
import { harness } from '../service/harness.js';

describe('API server', () => {
  let h: ReturnType<typeof harness>;
  let server: ApiServer;
  let c: ApiClient;
  const json = (r: { body: string }) => JSON.parse(r.body) as Record<string, unknown>;

  beforeEach(async () => {
    h = harness();
    server = await listenApi({
      services: h, log: h.log, socketPath: path.join(h.root, 'run', 'api', 'tsd.sock'),
      info: { drivers: async () => ({ network: ['fake'], ipam: ['fake-ipam'], volume: ['fake-local'] }), storeKind: 'memory', dataRoot: h.root },
    });
    c = new ApiClient(server.socketPath);
  });
  afterEach(async () => {
    await server.close();
    h.cleanup();
  });

  it('socket is 0660 in a 0700 directory; /_ping and /version negotiate', async () => {
    assert.equal(fs.statSync(server.socketPath).mode & 0o777, 0o660);
    assert.equal(fs.statSync(path.dirname(server.socketPath)).mode & 0o777, 0o700);
    const ping = await c.raw('GET', '/_ping');
    assert.equal(ping.status, 200);
    assert.equal(ping.body, 'OK');
    assert.equal(ping.headers['api-version'], '1.45');
    const v = json(await c.raw('GET', '/v1.41/version'));
    assert.equal(v.ApiVersion, '1.45');
    assert.equal(v.MinAPIVersion, '1.24');
    const tooNew = await c.raw('GET', '/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.match(json(tooNew).message as string, /client version 1.99 is too new/);
  });

  it('network create/inspect/ls/connect/disconnect/rm with Docker status codes', async () => {
    const created = await c.raw('POST', '/v1.41/networks/create', {
      Name: 'web', CheckDuplicate: true, Driver: 'bridge', IPAM: { Driver: 'default', Config: [{ Subnet: '10.9.0.0/24' }], Options: null },
      Internal: false, Attachable: false, Ingress: false, ConfigOnly: false, ConfigFrom: null, Options: null, Labels: { x: 'y' },
    });
    assert.equal(created.status, 201);
    const { Id, Warning } = json(created) as { Id: string; Warning: string };
    assert.match(Id, /^[0-9a-f]{64}$/);
    assert.equal(Warning, '');
    assert.equal((await c.raw('POST', '/networks/create', { Name: 'web' })).status, 409);
    const net = json(await c.raw('GET', `/networks/${Id.slice(0, 6)}`));
    assert.deepEqual(Object.keys(net), ['Name', 'Id', 'Created', 'Scope', 'Driver', 'EnableIPv6', 'IPAM', 'Internal', 'Attachable', 'Ingress', 'ConfigFrom', 'ConfigOnly', 'Containers', 'Options', 'Labels']);
    const ls = JSON.parse((await c.raw('GET', `/networks?filters=${encodeURIComponent('{"label":["x=y"]}')}`)).body) as unknown[];
    assert.equal(ls.length, 1);
    assert.equal((await c.raw('POST', '/sandboxes/create', { Name: 'box' })).status, 201);
    const conn = await c.raw('POST', '/networks/web/connect', { Container: 'box', EndpointConfig: { IPAMConfig: { IPv4Address: '10.9.0.9' }, Aliases: ['db'] } });
    assert.equal(conn.status, 200, conn.body);
    assert.equal((await c.raw('DELETE', '/networks/web')).status, 403);
    assert.equal((await c.raw('POST', '/networks/web/disconnect', { Container: 'box' })).status, 200);
    assert.equal((await c.raw('DELETE', '/networks/web')).status, 204);
    const gone = await c.raw('GET', '/networks/web');
    assert.equal(gone.status, 404);
    assert.deepEqual(json(gone), { message: 'network web not found' });
    assert.equal(gone.headers['content-type'], 'application/json');
    assert.deepEqual(json(await c.raw('POST', '/networks/prune')), { NetworksDeleted: [] });
  });

  it('volumes: create 201, ls {Volumes, Warnings}, rm 409 while mounted, 204, 404', async () => {
    const v = await c.raw('POST', '/volumes/create', { Name: 'data', Driver: 'local', DriverOpts: {}, Labels: null });
    assert.equal(v.status, 201);
    assert.equal(json(v).Mountpoint, '/fake/volumes/data');
    assert.deepEqual(Object.keys(json(await c.raw('GET', '/volumes'))), ['Volumes', 'Warnings']);
    await h.volumes.mount('data', 'sb');
    assert.equal((await c.raw('DELETE', '/volumes/data')).status, 409);
    assert.equal((await c.raw('DELETE', '/volumes/data?force=1')).status, 204);
    assert.equal((await c.raw('GET', '/volumes/data')).status, 404);
    assert.deepEqual(json(await c.raw('POST', '/volumes/prune')), { VolumesDeleted: [], SpaceReclaimed: 0 });
  });

  it('volume prune keeps the semantics of the client\'s API version: named volumes only before 1.42 or with all=true', async () => {
    assert.equal((await c.raw('POST', '/volumes/create', { Name: 'named' })).status, 201);
    assert.deepEqual(json(await c.raw('POST', '/v1.45/volumes/prune')).VolumesDeleted, []);
    assert.deepEqual(json(await c.raw('POST', '/volumes/prune')).VolumesDeleted, []);
    assert.deepEqual(json(await c.raw('POST', '/v1.41/volumes/prune')).VolumesDeleted, ['named']);
    assert.equal((await c.raw('POST', '/volumes/create', { Name: 'named2' })).status, 201);
    assert.deepEqual(json(await c.raw('POST', `/v1.41/volumes/prune?filters=${encodeURIComponent('{"all":["false"]}')}`)).VolumesDeleted, []);
    assert.deepEqual(json(await c.raw('POST', `/v1.45/volumes/prune?filters=${encodeURIComponent('{"all":["true"]}')}`)).VolumesDeleted, ['named2']);
  });

  it('bad input: 4xx naming the field, and the server keeps serving', async () => {
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/networks/create', '{"Name": "x",', 400, /invalid JSON in request body/],
      ['POST', '/networks/create', { Name: 5 }, 400, /Name: Invalid input: expected string, received number/],
      ['POST', '/networks/create', { Name: 'x', Bogus: 1 }, 400, /Bogus: unknown field/],
      ['POST', '/networks/create', { Name: 'x', IPAM: { Config: [{ Subnet: 7 }] } }, 400, /IPAM.Config\[0\].Subnet/],
      ['POST', '/networks/create', { Name: 'x', IPAM: { Config: [{ Subnet: '1.2.3.0/99' }] } }, 400, /Subnet: "1.2.3.0\/99" is not a valid CIDR/],
      ['POST', '/networks/create', '[1,2]', 400, /body: Invalid input: expected object, received array/],
      ['POST', '/volumes/create', { Name: 'a/b' }, 400, /volume name "a\/b"/],
      ['POST', '/volumes/create', { DriverOpts: { a: 1 } }, 400, /DriverOpts.a/],
      ['GET', '/networks?filters=notjson', undefined, 400, /filters: not valid JSON/],
      ['GET', '/networks?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D', undefined, 400, /invalid filter 'nope'/],
      ['DELETE', '/volumes/x?force=maybe', undefined, 400, /force: "maybe" is not a boolean/],
      ['GET', '/nowhere', undefined, 404, /page not found/],
      ['POST', '/networks/create', 'x'.repeat(2 * 1024 * 1024), 413, /request body too large/],
    ];
    for (const [m, p, body, status, re] of cases) {
      const r = await c.raw(m, p, body);
      assert.equal(r.status, status, `${m} ${p}: ${r.body}`);
      assert.match(String(json(r).message), re, `${m} ${p}`);
    }
    assert.equal((await c.raw('GET', '/_ping')).status, 200);
  });
});
