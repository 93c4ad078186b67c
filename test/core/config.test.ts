// test/core/config.test.ts — config file (JSON/YAML) + flags: precedence, and errors that name the key.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfigObject, readConfigFile, resolveConfig } from '../../core/config.js';

describe('config', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-cfg-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('defaults < file < flags; the socket follows a custom exec root', () => {
    const f = path.join(dir, 'tsd.yaml');
    fs.writeFileSync(f, 'data-root: /srv/tsd\nexec-root: /run/tsd2\nstore:\n  kind: etcd\n  endpoints: [http://127.0.0.1:2379]\nlog-level: debug\ndns: false\n');
    const c = resolveConfig(readConfigFile(f), parseConfigObject({ 'log-level': 'warn' }, 'flags'));
    assert.equal(c.dataRoot, '/srv/tsd');
    assert.equal(c.apiSocket, '/run/tsd2/tsd.sock');
    assert.deepEqual(c.store, { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/tsd/' });
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.dns, false);
    const d = resolveConfig(undefined);
    assert.deepEqual([d.dataRoot, d.apiSocket, d.store.kind, d.firewallBackend], ['/var/lib/tsd', '/run/tsd/tsd.sock', 'embedded', 'auto']);
  });

  it('errors name the file and the key', () => {
    const f = path.join(dir, 'bad.json');
    fs.writeFileSync(f, JSON.stringify({ 'data-root': 'relative', store: { kind: 'etcd', endpoints: [] }, 'default-address-pools': [{ base: '10.0.0.0/33', size: 24 }], colour: 'red' }));
    assert.throws(() => readConfigFile(f), (e: Error) =>
      e.message.startsWith(`config ${f}: `) && /data-root: must be an absolute path/.test(e.message) && /store.endpoints: needs at least one endpoint/.test(e.message) &&
      /default-address-pools\[0\].base: is not a valid CIDR/.test(e.message) && /colour: unknown key/.test(e.message));
    fs.writeFileSync(f, '{"data-root": ');
    assert.throws(() => readConfigFile(f), /not valid JSON/);
    assert.throws(() => parseConfigObject({ 'firewall-backend': 'pf' }, 'flags'), /config flags: firewall-backend: /);
  });

  it('dns-max-in-flight (moby/libnetwork#2214): default 1024, set by file or flag, a bad value names the key', () => {
    assert.equal(resolveConfig(undefined).dnsMaxInFlight, 1024);
    const f = path.join(dir, 'dns.yaml');
    fs.writeFileSync(f, 'dns-max-in-flight: 4096\n');
    assert.equal(resolveConfig(readConfigFile(f)).dnsMaxInFlight, 4096);
    assert.equal(resolveConfig(readConfigFile(f), parseConfigObject({ 'dns-max-in-flight': 50 }, 'flags')).dnsMaxInFlight, 50);
    assert.throws(() => parseConfigObject({ 'dns-max-in-flight': 0 }, 'flags'), /config flags: dns-max-in-flight: /);
    assert.throws(() => parseConfigObject({ 'dns-max-in-flight': 'lots' }, 'flags'), /config flags: dns-max-in-flight: /);
    assert.throws(() => parseConfigObject({ 'dns-max-in-flight': 100_000 }, 'flags'), /config flags: dns-max-in-flight: /);
  });

  it('host-dns-port (aardvark-dns#82): default 53, set by file or flag, a bad value names the key', () => {
    assert.equal(resolveConfig(undefined).hostDnsPort, 53);
    const f = path.join(dir, 'hostdns.yaml');
    fs.writeFileSync(f, 'host-dns-port: 5353\n');
    assert.equal(resolveConfig(readConfigFile(f)).hostDnsPort, 5353);
    assert.equal(resolveConfig(readConfigFile(f), parseConfigObject({ 'host-dns-port': 1053 }, 'flags')).hostDnsPort, 1053);
    for (const bad of [0, 70_000, 'dns']) assert.throws(() => parseConfigObject({ 'host-dns-port': bad }, 'flags'), /config flags: host-dns-port: /);
  });

  it('sweep-interval (libnetwork#786): default 30 s, 0 disables, set by file or flag, a bad value names the key', () => {
    assert.equal(resolveConfig(undefined).sweepInterval, 30);
    const f = path.join(dir, 'sweep.yaml');
    fs.writeFileSync(f, 'sweep-interval: 0\n');
    assert.equal(resolveConfig(readConfigFile(f)).sweepInterval, 0);
    assert.equal(resolveConfig(readConfigFile(f), parseConfigObject({ 'sweep-interval': 0.5 }, 'flags')).sweepInterval, 0.5);
    assert.throws(() => parseConfigObject({ 'sweep-interval': -1 }, 'flags'), /config flags: sweep-interval: /);
    assert.throws(() => parseConfigObject({ 'sweep-interval': '30s' }, 'flags'), /config flags: sweep-interval: /);
    assert.throws(() => parseConfigObject({ 'sweep-interval': 100_000 }, 'flags'), /config flags: sweep-interval: /);
  });

  it('firewall-watch (moby#12294): on by default, switched off by file or flag, a non-boolean names the key', () => {
    assert.equal(resolveConfig(undefined).firewallWatch, true);
    const f = path.join(dir, 'fwwatch.yaml');
    fs.writeFileSync(f, 'firewall-watch: false\n');
    assert.equal(resolveConfig(readConfigFile(f)).firewallWatch, false);
    assert.equal(resolveConfig(readConfigFile(f), parseConfigObject({ 'firewall-watch': true }, 'flags')).firewallWatch, true);
    assert.throws(() => parseConfigObject({ 'firewall-watch': 'no' }, 'flags'), /config flags: firewall-watch: /);
  });
});
