import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SandboxRecord } from '../../../core/model/sandbox.js';
import { SandboxFiles } from '../../../core/service/sandbox-files.js';

describe('SandboxFiles', () => {
  let root: string;
  const sb: SandboxRecord = {
    id: 'a'.repeat(64), name: 'web', netnsPath: '/run/netns/x', owned: true, origin: { kind: 'created' }, hostname: 'web',
    dns: ['192.0.2.1'], dnsSearch: [], dnsOptions: [], labels: {}, created: new Date(0).toISOString(),
  };
  beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdtest-sbfiles-')); });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('write() with unchanged content keeps the files (same inode: bind mounts of them stay valid)', () => {
    const files = new SandboxFiles({ root, embeddedDns: false, hostResolvConf: '/nonexistent' });
    files.write(sb, []);
    const ino = (p: string) => fs.statSync(p).ino;
    const before = [files.resolvConfPath(sb.id), files.hostsPath(sb.id)].map(ino);
    files.write(sb, []);
    assert.deepEqual([files.resolvConfPath(sb.id), files.hostsPath(sb.id)].map(ino), before);
    assert.match(fs.readFileSync(files.resolvConfPath(sb.id), 'utf8'), /^nameserver 192\.0\.2\.1$/m);
  });

  it('write() with changed content replaces the file', () => {
    const files = new SandboxFiles({ root, embeddedDns: false, hostResolvConf: '/nonexistent' });
    files.write(sb, []);
    files.write({ ...sb, dns: ['192.0.2.9'] }, []);
    const text = fs.readFileSync(files.resolvConfPath(sb.id), 'utf8');
    assert.match(text, /^nameserver 192\.0\.2\.9$/m);
    assert.doesNotMatch(text, /192\.0\.2\.1/);
    assert.deepEqual(fs.readdirSync(files.dirOf(sb.id)).sort(), ['hostname', 'hosts', 'resolv.conf']);
  });
});
