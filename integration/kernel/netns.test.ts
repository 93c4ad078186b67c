// integration/kernel/netns.test.ts — named namespaces as `ip netns` sees them, withNetns windows,
// sockets bound inside a namespace and served from this event loop, per-netns sysctls.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { execa } from 'execa';
import {
  bindSocketInNetns, boundPort, createNetns, currentNetnsInode, deleteNetns, hostNetns, listNetns, netnsExists,
  openNetns, withNetns, type Netns,
} from '../../core/kernel/netns.js';
import { readSysctl, writeSysctl } from '../../core/kernel/sysctl.js';
import { ipJson, prefix, requireRoot, run } from './helpers.js';

describe('kernel/netns (real kernel)', function () {
  const a = `${prefix}-nsa`;
  const b = `${prefix}-nsb`;
  const handles: Netns[] = [];
  before(function () { requireRoot(this); });
  after(async () => {
    for (const h of handles) h.close();
    for (const n of [a, b]) { deleteNetns(n); await execa('ip', ['netns', 'del', n], { reject: false }); }
  });

  it('creates a namespace that ip netns lists and can exec in, with lo up', async () => {
    const ns = createNetns(a);
    handles.push(ns);
    assert.equal(ns.name, a);
    assert.ok(listNetns().includes(a));
    const listed = await ipJson<{ name: string }[]>(['netns', 'list']);
    assert.ok(listed.some((x) => x.name === a), JSON.stringify(listed));
    const links = await ipJson<{ ifname: string; flags: string[] }[]>(['link'], a);
    assert.deepEqual(links.map((l) => l.ifname), ['lo']);
    assert.ok(links[0]!.flags.includes('UP'));
    assert.notEqual(ns.inode, hostNetns().inode);
    // /run/netns is a shared mount, as iproute2 makes it.
    const fm = JSON.parse(await run('findmnt', ['-J', '-o', 'TARGET,PROPAGATION', '/run/netns']));
    assert.match(fm.filesystems[0].propagation, /shared/);
  });

  it('refuses a duplicate name and a bad name', () => {
    assert.throws(() => createNetns(a), /netns .*-nsa: File exists/);
    assert.throws(() => createNetns('a/b'), /netns name: "a\/b"/);
  });

  it('opens by name, by path and by pid to the same namespace', async () => {
    const byName = openNetns(a); handles.push(byName);
    const byPath = openNetns({ path: `/run/netns/${a}` }); handles.push(byPath);
    assert.equal(byName.inode, byPath.inode);
    assert.equal(byPath.name, a);
    const child = execa('ip', ['netns', 'exec', a, 'sleep', '5']);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const byPid = openNetns({ pid: child.pid! }); handles.push(byPid);
      assert.equal(byPid.inode, byName.inode);
    } finally {
      child.kill('SIGKILL');
      await child.catch(() => undefined);
    }
    assert.throws(() => openNetns(`${prefix}-missing`), /no such network namespace/);
  });

  it('withNetns switches the thread and always switches back', () => {
    const ns = openNetns(a); handles.push(ns);
    const hostIno = hostNetns().inode;
    const inside = withNetns(ns, () => Number(/\[(\d+)\]/.exec(fs.readlinkSync('/proc/thread-self/ns/net'))![1]));
    assert.equal(inside, ns.inode);
    assert.equal(currentNetnsInode(), hostIno);
    assert.throws(() => withNetns(ns, () => { throw new Error('boom'); }), /boom/);
    assert.equal(Number(/\[(\d+)\]/.exec(fs.readlinkSync('/proc/thread-self/ns/net'))![1]), hostIno);
    assert.throws(() => withNetns(ns, async () => 1), /must be synchronous/);
    assert.equal(Number(/\[(\d+)\]/.exec(fs.readlinkSync('/proc/thread-self/ns/net'))![1]), hostIno);
  });

  it('serves UDP and TCP inside the namespace from this event loop', async () => {
    const ns = openNetns(a); handles.push(ns);
    const ufd = bindSocketInNetns(ns, { family: 'inet', type: 'udp', address: '127.0.0.11', port: 53 });
    const udp = dgram.createSocket('udp4');
    udp.on('message', (msg, rinfo) => udp.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    await new Promise<void>((r) => udp.bind({ fd: ufd } as dgram.BindOptions, () => r()));
    const tfd = bindSocketInNetns(ns, { family: 'inet', type: 'tcp', address: '127.0.0.11', port: 0, reuseAddr: true });
    const port = boundPort(tfd);
    assert.ok(port > 0);
    const server = net.createServer((s) => s.end('hello tcp\n'));
    await new Promise<void>((r) => server.listen({ fd: tfd }, () => r()));
    const v6fd = bindSocketInNetns(ns, { family: 'inet6', type: 'udp', address: '::1', port: 5353 });
    try {
      const u = await execa('ip', ['netns', 'exec', a, 'socat', '-T2', '-', 'UDP:127.0.0.11:53'], { input: 'ping' });
      assert.equal(u.stdout, 'echo:ping');
      const t = await execa('ip', ['netns', 'exec', a, 'nc', '-w2', '127.0.0.11', String(port)], { input: '' });
      assert.equal(t.stdout, 'hello tcp');
      // Not reachable from the host netns: the sockets live in the sandbox.
      const ss = await run('ss', ['-Hlun']);
      assert.ok(!ss.includes('127.0.0.11:53'), ss);
      const ssIn = await run('ip', ['netns', 'exec', a, 'ss', '-Hlun']);
      assert.ok(ssIn.includes('127.0.0.11:53') && ssIn.includes('[::1]:5353'), ssIn);
    } finally {
      udp.close();
      server.close();
      fs.closeSync(v6fd);
    }
    assert.throws(() => bindSocketInNetns(ns, { family: 'inet', type: 'udp', address: '10.9.9.9', port: 53 }), /bind udp 10.9.9.9:53 in netns .*: Cannot assign requested address/);
    assert.throws(() => bindSocketInNetns(ns, { family: 'inet', type: 'udp', address: '::1', port: 53 }), /not an inet address/);
  });

  it('reads and writes sysctls per namespace', async () => {
    const nb = createNetns(b); handles.push(nb);
    const hostFwd = readSysctl('net.ipv4.ip_forward');
    // A new netns may inherit ip_forward from init_net (net.core.devconf_inherit_init_net): flip it.
    const before = readSysctl('net.ipv4.ip_forward', nb);
    const want = before === '1' ? '0' : '1';
    const prev = writeSysctl('net.ipv4.ip_forward', want, nb);
    assert.equal(prev, before);
    assert.equal(readSysctl('net.ipv4.ip_forward', nb), want);
    assert.equal((await run('ip', ['netns', 'exec', b, 'sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), want);
    assert.equal(readSysctl('net.ipv4.ip_forward'), hostFwd);
    assert.equal(readSysctl('net/ipv6/conf/lo/disable_ipv6', nb), '0');
    assert.throws(() => readSysctl('net.ipv4.nope', nb), /sysctl net.ipv4.nope: no such key/);
    assert.throws(() => readSysctl('net/../../etc'), /not a sysctl path/);
  });

  it('deletes: gone from ip netns list, idempotent', async () => {
    for (const h of handles.splice(0)) h.close();
    assert.equal(deleteNetns(b), true);
    assert.equal(deleteNetns(b), false);
    assert.equal(netnsExists(b), false);
    const listed = await ipJson<{ name: string }[]>(['netns', 'list']);
    assert.ok(!listed.some((x) => x.name === b));
    assert.ok(!fs.existsSync(`/run/netns/${b}`));
  });
});
