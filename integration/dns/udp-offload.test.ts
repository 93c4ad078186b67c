// integration/dns/udp-offload.test.ts — UDP served by the offload worker threads (udp-offload.ts,
// recvmmsg/sendmmsg from a replica of the records; 2 threads on the same sockets), as the daemon
// runs it:
//  - connect/disconnect hammered while dnsperf loads the same socket: every name answers right
//    after registry.add returns and is NXDOMAIN right after registry.remove returns; the
//    answers come from the worker (nothing published on tsd:dns:query for them);
//  - close() stops the thread and closes the fd (`ss`), a process that forgets close() still exits.
// Runs inside the private netns of scripts/test-integration.sh (loopback only).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import * as dnsPacket from 'dns-packet';
import { createEmbeddedDns, type EmbeddedDns, type QueryEvent } from '../../core/dns/index.js';

const UDP_BATCH = new URL('../../core/kernel/udp-batch.js', import.meta.url).href;
const ADDR = '127.0.0.21';

/** One UDP query from a socket of this process; resolves with the decoded answer (1 s timeout). */
function query(sock: dgram.Socket, port: number, name: string, id: number): Promise<dnsPacket.Packet> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { sock.off('message', onMessage); reject(new Error(`no answer for ${name}`)); }, 1000);
    const onMessage = (m: Buffer) => {
      if (m.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      sock.off('message', onMessage);
      resolve(dnsPacket.decode(m));
    };
    sock.on('message', onMessage);
    sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, ADDR);
  });
}

const rcodeOf = (p: dnsPacket.Packet) => (p.flags ?? 0) & 0x0f;

describe('UDP offload worker (one thread, recvmmsg/sendmmsg)', function () {
  this.timeout(60000);
  let dns: EmbeddedDns;
  let port: number;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dns = createEmbeddedDns({ resolvConf: [], udpBatchModule: UDP_BATCH, udpThreads: 2 });
    dns.records.addNetwork('n', { internal: true });
    await dns.registry.add({ networkId: 'n', endpointId: 'client', sandboxId: 'client', names: ['client'], ipv4: ['10.40.0.2'], ipv6: [] });
    await dns.registry.add({ networkId: 'n', endpointId: 'busy', sandboxId: 'busy', names: ['busy'], ipv4: ['10.40.0.3'], ipv6: [] });
    port = await dns.server.listen({ sandboxId: 'client', address: ADDR, port: 0, tcp: false });
  });

  after(async () => {
    await dns?.close();
  });

  it('answers through the workers (dig), and not from the main thread', async () => {
    const events: QueryEvent[] = [];
    const onEvent = (e: unknown) => events.push(e as QueryEvent);
    diagnostics.subscribe('tsd:dns:query', onEvent);
    try {
      const r = await execa('dig', [`@${ADDR}`, '-p', String(port), '+short', '+tries=1', '+time=2', 'busy']);
      assert.equal(r.stdout.trim(), '10.40.0.3');
      const nx = await execa('dig', [`@${ADDR}`, '-p', String(port), '+tries=1', '+time=2', 'nosuch']);
      assert.match(nx.stdout, /status: NXDOMAIN/);
    } finally {
      diagnostics.unsubscribe('tsd:dns:query', onEvent);
    }
    assert.equal(dns.server.udpThreadRunning, true);
    // the local answer came from the worker (not published); the NXDOMAIN from the main thread
    assert.deepEqual(events.map((e) => [e.name, e.rcode]), [['nosuch.', 3]]);
  });

  it('connect/disconnect hammered under dnsperf load: present right after add, gone right after remove', async () => {
    const file = path.join(os.tmpdir(), `tsdtest-offload-${process.pid}.txt`);
    fs.writeFileSync(file, 'busy A\nclient A\n');
    let load: ResultPromise | undefined;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
    const events: QueryEvent[] = [];
    const onEvent = (e: unknown) => events.push(e as QueryEvent);
    diagnostics.subscribe('tsd:dns:query', onEvent);
    const failures: string[] = [];
    let id = 0;
    try {
      load = execa('dnsperf', ['-s', ADDR, '-p', String(port), '-d', file, '-c', '4', '-q', '100', '-l', '20'], { reject: false });
      await new Promise((r) => setTimeout(r, 300)); // the load is running
      const t0 = Date.now();
      let i = 0;
      for (; i < 400 && Date.now() - t0 < 15_000; i++) {
        const name = `h${i}`;
        await dns.registry.add({ networkId: 'n', endpointId: `e${i}`, sandboxId: `s${i}`, names: [name], ipv4: [`10.41.${i >> 8}.${i & 255}`], ipv6: [] });
        const a = await query(sock, port, name, ++id & 0xffff);
        const got = a.answers?.map((x) => String((x as { data: unknown }).data)).join(',');
        if (rcodeOf(a) !== 0 || got !== `10.41.${i >> 8}.${i & 255}`) failures.push(`${name} after add: rcode ${rcodeOf(a)} ${got}`);
        await dns.registry.remove('n', `e${i}`);
        const b = await query(sock, port, name, ++id & 0xffff);
        if (rcodeOf(b) !== 3) failures.push(`${name} after remove: rcode ${rcodeOf(b)}`);
      }
      assert.ok(i >= 100, `only ${i} rounds in 15 s`);
      load.kill('SIGINT');
      const perf = await load;
      // the worker really was busy with dnsperf meanwhile
      const completed = Number(/Queries completed:\s+(\d+)/.exec(String(perf.stdout))?.[1] ?? 0);
      assert.ok(completed > 1000, `dnsperf completed ${completed} queries:\n${String(perf.stdout)}`);
    } finally {
      diagnostics.unsubscribe('tsd:dns:query', onEvent);
      if (load && load.exitCode === null) load.kill('SIGKILL');
      await load?.catch(() => undefined);
      sock.close();
      fs.rmSync(file, { force: true });
    }
    assert.deepEqual(failures, []);
    // every positive answer came from the worker's replica: only the NXDOMAINs were published
    assert.ok(events.every((e) => e.rcode === 3), JSON.stringify(events.find((e) => e.rcode !== 3)));
  });

  it('a worker that dies is restarted and serves the same sockets again', async () => {
    type T = { worker: { terminate(): Promise<number>; threadId: number } };
    const off = (dns.server as unknown as { offload: { current?: { threads: T[] } } }).offload;
    assert.equal(off.current!.threads.length, 2);
    const before = off.current!.threads.map((t) => t.worker.threadId);
    await off.current!.threads[1]!.worker.terminate();
    let answer = '';
    for (let i = 0; i < 30 && answer !== '10.40.0.3'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = (await execa('dig', [`@${ADDR}`, '-p', String(port), '+short', '+tries=1', '+time=1', 'busy'], { reject: false })).stdout.trim();
    }
    assert.equal(answer, '10.40.0.3');
    const after = off.current!.threads.map((t) => t.worker.threadId);
    assert.equal(after.length, 2);
    assert.ok(after.every((id) => !before.includes(id)), `${before} → ${after}`);
  });

  it('close() stops the thread and closes the socket (ss)', async () => {
    const other = createEmbeddedDns({ resolvConf: [], udpBatchModule: UDP_BATCH });
    other.records.addNetwork('m');
    await other.registry.add({ networkId: 'm', endpointId: 'x', sandboxId: 'x', names: ['x'], ipv4: ['10.42.0.2'], ipv6: [] });
    const p = await other.server.listen({ sandboxId: 'x', address: '127.0.0.22', port: 0 });
    assert.match((await execa('ss', ['-Hlnu', 'src', '127.0.0.22'])).stdout, new RegExp(`127\\.0\\.0\\.22:${p}\\b`));
    assert.equal(other.server.udpThreadRunning, true);
    await other.close();
    assert.equal(other.server.udpThreadRunning, false);
    assert.equal((await execa('ss', ['-Hlnu', 'src', '127.0.0.22'])).stdout.trim(), '');
  });

  for (const closes of [true, false]) {
    it(`a process ${closes ? 'that closes the resolver' : 'that forgets close()'} exits by itself`, async () => {
      const code = `
        import { createEmbeddedDns } from ${JSON.stringify(new URL('../../core/dns/index.js', import.meta.url).href)};
        const dns = createEmbeddedDns({ resolvConf: [], udpBatchModule: ${JSON.stringify(UDP_BATCH)} });
        dns.records.addNetwork('m');
        await dns.registry.add({ networkId: 'm', endpointId: 'x', sandboxId: 'x', names: ['x'], ipv4: ['10.42.0.3'], ipv6: [] });
        const port = await dns.server.listen({ sandboxId: 'x', address: '127.0.0.23', port: 0, tcp: false });
        console.log('port ' + port + ' thread ' + dns.server.udpThreadRunning);
        await new Promise((r) => setTimeout(r, 1500));
        ${closes ? 'await dns.close();' : ''}
        console.log('done');`;
      const script = path.join(os.tmpdir(), `tsdtest-offload-${process.pid}-${closes}.mjs`);
      fs.writeFileSync(script, code);
      const child = execa(process.execPath, [script], { reject: false, timeout: 15_000 });
      void child.finally(() => fs.rmSync(script, { force: true }));
      let answered = '';
      child.stdout!.on('data', (d: Buffer) => {
        const m = /port (\d+)/.exec(d.toString());
        if (m) void execa('dig', ['@127.0.0.23', '-p', m[1]!, '+short', '+tries=1', '+time=1', 'x']).then((r) => { answered = r.stdout.trim(); });
      });
      const t0 = Date.now();
      const r = await child;
      assert.equal(r.timedOut, false, 'the process did not exit');
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /thread true[\s\S]*done/);
      assert.ok(Date.now() - t0 < 8000, `exit took ${Date.now() - t0} ms`);
      assert.equal(answered, '10.42.0.3');
    });
  }
});
