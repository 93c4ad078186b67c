// test/plugins/server.test.ts — servePlugin as dockerd sees it: raw HTTP on the socket, no
// Content-Type, empty body = {}, 200 only on success, `Err` (IPAM also `Error`) naming the field and
// the reason on bad input, 413 beyond the body limit, keep-alive > 30 s, socket 0660, stale socket
// replaced, live socket and non-socket refused, close() removes the socket, and no crash on junk.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { servePlugin, type ServedPlugin } from '../../plugins/server/index.js';
import { PLUGIN_MEDIA_TYPE } from '../../plugins/protocol/index.js';
import { rawPost, recordingIpamDriver, recordingNetworkDriver, recordingVolumeDriver, tempDir } from './fakes.js';

function rawExchange(socketPath: string, bytes: Buffer | string, waitMs = 300): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ path: socketPath });
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('connect', () => {
      s.write(bytes);
      setTimeout(() => s.destroy(), waitMs);
    });
  });
}

describe('plugins/server: servePlugin', () => {
  const dir = tempDir();
  const netd = recordingNetworkDriver();
  const vol = recordingVolumeDriver();
  const ipam = recordingIpamDriver();
  let served: ServedPlugin;
  let ipamServed: ServedPlugin;
  let sock: string;

  before(async () => {
    served = await servePlugin('tsd-test', { NetworkDriver: netd, VolumeDriver: vol }, { socketDir: dir, maxBodyBytes: 64 * 1024 });
    ipamServed = await servePlugin('tsd-ipam-test', { IpamDriver: ipam }, { socketDir: dir });
    sock = served.socketPath;
  });
  after(async () => {
    await served.close();
    await ipamServed.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('listens at <socketDir>/<name>.sock, mode 0660, owned by root when run as root', () => {
    assert.equal(sock, path.join(dir, 'tsd-test.sock'));
    const st = fs.lstatSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    if (process.getuid?.() === 0) assert.equal(st.uid, 0);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['tsd-ipam-test.sock', 'tsd-test.sock'], 'no temp dir left behind');
  });

  it('§10.1/§2.2: no Content-Type, empty body = {}, any HTTP method, 200 + JSON reply', async () => {
    const a = await rawPost(sock, '/Plugin.Activate', undefined, { Accept: PLUGIN_MEDIA_TYPE });
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, { Implements: ['NetworkDriver', 'VolumeDriver'] });
    const c = await rawPost(sock, '/NetworkDriver.GetCapabilities', '', {});
    assert.equal(c.status, 200);
    assert.deepEqual(c.json, { Scope: 'local', ConnectivityScope: 'global', GwAllocChecker: true });
    const g = await rawPost(sock, '/VolumeDriver.List', '{}\n', {}, 'PUT');
    assert.equal(g.status, 200);
    assert.equal(g.json.Volumes.length, 2);
    // dockerd's Go encoder output with a trailing newline and null maps
    const v = await rawPost(sock, '/VolumeDriver.Create', '{"Name":"v9","Opts":null}\n');
    assert.equal(v.status, 200);
    assert.deepEqual(v.json, {});
    assert.deepEqual(vol.calls.at(-1), ['create', 'v9', {}]);
  });

  it('§2.2: keys are read case-insensitively like Go, options maps untouched', async () => {
    const r = await rawPost(sock, '/VolumeDriver.Create', '{"name":"v10","opts":{"name":"x"}}');
    assert.equal(r.status, 200);
    assert.deepEqual(vol.calls.at(-1), ['create', 'v10', { name: 'x' }]);
  });

  it('bad input → 400 with Err naming the field and the reason; the driver is not called', async () => {
    const before = netd.calls.length;
    const cases: Array<[string, string, RegExp]> = [
      ['/NetworkDriver.CreateNetwork', '{"NetworkID":', /body is not valid JSON/],
      ['/NetworkDriver.CreateNetwork', '{"NetworkID":5}', /^NetworkID: expected string, got number$/],
      ['/NetworkDriver.CreateNetwork', '{"NetworkID":"n","Bogus":1}', /^Bogus: unknown field$/],
      ['/NetworkDriver.CreateNetwork', '{"NetworkID":"n","IPv4Data":[{"AddressSpace":"x","Pool":7}]}', /^IPv4Data\[0\]\.Pool: expected string, got number$/],
      ['/NetworkDriver.CreateNetwork', '{"NetworkID":"n","Options":{"com.docker.network.enable_ipv6":"yes"}}', /Options: \["com.docker.network.enable_ipv6"\]: expected boolean, got string/],
      ['/NetworkDriver.CreateEndpoint', '{"NetworkID":"n","EndpointID":"e","Interface":{"Mac":"x"}}', /^Interface\.Mac: unknown field$/],
      ['/NetworkDriver.CreateEndpoint', '{"NetworkID":"n","EndpointID":"e","Options":{"com.docker.network.portmap":[{"Proto":6,"Port":"80"}]}}', /portmap"\]: \[0\]\.Port: expected number, got string/],
      ['/NetworkDriver.CreateEndpoint', '{"NetworkID":"n","EndpointID":"e","Options":{"com.docker.network.endpoint.macaddress":"zz"}}', /macaddress"\]: "zz" is not a MAC address/],
      ['/NetworkDriver.Join', '{"NetworkID":"n","EndpointID":"e"}', /^SandboxKey: required$/],
      ['/NetworkDriver.Leave', '[1,2]', /expected object, got array/],
      ['/NetworkDriver.Leave', 'null', /expected object, got null/],
    ];
    for (const [p, body, re] of cases) {
      const r = await rawPost(sock, p, body);
      assert.equal(r.status, 400, `${p} ${body}: ${r.body}`);
      assert.match(r.json?.Err ?? '', re, `${p} ${body}`);
      assert.equal(r.json.Error, undefined, 'non-IPAM replies carry Err only');
      assert.equal(r.headers['x-tsd-error-code'], 'InvalidArgument');
    }
    assert.equal(netd.calls.length, before);
  });

  it('§10.8: IPAM failures carry Error (and Err, which dockerd reads on non-200)', async () => {
    const r = await rawPost(ipamServed.socketPath, '/IpamDriver.RequestPool', '{"AddressSpace":"a","Pool":"","SubPool":"10.0.0.0/24","V6":false}');
    assert.equal(r.status, 400);
    assert.match(r.json.Error, /SubPool: 10.0.0.0\/24 given without Pool/);
    assert.equal(r.json.Err, r.json.Error);
    const f = await rawPost(ipamServed.socketPath, '/IpamDriver.RequestAddress', '{"PoolID":"p","Address":"10.10.9.9","Options":null}');
    assert.equal(f.status, 500, 'a driver NotFound is 500, never 404 (404 = not implemented)');
    assert.equal(f.json.Error, 'address 10.10.9.9: not in pool');
    assert.equal(f.headers['x-tsd-error-code'], 'NotFound');
  });

  it('unknown methods and missing capabilities answer 404', async () => {
    const r = await rawPost(sock, '/NetworkDriver.Nope', '{}');
    assert.equal(r.status, 404);
    assert.match(r.json.Err, /no such method/);
    const i = await rawPost(sock, '/IpamDriver.RequestPool', '{}');
    assert.equal(i.status, 404, 'IPAM is not served by this plugin');
  });

  it('oversized bodies get 413 with Err, and the server keeps serving', async () => {
    const big = JSON.stringify({ Name: 'x'.repeat(200 * 1024) });
    const r = await rawPost(sock, '/VolumeDriver.Create', big);
    assert.equal(r.status, 413);
    assert.match(r.json.Err, /exceeds the limit of 65536/);
    // chunked, no Content-Length
    const c = await rawPost(sock, '/VolumeDriver.Create', big, { 'Transfer-Encoding': 'chunked' });
    assert.equal(c.status, 413);
    assert.match(c.json.Err, /more than 65536 bytes/);
    assert.equal((await rawPost(sock, '/Plugin.Activate', undefined)).status, 200);
  });

  it('never crashes on junk: random bytes, truncated JSON, huge headers, bad requests', async function () {
    this.timeout(20000);
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    for (let i = 0; i < 30; i++) await rawExchange(sock, Buffer.from(Array.from({ length: 1 + (i * 37) % 500 }, rnd)), 20);
    const head = await rawExchange(sock, `POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`);
    assert.match(head, /^HTTP\/1\.1 4\d\d/);
    const bodies = ['{"Name":', '{"Name":"a"', '\u0000\u0001', '{"Name":"a"}}', '"str"', '1e999', '{"Name":"a","Opts":{"k":1}}'];
    for (const b of bodies) {
      const r = await rawPost(sock, '/VolumeDriver.Create', b);
      assert.equal(r.status, 400, `${JSON.stringify(b)} → ${r.status} ${r.body}`);
      assert.ok(r.json.Err, 'Err present');
    }
    for (let i = 0; i < 20; i++) {
      const s = JSON.stringify({ NetworkID: 'n', EndpointID: 'e', SandboxKey: '/x', Options: { 'com.docker.network.portmap': [{ Proto: 6 }] } });
      await rawPost(sock, '/NetworkDriver.Join', s.slice(0, (i * 7) % s.length));
    }
    const ok = await rawPost(sock, '/Plugin.Activate', undefined);
    assert.equal(ok.status, 200, 'still alive');
  });

  it('keep-alive outlives dockerd’s 30 s idle pool', async () => {
    // Ask the server itself: its keep-alive header advertises the timeout.
    const r = await rawPost(sock, '/Plugin.Activate', undefined, { Connection: 'keep-alive' });
    const m = /timeout=(\d+)/.exec(String(r.headers['keep-alive']));
    assert.ok(m && Number(m[1]) > 30, `keep-alive header: ${r.headers['keep-alive']}`);
  });

  it('replaces a stale socket; refuses a live one and a non-socket file', async () => {
    const d2 = tempDir();
    try {
      // stale: a socket file whose process is gone (python binds and exits without unlinking)
      const stalePath = path.join(d2, 'stale.sock');
      execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)', stalePath]);
      assert.ok(fs.lstatSync(stalePath).isSocket(), 'stale socket prepared');
      const p = await servePlugin('stale', { VolumeDriver: vol }, { socketDir: d2 });
      assert.equal((await rawPost(p.socketPath, '/Plugin.Activate', undefined)).status, 200);

      await assert.rejects(servePlugin('stale', { VolumeDriver: vol }, { socketDir: d2 }), /another process is serving it/);
      fs.writeFileSync(path.join(d2, 'file.sock'), 'x');
      await assert.rejects(servePlugin('file', { VolumeDriver: vol }, { socketDir: d2 }), /exists and is not a socket/);
      assert.equal(fs.readFileSync(path.join(d2, 'file.sock'), 'utf8'), 'x', 'file untouched');
      await assert.rejects(servePlugin('../evil', { VolumeDriver: vol }, { socketDir: d2 }), /plugin name/);
      await assert.rejects(servePlugin('empty', {}, { socketDir: d2 }), /no driver to serve/);

      await p.close();
      assert.equal(fs.existsSync(p.socketPath), false, 'close() removes the socket');
      await p.close(); // idempotent
    } finally {
      fs.rmSync(d2, { recursive: true, force: true });
    }
  });

  it('graceful close: a call in flight finishes, new connections are refused', async () => {
    const d2 = tempDir();
    let release!: () => void;
    const slow = { ...recordingVolumeDriver('slow'), mount: () => new Promise<string>((r) => (release = () => r('/m'))) };
    const p = await servePlugin('slow', { VolumeDriver: slow }, { socketDir: d2 });
    try {
      const inflight = rawPost(p.socketPath, '/VolumeDriver.Mount', '{"Name":"a","ID":"b"}');
      await new Promise((r) => setTimeout(r, 100));
      const closing = p.close();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(fs.existsSync(p.socketPath), false);
      await assert.rejects(rawPost(p.socketPath, '/Plugin.Activate', undefined), /ENOENT/);
      release();
      const r = await inflight;
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { Mountpoint: '/m' });
      await closing;
    } finally {
      fs.rmSync(d2, { recursive: true, force: true });
    }
  });
});
