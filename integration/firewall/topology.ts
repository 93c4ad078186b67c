// integration/firewall/topology.ts — a throwaway lab for firewall tests, built with ip(8) inside
// the test's private namespace (which stands in for the host): two bridges with sandboxes, an
// "outside" namespace behind a veth, TCP servers that answer with the peer address they saw.
// Everything carries the tsdfw prefix and is removed by teardown(), even after a failure.

import { execa, type ResultPromise } from 'execa';

export const OUT_IP = '10.71.9.2';
export const HOST_IP = '10.71.9.1';
export const NS = { s1: 'tsdfw-s1', s3: 'tsdfw-s3', s2: 'tsdfw-s2', out: 'tsdfw-out' };
export const IP = { gw1: '10.71.1.1', s1: '10.71.1.2', s3: '10.71.1.3', gw2: '10.71.2.1', s2: '10.71.2.2' };

async function ip(...args: string[]): Promise<void> {
  await execa('ip', args);
}

const servers: ResultPromise[] = [];

async function sandbox(ns: string, bridge: string, addr: string, gw: string, veth: string): Promise<void> {
  await ip('netns', 'add', ns);
  await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  await ip('link', 'set', veth, 'master', bridge, 'up');
  // With br_netfilter loaded (bridge-nf-call-iptables=1, as on this host) a sandbox reaching its
  // own published port is DNAT'ed at bridge level and sent back out of the port it came from.
  await ip('link', 'set', veth, 'type', 'bridge_slave', 'hairpin', 'on');
  await ip('-n', ns, 'link', 'set', 'lo', 'up');
  await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
  await ip('-n', ns, 'link', 'set', 'eth0', 'up');
  await ip('-n', ns, 'route', 'add', 'default', 'via', gw);
}

export async function setup(): Promise<void> {
  await teardown();
  await execa('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const [br, gw] of [['tsdfw-b1', IP.gw1], ['tsdfw-b2', IP.gw2]] as const) {
    await ip('link', 'add', br, 'type', 'bridge');
    await ip('addr', 'add', `${gw}/24`, 'dev', br);
    await ip('link', 'set', br, 'up');
    // What the bridge driver must set for host → 127.0.0.1:port → sandbox (docs/firewall.md).
    await execa('sysctl', ['-qw', `net.ipv4.conf.${br}.route_localnet=1`]);
  }
  await sandbox(NS.s1, 'tsdfw-b1', IP.s1, IP.gw1, 'tsdfw-v1');
  await sandbox(NS.s3, 'tsdfw-b1', IP.s3, IP.gw1, 'tsdfw-v3');
  await sandbox(NS.s2, 'tsdfw-b2', IP.s2, IP.gw2, 'tsdfw-v2');
  await ip('netns', 'add', NS.out);
  await ip('link', 'add', 'tsdfw-up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.out);
  await ip('addr', 'add', `${HOST_IP}/24`, 'dev', 'tsdfw-up');
  await ip('link', 'set', 'tsdfw-up', 'up');
  await ip('-n', NS.out, 'addr', 'add', `${OUT_IP}/24`, 'dev', 'eth0');
  await ip('-n', NS.out, 'link', 'set', 'eth0', 'up');
  await ip('-n', NS.out, 'link', 'set', 'lo', 'up');
  // No route back to the sandboxes' subnets: a reply reaches them only if they were masqueraded.
  for (const [ns, port] of [[NS.s1, 80], [NS.s2, 80], [NS.out, 9000]] as const) await serve(ns, port);
}

/** A TCP server in `ns` answering every connection with the peer address it saw. */
async function serve(ns: string, port: number): Promise<void> {
  const p = execa('ip', ['netns', 'exec', ns, 'socat', `TCP-LISTEN:${port},reuseaddr,fork`, 'EXEC:printenv SOCAT_PEERADDR'], { reject: false, stdio: 'ignore' });
  servers.push(p);
  for (let i = 0; i < 50; i++) {
    const r = await execa('ip', ['netns', 'exec', ns, 'ss', '-Hltn', `sport = :${port}`], { reject: false });
    if (String(r.stdout ?? '').includes('LISTEN')) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`server ${ns}:${port} did not start`);
}

/**
 * Connect from `ns` (undefined = the host) to addr:port; returns the peer address the server saw,
 * or undefined when the connection failed within a second.
 */
export async function peerSeen(ns: string | undefined, addr: string, port: number): Promise<string | undefined> {
  const socat = ['socat', '-T1', '-', `TCP:${addr}:${port},connect-timeout=1`];
  const argv = ns ? ['ip', 'netns', 'exec', ns, ...socat] : socat;
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, input: '', timeout: 4000 });
  const out = String(r.stdout ?? '').trim();
  return r.exitCode === 0 && out ? out : undefined;
}

export async function teardown(): Promise<void> {
  for (const s of servers.splice(0)) {
    if (s.pid) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await s.catch(() => undefined);
  }
  for (const ns of Object.values(NS)) {
    // socat children forked per connection die with their netns' processes; kill what is left.
    const pids = await execa('ip', ['netns', 'pids', ns], { reject: false });
    for (const pid of String(pids.stdout ?? '').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
  for (const l of ['tsdfw-b1', 'tsdfw-b2', 'tsdfw-up', 'tsdfw-v1', 'tsdfw-v2', 'tsdfw-v3']) await execa('ip', ['link', 'del', l], { reject: false });
}
