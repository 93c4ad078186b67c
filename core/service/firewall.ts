// core/service/firewall.ts — FirewallService: `tsctl firewall reload`. tsd's rules are owned by
// the network drivers that made them (tsd-bridge: policy per network, published ports); reload
// asks each built-in driver with the FirewallRuleOwner capability to rebuild its rules from its
// stored state, the same path the driver's startup repair takes.

import { hasFirewallRules } from '../driver/network-driver.js';
import type { DriverRegistry } from '../driver/registry.js';
import { withContext } from '../errors.js';
import type { Logger } from '../log.js';

export interface ApiFirewallReload {
  /** One entry per driver that owns rules. */
  Drivers: Array<{ Driver: string; Backend: string; Networks: number; Ports: number }>;
}

export class FirewallService {
  constructor(private readonly d: { registry: DriverRegistry; log: Logger }) {}

  async reload(): Promise<ApiFirewallReload> {
    const out: ApiFirewallReload = { Drivers: [] };
    for (const driver of this.d.registry.listBuiltins('NetworkDriver')) {
      if (!hasFirewallRules(driver)) continue;
      const r = await driver.reloadFirewall().catch((e: unknown) => { throw withContext(`reload firewall rules of ${driver.name}`, e); });
      out.Drivers.push({ Driver: driver.name, Backend: r.backend, Networks: r.networks, Ports: r.ports });
    }
    this.d.log.info('firewall reloaded', { drivers: out.Drivers });
    return out;
  }
}
