// integration/daemon/host-dns.test.ts — peers-checklist #26 (aardvark-dns#82/#508) and #23
// (moby#19533 wildcards), end to end with a real tsd child: a bridge network with
// com.tsd.network.host_dns=true answers `dig @<gateway>` (IPv4 and IPv6) from the host side (here: the private
// test namespace) for the sandbox name, an alias, a wildcard alias, the name below the network's
// zone and the PTR, over UDP and TCP; an outside name and another network's name are REFUSED;
// after disconnect the name is NXDOMAIN; <execRoot>/hosts lists / stops listing it (read with
// grep); a restart restores the listener; after network rm nothing listens (`ss`); a port in use
// gives the clear error and no half-made network (`ip -j link`, `nft -j`, the API); at SIGTERM
// the listeners and the hosts file are gone.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tsdChild, type TsdChild, call, must } from './tsd-child.js';

const A = '10.234.8';
const B = '10.234.9';
const C = '10.234.10';
const V6 = 'fd42:234:8::';
const BRIDGES = ['tsdhd0', 'tsdhd1', 'tsdhd2'];
const HOST_DNS = 'com.tsd.network.host_dns';

interface Dig { status: string; answers: string[] }

/** `dig @server name type` → status and the answer data (what a user would run). */
function dig(server: string, name: string, type = 'A', tcp = false): Dig {
  const r = spawnSync('dig', [`@${server}`, '+time=1', '+tries=2', '+noall', '+comments', '+answer', ...(tcp ? ['+tcp'] : []), name, type], { encoding: 'utf8' });
  const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? `no answer (${r.status}): ${r.stdout}${r.stderr}`;
  const answers = r.stdout.split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.split(/\s+/).pop()!);
  return { status, answers };
}

/** Sockets listening on port 53 in this namespace, per `ss` (UDP and TCP). */
function listeners53(): string[] {
  const out: string[] = [];
  for (const proto of ['-lunp', '-ltnp']) {
    const r = spawnSync('ss', ['-H', proto, 'sport = :53'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    out.push(...r.stdout.split('\n').filter(Boolean));
  }
  return out;
}

function hostsLines(t: TsdChild): string[] {
  const r = spawnSync('grep', ['-v', '^#', path.join(t.dir, 'run', 'hosts')], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

async function until<T>(what: string, f: () => T, ok: (v: T) => boolean, ms = 3000): Promise<T> {
  const t0 = Date.now();
  let v = f();
  while (!ok(v) && Date.now() - t0 < ms) {
    await new Promise((r) => setTimeout(r, 50));
    v = f();
  }
  assert.ok(ok(v), `${what}: ${JSON.stringify(v)}`);
  return v;
}

describe('host DNS (peers-checklist #26, #23): a real tsd child', function () {
  let t: TsdChild | undefined;
  const sock = () => t!.sock;
  let webIp = '';

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    t = tsdChild('tsdit-hostdns-', ['--firewall-backend', 'nftables']);
    await t.start();
  });

  after(async () => {
    await t?.destroy();
    for (const b of BRIDGES) spawnSync('ip', ['link', 'del', b]);
    spawnSync('nft', ['delete', 'table', 'inet', 'tsd']);
  });

  it('answers the network names on the gateway, refuses the rest, follows disconnect; hosts file too', async () => {
    await must(sock(), 'POST', '/networks/create', {
      Name: 'hdnet', EnableIPv6: true, IPAM: { Config: [{ Subnet: `${A}.0/24`, Gateway: `${A}.1` }, { Subnet: `${V6}/64`, Gateway: `${V6}1` }] },
      Options: { 'com.docker.network.bridge.name': BRIDGES[0], [HOST_DNS]: 'true' },
    });
    await must(sock(), 'POST', '/networks/create', {
      Name: 'other', IPAM: { Config: [{ Subnet: `${B}.0/24`, Gateway: `${B}.1` }] },
      Options: { 'com.docker.network.bridge.name': BRIDGES[1], [HOST_DNS]: 'true' },
    });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'web' });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'secret' });
    await must(sock(), 'POST', '/networks/hdnet/connect', { Container: 'web', EndpointConfig: { Aliases: ['www', '*.apps'], IPAMConfig: { IPv4Address: `${A}.20` } } });
    await must(sock(), 'POST', '/networks/other/connect', { Container: 'secret', EndpointConfig: { IPAMConfig: { IPv4Address: `${B}.30` } } });
    webIp = `${A}.20`;

    for (const name of ['web', 'www', 'x.apps', 'a.b.apps', 'web.hdnet', 'x.apps.hdnet']) {
      assert.deepEqual(dig(`${A}.1`, name), { status: 'NOERROR', answers: [webIp] }, name);
    }
    assert.deepEqual(dig(`${A}.1`, 'web', 'A', true), { status: 'NOERROR', answers: [webIp] }, 'TCP');
    assert.deepEqual(dig(`${V6}1`, 'x.apps.hdnet'), { status: 'NOERROR', answers: [webIp] }, 'on the IPv6 gateway');
    const aaaa = dig(`${V6}1`, 'web', 'AAAA', true);
    assert.equal(aaaa.status, 'NOERROR');
    assert.ok(aaaa.answers.length === 1 && aaaa.answers[0]!.startsWith(V6), `AAAA over TCP on the IPv6 gateway: ${aaaa.answers.join(' ')}`);
    assert.equal(dig(`${V6}1`, 'example.com').status, 'REFUSED');
    assert.deepEqual(dig(`${A}.1`, `20.8.234.10.in-addr.arpa`, 'PTR').answers, ['web.']);
    assert.equal(dig(`${A}.1`, 'example.com').status, 'REFUSED');
    assert.equal(dig(`${A}.1`, 'example.com', 'A', true).status, 'REFUSED');
    assert.equal(dig(`${A}.1`, 'secret').status, 'REFUSED', 'a name from another network');
    assert.equal(dig(`${A}.1`, 'secret.other').status, 'REFUSED');
    assert.deepEqual(dig(`${B}.1`, 'secret'), { status: 'NOERROR', answers: [`${B}.30`] }, 'the other network on its own gateway');
    assert.equal(dig(`${B}.1`, 'web').status, 'REFUSED');

    const inspect = await must<{ HostDNS?: string[] }>(sock(), 'GET', '/networks/hdnet');
    assert.deepEqual(inspect.HostDNS, [`${A}.1:53`, `[${V6}1]:53`]);
    const cli = t!.tsctl('network', 'inspect', '-f', '{{json .HostDNS}}', 'hdnet');
    assert.equal(cli.code, 0, cli.err);
    assert.match(cli.out, new RegExp(`${A}\\.1:53`));

    const lines = await until('hosts file lists web', () => hostsLines(t!), (l) => l.some((x) => x.startsWith(`${webIp}\t`)));
    assert.ok(lines.some((l) => /^10\.234\.8\.20\tweb\tweb\.hdnet\twww\t[0-9a-f]{12}$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith(`${B}.30\tsecret`)));

    await must(sock(), 'POST', '/networks/hdnet/disconnect', { Container: 'web' });
    assert.equal(dig(`${A}.1`, 'web.hdnet').status, 'NXDOMAIN');
    assert.equal(dig(`${A}.1`, 'x.apps.hdnet').status, 'NXDOMAIN');
    assert.equal(dig(`${A}.1`, 'web').status, 'REFUSED');
    await until('hosts file no longer lists web', () => hostsLines(t!), (l) => !l.some((x) => x.startsWith(`${webIp}\t`)) && l.length > 0);
  });

  it('a restart restores the listener; network rm leaves nothing listening', async () => {
    await must(sock(), 'POST', '/networks/hdnet/connect', { Container: 'web', EndpointConfig: { Aliases: ['*.apps'], IPAMConfig: { IPv4Address: webIp } } });
    await t!.stop();
    assert.deepEqual(listeners53(), [], 'tsd stopped: nothing listens on :53');
    assert.equal(fs.existsSync(path.join(t!.dir, 'run', 'hosts')), false, 'hosts export removed at shutdown');
    await t!.start();
    assert.deepEqual(dig(`${A}.1`, 'q.apps'), { status: 'NOERROR', answers: [webIp] });
    await until('hosts file rebuilt', () => hostsLines(t!), (l) => l.some((x) => x.startsWith(`${webIp}\t`)));
    assert.equal(listeners53().filter((l) => l.includes(`${A}.1:53`)).length, 2, listeners53().join('\n'));
    assert.equal(listeners53().filter((l) => l.includes(`[${V6}1]:53`)).length, 2, listeners53().join('\n'));

    await must(sock(), 'POST', '/networks/hdnet/disconnect', { Container: 'web' });
    await must(sock(), 'DELETE', '/networks/hdnet');
    assert.deepEqual(listeners53().filter((l) => l.includes(`${A}.`) || l.includes(V6)), [], 'nothing listens on the removed network');
    await must(sock(), 'POST', '/networks/other/disconnect', { Container: 'secret' });
    await must(sock(), 'DELETE', '/networks/other');
    assert.deepEqual(listeners53(), []);
    await until('hosts file empty', () => hostsLines(t!), (l) => l.length === 0);
  });

  it('a port in use: a clear error naming address, port and config key; no half-made network', async () => {
    // A wildcard :53 socket without SO_REUSEADDR (a dnsmasq, say) makes the gateway bind fail.
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((r) => taken.bind(53, '0.0.0.0', r));
    try {
      const r = await call(sock(), 'POST', '/networks/create', {
        Name: 'busy', IPAM: { Config: [{ Subnet: `${C}.0/24`, Gateway: `${C}.1` }] },
        Options: { 'com.docker.network.bridge.name': BRIDGES[2], [HOST_DNS]: 'true' },
      });
      assert.equal(r.status, 409, r.body);
      const msg = (JSON.parse(r.body) as { message: string }).message;
      assert.match(msg, new RegExp(`${C}\\.1:53 is in use`));
      assert.match(msg, /host-dns-port/);
    } finally {
      taken.close();
    }
    assert.equal((await call(sock(), 'GET', '/networks/busy')).status, 404);
    const link = spawnSync('ip', ['-j', 'link', 'show', 'dev', BRIDGES[2]!], { encoding: 'utf8' });
    assert.notEqual(link.status, 0, `bridge ${BRIDGES[2]} left behind: ${link.stdout}`);
    const nft = spawnSync('nft', ['-j', 'list', 'table', 'inet', 'tsd'], { encoding: 'utf8' });
    assert.ok(!nft.stdout.includes(BRIDGES[2]!) && !nft.stdout.includes(`${C}.`), 'no nft rules of the refused network');
    // The same create works once the port is free: nothing half-made blocks the name or pool.
    await must(sock(), 'POST', '/networks/create', {
      Name: 'busy', IPAM: { Config: [{ Subnet: `${C}.0/24`, Gateway: `${C}.1` }] },
      Options: { 'com.docker.network.bridge.name': BRIDGES[2], [HOST_DNS]: 'true' },
    });
    assert.equal(dig(`${C}.1`, 'example.com').status, 'REFUSED');
    await must(sock(), 'DELETE', '/networks/busy');
    // Other drivers / internal: refused with the option named.
    const internal = await call(sock(), 'POST', '/networks/create', { Name: 'inner', Internal: true, Options: { [HOST_DNS]: 'true' } });
    assert.equal(internal.status, 400);
    assert.match(internal.body, /com\.tsd\.network\.host_dns: not allowed on an internal network/);
  });
});
