// core/kernel/firewall/none/backend.ts — NoneFirewall: programs nothing, for users who manage
// their own firewall. It still validates input and keeps the model, so state() and conflicts
// behave as with a real backend.

import type { Firewall } from '../firewall.js';
import { FirewallModel } from '../model.js';
import type { FirewallDesired, FirewallNetwork, FirewallState, PortMapping } from '../types.js';

export class NoneFirewall implements Firewall {
  readonly backend = 'none' as const;
  private readonly model = new FirewallModel();

  async addNetwork(n: FirewallNetwork): Promise<void> {
    this.model.planNetwork(n);
    this.model.commitNetwork(n);
  }

  async removeNetwork(id: string): Promise<void> {
    this.model.commitRemoveNetwork(id);
  }

  async publishPorts(mappings: readonly PortMapping[]): Promise<void> {
    this.model.commitPublish(this.model.planPublish(mappings));
  }

  async unpublishPorts(mappings: readonly PortMapping[]): Promise<void> {
    this.model.commitUnpublish(this.model.planUnpublish(mappings));
  }

  async reload(desired: FirewallDesired): Promise<void> {
    this.model.replaceWith(FirewallModel.fromDesired(desired));
  }

  async reapply(): Promise<{ networks: number; ports: number }> {
    return { networks: this.model.networks.size, ports: this.model.ports.size };
  }

  async purge(): Promise<void> {
    this.model.clear();
  }

  state(): FirewallState {
    return this.model.state('none');
  }
}
