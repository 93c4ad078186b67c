// test/core/service/harness.ts — services over a MemoryStore, fake drivers and file "netns".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMemoryLogger } from '../../../core/log.js';
import { MemoryDnsRegistry, type ProcessExitWatch } from '../../../core/service/hooks.js';
import { createServices } from '../../../core/service/index.js';
import { MemoryStore } from '../../../core/store/memory.js';
import type { Store } from '../../../core/store/store.js';
import { fakeRegistry, fileNetns, RecordingSandboxNetworking } from '../../fakes/drivers.js';

interface DaemonOptions {
  exitWatch?: ProcessExitWatch;
  /** The daemon's id (stamped on its sandboxes, endpoints and intents). */
  daemonId?: string;
}

/** The same MemoryStore, seen as a store other daemons may share (kind etcd). */
function sharedView(s: MemoryStore): Store {
  return {
    kind: 'etcd',
    get: (k) => s.get(k), list: (p) => s.list(p), put: (k, v, o) => s.put(k, v, o), delete: (k, o) => s.delete(k, o),
    commit: (c, ops) => s.commit(c, ops), watch: (p, l) => s.watch(p, l), close: async () => {},
  };
}

export function harness(o: DaemonOptions & { shared?: boolean } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-svc-'));
  const store = new MemoryStore();
  const fakes = fakeRegistry();
  const dns = new MemoryDnsRegistry();
  const sandboxNetworking = new RecordingSandboxNetworking();
  const log = createMemoryLogger('debug');
  const hostResolv = path.join(root, 'host-resolv.conf');
  fs.writeFileSync(hostResolv, 'nameserver 127.0.0.53\nnameserver 192.0.2.53\n');
  const make = (r: DaemonOptions = o) => createServices({
    store: o.shared ? sharedView(store) : store, registry: fakes.registry, netns: fileNetns, sandboxNetworking, dns, log,
    dataRoot: path.join(root, 'data'), execRoot: path.join(root, 'run'), embeddedDns: false, hostResolvConf: hostResolv,
    ...(r.exitWatch ? { exitWatch: r.exitWatch } : {}),
    ...(r.daemonId ? { daemonId: r.daemonId } : {}),
  });
  const services = make();
  return {
    ...services, ...fakes, store, dns, sandboxNetworking, log, root,
    /** A new daemon over the same store and drivers (the old one is abandoned, as after kill -9); its own exit watch, if given. */
    restart: make,
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}
