// integration/network/loopback6.test.ts — peers-checklist 18 / libnetwork#2501 leftovers:
// `[::1]:port` of a published port reaches the sandbox, served in-process by tsd-bridge (IPv6
// has no route_localnet), with no process per port (moby#11185). Real kernel, real traffic: nc
// on the host side, nc -l inside the sandbox, ss/nft -j to check what is (not) left.
// Runs inside `unshare --net --mount`; everything is removed in after().

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { execa, type ResultPromise } from 'execa';
import { createFirewall } from '../../core/kernel/firewall/select.js';
import { silentLogger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import type { PortBinding } from '../../core/driver/network-driver.js';
import { inNs, makeStack, nftElements, run, type Stack } from './stack.js';

const P = { v6tcp: 18901, v6udp: 18902, v4tcp: 18903, v4udp: 18904, taken: 18905, other: 18906, sctp: 18907, rm: 18908, ipt: 18909 };
const bind = (proto: PortBinding['proto'], port: number, hostPort: number, hostIp = '::'): PortBinding => ({ proto, ip: '', port, hostIp, hostPort, hostPortEnd: hostPort });

/** Host-side listeners on [::1]:port (ss, not tsd's own view). */
async function ssLoopback6(proto: 'tcp' | 'udp', port: number): Promise<string[]> {
  const r = await run('ss', [proto === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`]);
  return String(r.stdout).split('\n').filter((l) => l.includes(`[::1]:${port}`));
}

/** nc -l inside the sandbox; its stdout is what the server saw. */
interface NcServer { proc: ResultPromise; output(): Promise<string> }
const servers: ResultPromise[] = [];
async function ncServer(nsPath: string, proto: 'tcp' | 'udp', fam: 4 | 6, port: number, reply: string): Promise<NcServer> {
  const argv = ['nc', `-${fam}`, ...(proto === 'udp' ? ['-u'] : []), '-l', String(port)];
  const proc = execa('nsenter', [`--net=${nsPath}`, '--', ...argv], { reject: false, input: reply, timeout: 20_000 });
  servers.push(proc);
  for (let i = 0; i < 150; i++) {
    const r = await inNs(nsPath, ['ss', proto === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`]);
    if (String(r.stdout).includes(`:${port}`)) {
      return {
        proc,
        async output() {
          if (proc.pid && proc.exitCode === null) { try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ } }
          return String((await proc).stdout ?? '');
        },
      };
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`nc -l ${proto}/${port} in ${nsPath} did not start`);
}

/** nc from the host side to [::1]:port; what came back and how nc ended. */
async function ncClient(proto: 'tcp' | 'udp', port: number, line: string): Promise<{ ok: boolean; out: string }> {
  const argv = proto === 'tcp' ? ['-6', '-N', '-w', '3', '::1', String(port)] : ['-6', '-u', '-w', '2', '::1', String(port)];
  const r = await run('nc', argv, { input: `${line}\n`, timeout: 8000 });
  return { ok: r.exitCode === 0, out: String(r.stdout ?? '') };
}

/** The driver key that serves [::1] for `::` / any-address bindings too (default: only explicit ::1). */
const ON = { 'userland-proxy-v6-loopback': true };

describe('tsd-bridge [::1]:port without a proxy process (real kernel)', function () {
  this.timeout(60_000);
  const store = new MemoryStore();
  const stacks: Stack[] = [];
  const s = () => stacks.at(-1)!;
  let holder: net.Server | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    stacks.push(await makeStack(store, undefined, ON));
    await s().services.networks.create({
      name: 'l6', enableIpv6: true, ipam: { config: [{ subnet: '10.89.6.0/24' }, { subnet: 'fd00:89:6::/64', gateway: 'fd00:89:6::1' }] },
    });
    await s().services.networks.create({ name: 'l4', ipam: { config: [{ subnet: '10.89.4.0/24' }] } });
    for (const name of ['w6', 'w4', 'w5']) await s().services.sandboxes.create({ name });
  });

  after(async () => {
    for (const p of servers.splice(0)) {
      if (p.pid && p.exitCode === null) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
      await p.catch(() => undefined);
    }
    await new Promise<void>((res) => (holder ? holder.close(() => res()) : res()));
    const last = stacks.at(-1);
    if (last) {
      for (const x of await last.services.sandboxes.list()) await last.services.sandboxes.remove(x.Id).catch(() => undefined);
      for (const n of await last.services.networks.list()) await last.services.networks.remove(n.Id, { force: true }).catch(() => undefined);
    }
    for (const x of stacks) await x.bridge.close();
    if (stacks[0]) fs.rmSync(stacks[0].root, { recursive: true, force: true });
  });

  const nsOf = async (name: string) => (await s().services.sandboxes.inspect(name)).NetnsPath;

  async function roundTrip(sandbox: string, fam: 4 | 6, proto: 'tcp' | 'udp', containerPort: number, hostPort: number): Promise<void> {
    const srv = await ncServer(await nsOf(sandbox), proto, fam, containerPort, `pong-${proto}-${hostPort}\n`);
    const c = await ncClient(proto, hostPort, `ping-${proto}-${hostPort}`);
    const seen = await srv.output();
    assert.match(seen, new RegExp(`ping-${proto}-${hostPort}`), `the server in ${sandbox} (IPv${fam}) saw the ${proto} client through [::1]:${hostPort}`);
    if (proto === 'tcp') assert.ok(c.ok, `nc tcp [::1]:${hostPort} succeeded`);
    assert.match(c.out, new RegExp(`pong-${proto}-${hostPort}`), `the ${proto} answer came back through the proxy`);
  }

  it('publishes tcp and udp on :: for an IPv6 endpoint and an IPv4-only one: [::1]:port reaches both sandboxes', async () => {
    await s().services.networks.connect({ network: 'l6', sandbox: 'w6', portBindings: [bind('tcp', 80, P.v6tcp), bind('udp', 53, P.v6udp)] });
    await s().services.networks.connect({ network: 'l4', sandbox: 'w4', portBindings: [bind('tcp', 80, P.v4tcp), bind('udp', 53, P.v4udp)] });
    for (const [proto, port] of [['tcp', P.v6tcp], ['udp', P.v6udp], ['tcp', P.v4tcp], ['udp', P.v4udp]] as const) {
      assert.equal((await ssLoopback6(proto, port)).length, 1, `one [::1]:${port} ${proto} listener`);
    }
    await roundTrip('w6', 6, 'tcp', 80, P.v6tcp);
    await roundTrip('w6', 6, 'udp', 53, P.v6udp);
    await roundTrip('w4', 4, 'tcp', 80, P.v4tcp);
    await roundTrip('w4', 4, 'udp', 53, P.v4udp);
    // The v6 endpoint's global v6 port is still a firewall element; ::1 never is.
    const els6 = JSON.stringify(await nftElements('pub6any')) + JSON.stringify(await nftElements('pub6'));
    assert.match(els6, new RegExp(String(P.v6tcp)), 'the :: mapping of the v6 endpoint is an nft element');
    assert.doesNotMatch(els6, /"::1"/, 'no ::1 element');
    // No process per port: nothing but this test process listens there.
    const r = await run('ss', ['-Hltnp', `sport = :${P.v6tcp}`]);
    assert.match(String(r.stdout), new RegExp(`pid=${process.pid},`), 'the listener is tsd itself');
  });

  it('is restored from the store at restart (a port taken meanwhile is reported) and closed at shutdown', async () => {
    await s().bridge.close(); // daemon shutdown
    assert.deepEqual(await ssLoopback6('tcp', P.v6tcp), [], 'closed at shutdown');
    assert.deepEqual(await ssLoopback6('udp', P.v4udp), [], 'closed at shutdown (udp)');
    // While tsd is down, another process takes one of the ports.
    const squatter = net.createServer();
    await new Promise<void>((res) => squatter.listen({ host: '::1', port: P.v4tcp, ipv6Only: true }, () => res()));
    try {
      stacks.push(await makeStack(store, stacks[0]!.root, ON)); // restart: restore() reopens them
      for (const [proto, port] of [['tcp', P.v6tcp], ['udp', P.v6udp], ['udp', P.v4udp]] as const) {
        assert.equal((await ssLoopback6(proto, port)).length, 1, `[::1]:${port} ${proto} is back`);
      }
      const l4 = await s().services.networks.inspect('l4');
      const epId = Object.values(l4.Containers)[0]!.EndpointID;
      const info = await s().bridge.endpointOperInfo(l4.Id, epId) as { loopback6: Array<{ Proto: string; HostPort: number; State: string }> };
      assert.deepEqual(info.loopback6.map((x) => `${x.Proto}/${x.HostPort} ${x.State}`), [
        `tcp/${P.v4tcp} failed: host port [::1]:${P.v4tcp}/tcp: address already in use`, `udp/${P.v4udp} listening`,
      ], 'the taken port is reported, the rest is served');
    } finally {
      await new Promise<void>((res) => squatter.close(() => res()));
    }
    await roundTrip('w6', 6, 'tcp', 80, P.v6tcp);
    await roundTrip('w4', 4, 'udp', 53, P.v4udp);
  });

  it('after disconnect the [::1] ports refuse and no listener is left', async () => {
    await s().services.networks.disconnect('l6', 'w6');
    await s().services.networks.disconnect('l4', 'w4');
    for (const [proto, port] of [['tcp', P.v6tcp], ['udp', P.v6udp], ['tcp', P.v4tcp], ['udp', P.v4udp]] as const) {
      assert.deepEqual(await ssLoopback6(proto, port), [], `no [::1]:${port} ${proto} listener`);
    }
    const c = await ncClient('tcp', P.v6tcp, 'late');
    assert.equal(c.ok, false, 'nc to [::1] tcp fails after unpublish');
    assert.equal((await ncClient('udp', P.v4udp, 'late')).out, '', 'no udp answer after unpublish');
  });

  it('a taken [::1]:port fails the publish naming address, port and proto, and rolls everything back', async () => {
    holder = net.createServer();
    await new Promise<void>((res) => holder!.listen({ host: '::1', port: P.taken, ipv6Only: true }, () => res()));
    await assert.rejects(
      s().services.networks.connect({ network: 'l6', sandbox: 'w5', portBindings: [bind('tcp', 81, P.other, ''), bind('tcp', 80, P.taken, '')] }),
      (e: Error) => /\[::1\]:18905\/tcp: address already in use/.test(e.message),
    );
    const els = JSON.stringify([...(await nftElements('pub4any')), ...(await nftElements('pub6any'))]);
    assert.doesNotMatch(els, new RegExp(`${P.taken}|${P.other}`), `no nft element for either port: ${els}`);
    assert.deepEqual(await ssLoopback6('tcp', P.other), [], 'the listener opened before the failure is closed again');
    // The port is free for the next publish once its holder goes.
    await new Promise<void>((res) => holder!.close(() => res()));
    holder = undefined;
    const ep = await s().services.networks.connect({ network: 'l6', sandbox: 'w5', portBindings: [bind('tcp', 80, P.taken, ''), bind('sctp', 80, P.sctp)] });
    assert.equal((await ssLoopback6('tcp', P.taken)).length, 1);
    // sctp: published through the firewall, not served on ::1, and said so; not an error.
    const info = await s().bridge.endpointOperInfo(ep.networkId, ep.id) as { loopback6: Array<{ Proto: string; HostPort: number; State: string }> };
    assert.deepEqual(info.loopback6.map((x) => `${x.Proto}/${x.HostPort} ${x.State}`), [`tcp/${P.taken} listening`, `sctp/${P.sctp} not supported on ::1 (sctp)`]);
    assert.match(JSON.stringify(await nftElements('pub6any')), new RegExp(String(P.sctp)), 'sctp is still published on the v6 address');
    await s().services.networks.disconnect('l6', 'w5');
    assert.deepEqual(await ssLoopback6('tcp', P.taken), []);
  });

  it('network rm closes the [::1] listeners of its endpoints', async () => {
    await s().services.networks.connect({ network: 'l4', sandbox: 'w4', portBindings: [bind('tcp', 80, P.rm, '::1')] });
    assert.equal((await ssLoopback6('tcp', P.rm)).length, 1);
    assert.doesNotMatch(JSON.stringify(await nftElements('pub4any')), new RegExp(String(P.rm)), '::1 alone makes no firewall element');
    await s().services.networks.remove('l4', { force: true });
    assert.deepEqual(await ssLoopback6('tcp', P.rm), [], 'closed with the network');
  });

  it('iptables backend: ip6tables never DNATs ::1 either, so a [::1] listener still gets the connection', async () => {
    const fw = await createFirewall({ backend: 'iptables' }, { log: silentLogger });
    const ipt = { id: 'ipt6', bridge: 'tsdipt6', subnets: ['fd00:89:7::/64'], masquerade: false, internal: false, icc: true, isolate: true };
    const srv = net.createServer((c) => c.resume().end('ipt-ok\n'));
    try {
      await fw.reload({ networks: [ipt], ports: [{ networkId: 'ipt6', proto: 'tcp', hostIp: '::', hostPort: P.ipt, containerIp: 'fd00:89:7::2', containerPort: 80 }] });
      const dump = String((await run('ip6tables-save', ['-t', 'nat'])).stdout) + String((await run('ip6tables-legacy-save', ['-t', 'nat'])).stdout);
      assert.match(dump, /-A TSD-OUTPUT ! -d ::1\/128 -m addrtype --dst-type LOCAL -j TSD-DNAT/);
      assert.match(dump, new RegExp(`--dport ${P.ipt} -j DNAT`), 'the :: port is DNAT\'ed for other addresses');
      await new Promise<void>((res) => srv.listen({ host: '::1', port: P.ipt, ipv6Only: true }, () => res()));
      const c = await ncClient('tcp', P.ipt, 'x');
      assert.match(c.out, /ipt-ok/, 'reached the [::1] listener, not DNAT\'ed away');
    } finally {
      await new Promise<void>((res) => srv.close(() => res()));
      await fw.purge();
    }
  });
});
