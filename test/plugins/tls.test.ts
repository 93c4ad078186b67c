// test/plugins/tls.test.ts — plugins reached over TCP and TLS on loopback (plugin-protocol.md §1.1,
// §10.3): a .spec with tcp:// (path ignored), a .json with TLSConfig (CA verified, client cert
// presented), a .json without TLSConfig (system roots: a private CA is refused), a .spec with
// https:// (never verified). Certificates are made with openssl for the test.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { NO_RETRY, PluginDriverSource } from '../../plugins/client/index.js';
import { createPluginHandler } from '../../plugins/server/index.js';
import { recordingVolumeDriver, tempDir } from './fakes.js';

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

describe('plugins/client over TCP and TLS', function () {
  this.timeout(30000);
  const dir = tempDir();
  const etc = path.join(dir, 'etc');
  const f = (n: string) => path.join(dir, n);
  const vol = recordingVolumeDriver();
  const paths: string[] = [];
  let tcp: http.Server;
  let tls: https.Server;
  let source: PluginDriverSource;

  before(async () => {
    fs.mkdirSync(etc);
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tsd-test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('srv.key'), '-out', f('srv.csr'));
    fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('ext.cnf'), '-out', f('srv.pem'));
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=tsd-client', '-keyout', f('cli.key'), '-out', f('cli.csr'));
    openssl('x509', '-req', '-in', f('cli.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f('cli.pem'));

    const handler = createPluginHandler({ VolumeDriver: vol });
    const record = (req: http.IncomingMessage, res: http.ServerResponse) => {
      paths.push(req.url ?? '');
      handler(req, res);
    };
    tcp = http.createServer(record);
    tls = https.createServer({ key: fs.readFileSync(f('srv.key')), cert: fs.readFileSync(f('srv.pem')), ca: fs.readFileSync(f('ca.pem')), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const cert = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      paths.push(`${req.url} client=${cert?.subject?.CN ?? 'none'}`);
      handler(req, res);
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    const tcpPort = (tcp.address() as AddressInfo).port;
    const tlsPort = (tls.address() as AddressInfo).port;
    fs.writeFileSync(path.join(etc, 'viatcp.spec'), `tcp://127.0.0.1:${tcpPort}/ignored/path\n`);
    fs.writeFileSync(path.join(etc, 'verified.json'), JSON.stringify({ Addr: `https://127.0.0.1:${tlsPort}`, TLSConfig: { CAFile: f('ca.pem'), CertFile: f('cli.pem'), KeyFile: f('cli.key') } }));
    fs.writeFileSync(path.join(etc, 'sysroots.json'), JSON.stringify({ Addr: `https://127.0.0.1:${tlsPort}` }));
    fs.writeFileSync(path.join(etc, 'insecure.spec'), `https://127.0.0.1:${tlsPort}`);
    source = new PluginDriverSource({ discovery: { socketDir: f('run'), specDirs: [etc] }, discoveryRetry: NO_RETRY, client: { retry: NO_RETRY } });
  });
  after(async () => {
    await source.close();
    tcp.closeAllConnections();
    tls.closeAllConnections();
    await new Promise((r) => tcp.close(r));
    await new Promise((r) => tls.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('tcp:// spec: plain HTTP, the path part of the address is dropped', async () => {
    const d = await source.lookup('VolumeDriver', 'viatcp');
    assert.deepEqual(await d!.list(), [{ name: 'a', mountpoint: '/var/lib/fake/a' }, { name: 'b' }]);
    assert.deepEqual(paths.splice(0), ['/Plugin.Activate', '/VolumeDriver.List']);
  });

  it('.json with TLSConfig: server verified against CAFile, client certificate presented', async () => {
    const d = await source.lookup('VolumeDriver', 'verified');
    await d!.path('x');
    assert.deepEqual(paths.splice(0), ['/Plugin.Activate client=tsd-client', '/VolumeDriver.Path client=tsd-client']);
  });

  it('.json without TLSConfig verifies against system roots: a private CA is refused', async () => {
    await assert.rejects(source.lookup('VolumeDriver', 'sysroots'), (e: any) => e.code === 'Unavailable' && /certificate|self.signed|issuer/i.test(e.message));
    paths.splice(0);
  });

  it('.spec with https:// never verifies', async () => {
    const d = await source.lookup('VolumeDriver', 'insecure');
    await d!.list();
    assert.deepEqual(paths.splice(0), ['/Plugin.Activate client=none', '/VolumeDriver.List client=none']);
  });
});
