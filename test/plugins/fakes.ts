// test/plugins/fakes.ts — recording drivers of every kind (each call is logged with its
// arguments and answered with a canned value) and a scriptable raw plugin socket, for the
// plugin protocol tests.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { GraphDriver } from '../../core/driver/graph-driver.js';
import type { IpamDriver } from '../../core/driver/ipam-driver.js';
import type {
  ClusterAware,
  EndpointInfoProvider,
  ExternalConnectivity,
  GatewayAllocationChecker,
  NetworkDriver,
} from '../../core/driver/network-driver.js';
import type { VolumeDriver } from '../../core/driver/volume-driver.js';
import { NotFoundError } from '../../core/errors.js';

export type Call = [string, ...unknown[]];

export function tempDir(prefix = 'tsd-plugins-'): string {
  // Short paths: sockaddr_un holds 108 bytes.
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function recordingNetworkDriver(name = 'fake-net') {
  const calls: Call[] = [];
  const rec = (m: string, ...a: unknown[]) => void calls.push([m, ...a]);
  const d: NetworkDriver & ExternalConnectivity & GatewayAllocationChecker & EndpointInfoProvider & Required<ClusterAware> & { calls: Call[] } = {
    name,
    calls,
    async getCapabilities() { rec('getCapabilities'); return { scope: 'local', connectivityScope: 'global', gwAllocChecker: true }; },
    async gwAllocCheck(o) { rec('gwAllocCheck', o); return { skipIpv4: true, skipIpv6: false }; },
    async createNetwork(r) { rec('createNetwork', r); },
    async deleteNetwork(id) { rec('deleteNetwork', id); },
    async createEndpoint(r) { rec('createEndpoint', r); return r.interface.macAddress ? undefined : { macAddress: '02:42:ac:11:00:02' }; },
    async deleteEndpoint(n, e) { rec('deleteEndpoint', n, e); },
    async join(r) {
      rec('join', r);
      return {
        interfaceName: { srcName: 'veth1234', dstPrefix: 'eth' },
        gateway: '10.1.0.1',
        gatewayIpv6: 'fd00::1',
        staticRoutes: [{ destination: '192.168.0.0/16', routeType: 0, nextHop: '10.1.0.254' }, { destination: '10.2.0.0/16', routeType: 1 }],
        disableGatewayService: true,
      };
    },
    async leave(n, e) { rec('leave', n, e); },
    async programExternalConnectivity(r) { rec('programExternalConnectivity', r); },
    async revokeExternalConnectivity(n, e) { rec('revokeExternalConnectivity', n, e); },
    async endpointOperInfo(n, e) { rec('endpointOperInfo', n, e); return { ports: [80] }; },
    async discoverNew(t, data) { rec('discoverNew', t, data); },
    async discoverDelete(t, data) { rec('discoverDelete', t, data); },
    async allocateNetwork(r) { rec('allocateNetwork', r); return { vni: '4097' }; },
    async freeNetwork(id) { rec('freeNetwork', id); },
  };
  return d;
}

export function recordingIpamDriver(name = 'fake-ipam') {
  const calls: Call[] = [];
  const rec = (m: string, ...a: unknown[]) => void calls.push([m, ...a]);
  const d: IpamDriver & { calls: Call[] } = {
    name,
    calls,
    async getCapabilities() { rec('getCapabilities'); return { requiresMacAddress: true, requiresRequestReplay: false }; },
    async getDefaultAddressSpaces() { rec('getDefaultAddressSpaces'); return { local: 'LocalDefault', global: 'GlobalDefault' }; },
    async requestPool(r) { rec('requestPool', r); return { poolId: `LocalDefault/${r.pool || '10.10.0.0/16'}`, pool: r.pool || '10.10.0.0/16', data: { 'com.docker.network.gateway': '10.10.0.1/16' } }; },
    async releasePool(id) { rec('releasePool', id); },
    async requestAddress(r) {
      rec('requestAddress', r);
      if (r.address === '10.10.9.9') throw new NotFoundError('address 10.10.9.9: not in pool');
      return { address: `${r.address || '10.10.0.2'}/16`, data: {} };
    },
    async releaseAddress(p, a) { rec('releaseAddress', p, a); },
  };
  return d;
}

export function recordingVolumeDriver(name = 'fake-vol') {
  const calls: Call[] = [];
  const rec = (m: string, ...a: unknown[]) => void calls.push([m, ...a]);
  const d: VolumeDriver & { calls: Call[] } = {
    name,
    calls,
    async create(n, o) { rec('create', n, o); },
    async remove(n) { rec('remove', n); },
    async mount(n, id) { rec('mount', n, id); return `/var/lib/fake/${n}`; },
    async unmount(n, id) { rec('unmount', n, id); },
    async path(n) { rec('path', n); return `/var/lib/fake/${n}`; },
    async get(n) {
      rec('get', n);
      if (n === 'missing') throw new NotFoundError(`volume ${n}: no such volume`);
      return { name: n, mountpoint: `/var/lib/fake/${n}`, createdAt: '2026-01-02T03:04:05Z', status: { size: 1 } };
    },
    async list() { rec('list'); return [{ name: 'a', mountpoint: '/var/lib/fake/a' }, { name: 'b' }]; },
    async capabilities() { rec('capabilities'); return { scope: 'global' }; },
  };
  return d;
}

export function recordingGraphDriver(name = 'fake-graph') {
  const calls: Call[] = [];
  const rec = (m: string, ...a: unknown[]) => void calls.push([m, ...a]);
  const d: GraphDriver & { calls: Call[] } = {
    name,
    calls,
    async init(r) { rec('init', r); },
    async capabilities() { rec('capabilities'); return { reproducesExactDiffs: true }; },
    async create(id, p, o) { rec('create', id, p, o); },
    async createReadWrite(id, p, o) { rec('createReadWrite', id, p, o); },
    async remove(id) { rec('remove', id); },
    async get(id, l) { rec('get', id, l); return `/var/lib/fake/${id}/merged`; },
    async put(id) { rec('put', id); },
    async exists(id) { rec('exists', id); return id === 'l1'; },
    async status() { rec('status'); return [['Backing Filesystem', 'extfs']]; },
    async getMetadata(id) { rec('getMetadata', id); return { UpperDir: `/x/${id}/diff` }; },
    async cleanup() { rec('cleanup'); },
    async diff(id, p) { rec('diff', id, p); return Readable.from([Buffer.from(`tar of ${id} over ${p}`)]); },
    async changes(id, p) { rec('changes', id, p); return [{ path: '/etc/passwd', kind: 0 }, { path: '/new', kind: 1 }]; },
    async applyDiff(id, p, tar) {
      let n = 0;
      for await (const c of tar) n += (c as Buffer).length;
      rec('applyDiff', id, p, n);
      return n;
    },
    async diffSize(id, p) { rec('diffSize', id, p); return 4096; },
  };
  return d;
}

export interface RawRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RawReply {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
}

/** A plugin socket whose replies the test scripts; every request is recorded. */
export async function rawPlugin(socketPath: string, reply: (r: RawRequest) => RawReply | Promise<RawReply>) {
  const requests: RawRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const r: RawRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      requests.push(r);
      const out = await reply(r);
      res.writeHead(out.status ?? 200, out.headers ?? {});
      res.end(out.body ?? '');
    });
  });
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** POST raw bytes to a unix socket and return status, headers and body. */
export function rawPost(socketPath: string, urlPath: string, body: string | Buffer | undefined, headers: Record<string, string | number> = {}, method = 'POST') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; json: any }>((resolve, reject) => {
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined && h['Content-Length'] === undefined && h['Transfer-Encoding'] === undefined) h['Content-Length'] = Buffer.byteLength(body);
    const req = http.request({ socketPath, path: urlPath, method, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
