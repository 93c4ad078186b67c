// bench/docker-dns.ts — Docker's embedded DNS (dockerd 20.10, libnetwork resolver at 127.0.0.11)
// vs tsd's resolver, by dnsperf, with 10 and with 10,000 records. Runs in the host netns (it
// needs a real dockerd): its own data-root / exec-root / socket, a tsdtest- network and image,
// dockerd killed by PID. dnsperf runs inside the client container's netns (nsenter -n) against
// 127.0.0.11, as a container's resolver would. Records are network aliases of one container
// (10,000 containers would take an hour to start; the resolver's table is the same map).
// tsd is measured in the same run on 127.0.0.1 with the same query files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { best, dnsperf, fmt, procCpu, queryFile, ROUNDS, startTsd, TSD_UDP, type PerfResult } from './dns.js';

const SECONDS = Number(process.env.DNS_SECONDS ?? 10);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdtest-dockerdns-'));
const sock = path.join(root, 'docker.sock');
const NET = 'tsdtest-dnsnet';
const IMAGE = 'tsdtest-busybox';

const docker = (...args: string[]) => execa('docker', ['-H', `unix://${sock}`, ...args], { timeout: 120_000 });

async function startDockerd(): Promise<number> {
  const d = execa('dockerd', [
    '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec'), '-H', `unix://${sock}`,
    '--pidfile', path.join(root, 'docker.pid'), '--iptables=false', '--ip6tables=false', '--bridge=none',
  ], { stdout: 'ignore', stderr: { file: path.join(root, 'dockerd.log') }, reject: false, detached: false });
  for (let i = 0; i < 150; i++) {
    if ((await docker('version', '--format', '{{.Server.Version}}').catch(() => undefined))?.stdout) return d.pid!;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`dockerd did not start; see ${root}/dockerd.log`);
}

async function importBusybox(): Promise<void> {
  const rootfs = path.join(root, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const b of ['sh', 'sleep']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', b));
  const tar = path.join(root, 'rootfs.tar');
  await execa('tar', ['-C', rootfs, '-cf', tar, '.']);
  await docker('import', tar, IMAGE);
}

/** dockerd's own CPU while tsd was measured (it shares the machine), in % of one core, per run. */
const dockerdBusy: string[] = [];

async function tsdRun(n: number, file: string, dockerd: number): Promise<PerfResult> {
  const tsd = await startTsd('127.0.0.1', n, true);
  const c0 = procCpu(dockerd);
  const t0 = Date.now();
  try {
    return await dnsperf({ server: '127.0.0.1', port: tsd.port, file, seconds: SECONDS, cpu: () => procCpu(tsd.pid) });
  } finally {
    dockerdBusy.push(`${((100 * (procCpu(dockerd) - c0)) / ((Date.now() - t0) / 1000)).toFixed(0)} %`);
    await tsd.stop();
  }
}

async function main(): Promise<void> {
  let pid: number | undefined;
  try {
    pid = await startDockerd();
    await importBusybox();
    await docker('network', 'create', '--driver', 'bridge', '--subnet', '10.91.0.0/16', NET);
    await docker('run', '-d', '--name', 'tsdtest-dns-client', '--network', NET, IMAGE, 'sleep', '3600');
    const cpid = Number((await docker('inspect', '-f', '{{.State.Pid}}', 'tsdtest-dns-client')).stdout.trim());
    console.log(`dockerd ${(await docker('version', '--format', '{{.Server.Version}}')).stdout}; dnsperf -c 10 -q 200 -l ${SECONDS}, best of ${ROUNDS} alternating runs; tsd UDP ${TSD_UDP}${TSD_UDP === 'batch' ? ` × ${process.env.DNS_TSD_THREADS ?? Math.min(2, os.availableParallelism())} threads` : ''}; load ${os.loadavg()[0]!.toFixed(2)}`);
    for (const n of [10, 10_000]) {
      const names = Array.from({ length: n }, (_, i) => `r${i}`);
      const file = queryFile(names);
      const target = `tsdtest-dns-t${n}`;
      try {
        // One container carrying n network aliases: n names in the resolver's table.
        await docker('create', '--name', target, '--network', NET, ...names.flatMap((a) => ['--network-alias', a]), IMAGE, 'sleep', '3600');
        await docker('start', target);
        const probe = await execa('nsenter', ['-t', String(cpid), '-n', 'dig', '@127.0.0.11', '+short', '+tries=1', names[n - 1]!], { reject: false });
        if (!probe.stdout.trim()) throw new Error(`Docker DNS does not answer ${names[n - 1]}: ${probe.stdout} ${probe.stderr}`);
        const dkRuns: PerfResult[] = [];
        const tsRuns: PerfResult[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          dkRuns.push(await dnsperf({ server: '127.0.0.11', port: 53, file, seconds: SECONDS, wrap: ['nsenter', '-t', String(cpid), '-n'], cpu: () => procCpu(pid!) }));
          tsRuns.push(await tsdRun(n, file, pid));
        }
        const dk = best(dkRuns);
        const ts = best(tsRuns);
        console.log(`${String(n).padStart(6)} records  tsd     ${fmt(ts)}`);
        console.log(`${String(n).padStart(6)} records  docker  ${fmt(dk)}`);
        console.log(`${String(n).padStart(6)} records  dockerd CPU while tsd was measured: ${dockerdBusy.splice(0).join(', ')} of one core`);
        console.log(`${String(n).padStart(6)} records  tsd / docker qps: ${(ts.qps / dk.qps).toFixed(2)}x  (load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
      } finally {
        await docker('rm', '-f', target).catch(() => undefined);
        fs.rmSync(file, { force: true });
      }
    }
  } finally {
    await docker('rm', '-f', 'tsdtest-dns-client').catch(() => undefined);
    await docker('network', 'rm', NET).catch(() => undefined);
    if (pid) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 100; i++) {
        try { process.kill(pid, 0); } catch { break; }
        await new Promise((r) => setTimeout(r, 100));
      }
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await execa('umount', ['-R', path.join(root, 'exec')], { reject: false });
    await execa('umount', ['-R', path.join(root, 'data')], { reject: false });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
