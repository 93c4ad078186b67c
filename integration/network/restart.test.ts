// integration/network/restart.test.ts — a tsd instance is dropped without teardown (as after
// kill -9); behind its back a published-port rule and the bridge are deleted and a stray link is
// put in a tsd-bridge link group. A new instance on the same store repairs all three.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { MemoryStore } from '../../core/store/memory.js';
import { dial, ipJ, makeStack, nftElements, run, serve, stopServers, type Stack } from './stack.js';

describe('tsd-bridge restart reconcile (real kernel)', function () {
  this.timeout(60_000);
  const stacks: Stack[] = [];

  after(async () => {
    await stopServers();
    const s = stacks.at(-1);
    if (s) {
      for (const x of await s.services.sandboxes.list()) await s.services.sandboxes.remove(x.Id).catch(() => undefined);
      for (const n of await s.services.networks.list()) await s.services.networks.remove(n.Id, { force: true }).catch(() => undefined);
    }
    await run('ip', ['link', 'del', 'tsdstray0']);
    for (const x of stacks) fs.rmSync(x.root, { recursive: true, force: true });
  });

  it('restores the bridge, its address and the port rule, and removes links nobody claims', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const store = new MemoryStore();
    const first = await makeStack(store);
    stacks.push(first);
    const { record } = await first.services.networks.create({ name: 'r1', ipam: { config: [{ subnet: '10.87.1.0/24' }] } });
    const br = `tsd-${record.id.slice(0, 11)}`;
    await first.services.sandboxes.create({ name: 'ra' });
    await first.services.networks.connect({
      network: 'r1', sandbox: 'ra', portBindings: [{ proto: 'tcp', ip: '', port: 80, hostIp: '', hostPort: 18180, hostPortEnd: 18180 }],
    });
    const nsPath = (await first.services.sandboxes.inspect('ra')).NetnsPath;
    await serve(nsPath, 'tcp', 80);
    assert.ok(await dial(undefined, 'tcp', '127.0.0.1', 18180), 'works before the crash');
    const [bridgeLink] = await ipJ(['link', 'show', 'dev', br]);

    // "kill -9": the first instance is simply abandoned. Then damage behind its back.
    assert.equal((await run('nft', ['delete', 'element', 'inet', 'tsd', 'pub4any', '{ tcp . 18180 }'])).exitCode, 0);
    assert.equal((await run('ip', ['link', 'del', br])).exitCode, 0);
    assert.equal((await run('ip', ['link', 'add', 'tsdstray0', 'group', String(bridgeLink.group), 'type', 'veth', 'peer', 'name', 'tsdstray1'])).exitCode, 0);
    assert.equal(await dial(undefined, 'tcp', '127.0.0.1', 18180), undefined, 'broken now');

    await first.bridge.close(); // a killed process's sockets (its [::1] port listeners) die with it
    const second = await makeStack(store, first.root);
    stacks.push(second);
    const [restored] = await ipJ(['addr', 'show', 'dev', br]);
    assert.ok(restored.addr_info.some((a: any) => a.local === '10.87.1.1'), 'bridge and gateway address are back');
    assert.equal((await ipJ(['link', 'show', 'master', br])).length, 1, "the endpoint's veth is a port again");
    assert.equal((await nftElements('pub4any')).length, 1, 'the port rule is back');
    assert.deepEqual((await ipJ(['link', 'show'])).filter((l: any) => l.ifname.startsWith('tsdstray')), [], 'stray link removed');
    assert.ok(await dial(undefined, 'tcp', '127.0.0.1', 18180), 'works again');
  });
});
