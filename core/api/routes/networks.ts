// core/api/routes/networks.ts — Docker's /networks routes over NetworkService.

import { Router } from 'express';
import type { Services } from '../../service/index.js';
import { NetworkConnectSchema, NetworkCreateSchema, NetworkDisconnectSchema } from '../schemas.js';
import { parsePortBindings } from '../port-bindings.js';
import { boolQuery, filtersQuery, parseBody } from '../validate.js';

const orUndef = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

export function networkRoutes(s: Services): Router {
  const r = Router();

  r.get('/networks', async (req, res) => {
    res.json(await s.networks.list(filtersQuery(req.query.filters)));
  });

  r.post('/networks/create', async (req, res) => {
    const b = parseBody(NetworkCreateSchema, req.body);
    const { record, warning } = await s.networks.create({
      name: b.Name,
      driver: orUndef(b.Driver),
      internal: orUndef(b.Internal),
      attachable: orUndef(b.Attachable),
      ingress: orUndef(b.Ingress),
      enableIpv6: orUndef(b.EnableIPv6),
      configOnly: orUndef(b.ConfigOnly),
      configFrom: b.ConfigFrom?.Network || undefined,
      ipam: b.IPAM
        ? {
            driver: orUndef(b.IPAM.Driver),
            options: b.IPAM.Options ?? {},
            config: (b.IPAM.Config ?? []).map((c) => ({
              subnet: c.Subnet || undefined,
              ipRange: c.IPRange || undefined,
              gateway: c.Gateway || undefined,
              auxAddresses: c.AuxiliaryAddresses ?? c.AuxAddress ?? undefined,
            })),
          }
        : undefined,
      options: b.Options ?? {},
      labels: b.Labels ?? {},
    });
    res.status(201).json({ Id: record.id, Warning: warning });
  });

  r.post('/networks/prune', async (req, res) => {
    res.json({ NetworksDeleted: await s.networks.prune(filtersQuery(req.query.filters)) });
  });

  r.get('/networks/:id', async (req, res) => {
    res.json(await s.networks.inspect(req.params.id));
  });

  r.delete('/networks/:id', async (req, res) => {
    await s.networks.remove(req.params.id, { force: boolQuery(req.query.force, 'force') });
    res.status(204).end();
  });

  r.post('/networks/:id/connect', async (req, res) => {
    const b = parseBody(NetworkConnectSchema, req.body);
    const ec = b.EndpointConfig;
    await s.networks.connect({
      network: req.params.id,
      sandbox: b.Container,
      ipv4: ec?.IPAMConfig?.IPv4Address || undefined,
      ipv6: ec?.IPAMConfig?.IPv6Address || undefined,
      aliases: [...(ec?.Aliases ?? []), ...(ec?.DNSNames ?? [])],
      macAddress: ec?.MacAddress || undefined,
      driverOpts: ec?.DriverOpts ?? {},
      portBindings: parsePortBindings(b.PortBindings),
    });
    res.status(200).end();
  });

  r.post('/networks/:id/disconnect', async (req, res) => {
    const b = parseBody(NetworkDisconnectSchema, req.body);
    await s.networks.disconnect(req.params.id, b.Container, { force: !!b.Force });
    res.status(200).end();
  });

  return r;
}
