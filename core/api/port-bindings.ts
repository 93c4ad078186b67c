// core/api/port-bindings.ts — Docker's PortBindings map ({"80/tcp": [{HostIp, HostPort}]}) as the
// API receives it on a tsd connect, turned into the driver's PortBinding list with errors that
// name the key and the reason.

import net from 'node:net';
import type { PortBinding, PortProtocol } from '../driver/network-driver.js';
import { InvalidArgumentError } from '../errors.js';

export type ApiPortBindings = Record<string, Array<{ HostIp?: string | null; HostPort?: string | null }> | null | undefined>;

const PROTOS = new Set(['tcp', 'udp', 'sctp']);

function port(s: string, field: string): number {
  const n = Number(s);
  if (!/^\d{1,5}$/.test(s) || n < 1 || n > 65535) throw new InvalidArgumentError(`${field}: ${JSON.stringify(s)} is not a port (1-65535)`);
  return n;
}

export function parsePortBindings(map: ApiPortBindings | null | undefined): PortBinding[] {
  const out: PortBinding[] = [];
  for (const [key, hosts] of Object.entries(map ?? {})) {
    const field = `PortBindings[${JSON.stringify(key)}]`;
    const m = /^([^/]+)(?:\/(.+))?$/.exec(key);
    const proto = (m?.[2] ?? 'tcp') as PortProtocol;
    if (!m || !PROTOS.has(proto)) throw new InvalidArgumentError(`${field}: expected PORT[/tcp|udp|sctp]`);
    const containerPort = port(m[1]!, field);
    for (const h of hosts?.length ? hosts : [{}]) {
      const hostIp = h.HostIp ?? '';
      if (hostIp !== '' && !net.isIP(hostIp)) throw new InvalidArgumentError(`${field}.HostIp: ${JSON.stringify(hostIp)} is not an IP address`);
      const hp = h.HostPort ?? '';
      let hostPort = 0;
      let hostPortEnd = 0;
      if (hp !== '') {
        const [a, b] = hp.split('-');
        hostPort = port(a!, `${field}.HostPort`);
        hostPortEnd = b === undefined ? hostPort : port(b, `${field}.HostPort`);
        if (hostPortEnd < hostPort) throw new InvalidArgumentError(`${field}.HostPort: ${hp} is an empty range`);
      }
      out.push({ proto, ip: '', port: containerPort, hostIp, hostPort, hostPortEnd });
    }
  }
  return out;
}
