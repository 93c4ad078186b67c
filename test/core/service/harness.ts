// test/core/service/harness.ts — services over a MemoryStore, fake drivers and file "netns".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMemoryLogger } from '../../../core/log.js';
import { MemoryDnsRegistry, type ProcessExitWatch } from '../../../core/service/hooks.js';
import { createServices } from '../../../core/service/index.js';
import { MemoryStore } from '../../../core/store/memory.js';
import { fakeRegistry, fileNetns, RecordingSandboxNetworking } from '../../fakes/drivers.js';

export function harness(o: { exitWatch?: ProcessExitWatch } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-svc-'));
  const store = new MemoryStore();
  const fakes = fakeRegistry();
  const dns = new MemoryDnsRegistry();
  const sandboxNetworking = new RecordingSandboxNetworking();
  const log = createMemoryLogger('debug');
  const hostResolv = path.join(root, 'host-resolv.conf');
  fs.writeFileSync(hostResolv, 'nameserver 127.0.0.53\nnameserver 192.0.2.53\n');
  const make = (r: { exitWatch?: ProcessExitWatch } = o) => createServices({
    store, registry: fakes.registry, netns: fileNetns, sandboxNetworking, dns, log,
    dataRoot: path.join(root, 'data'), execRoot: path.join(root, 'run'), embeddedDns: false, hostResolvConf: hostResolv,
    ...(r.exitWatch ? { exitWatch: r.exitWatch } : {}),
  });
  const services = make();
  return {
    ...services, ...fakes, store, dns, sandboxNetworking, log, root,
    /** A new daemon over the same store and drivers (the old one is abandoned, as after kill -9); its own exit watch, if given. */
    restart: make,
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}
