// core/model/intent.ts — what a multi-step operation is about to do, stored before its first
// driver or kernel step and deleted in the same commit as its final record. After a crash, every
// intent still stored names an operation that did not finish: startup reconcile rolls it back
// (connect, network create, layer import) or finishes it (disconnect, network rm, sandbox rm,
// layer rm).
//
// Several daemons may share one store (etcd, one key prefix): each intent carries its daemon's
// id (`owner`, stamped by Records.putIntent) and a daemon recovers only its own — another's
// intent names an operation that may be in flight right now.

import type { StoredIpamPool } from './network.js';

export interface ConnectIntent {
  kind: 'connect';
  /** The endpoint id the driver is told. */
  id: string;
  networkId: string;
  sandboxId: string;
  /** Interface name planned inside the sandbox (removed on rollback unless a record holds it). */
  ifname: string;
  /**
   * The addresses reserved (plain IPs), written once they are, only when the store is shared:
   * another daemon's lease sweep must leave them alone (NetworkService.sweepUnclaimed).
   */
  addresses?: string[];
  created: string;
  /** The daemon that stored it (Records stamps it); absent: written before daemon ids, anyone's. */
  owner?: string;
}

export interface DisconnectIntent {
  kind: 'disconnect';
  /** The endpoint id. */
  id: string;
  networkId: string;
  sandboxId: string;
  created: string;
  /** The daemon that stored it (Records stamps it); absent: written before daemon ids, anyone's. */
  owner?: string;
}

export interface NetworkCreateIntent {
  kind: 'network-create';
  /** The network id. */
  id: string;
  name: string;
  driver: string;
  ipamDriver: string;
  /** Subnets asked for ("" = the IPAM's choice), so a pool taken just before a crash is found. */
  subnets: string[];
  /** Pools taken so far (written before the driver is called). */
  pools: StoredIpamPool[];
  created: string;
  /** The daemon that stored it (Records stamps it); absent: written before daemon ids, anyone's. */
  owner?: string;
}

export interface NetworkRemoveIntent {
  kind: 'network-rm';
  /** The network id. */
  id: string;
  created: string;
  /** The daemon that stored it (Records stamps it); absent: written before daemon ids, anyone's. */
  owner?: string;
}

export interface SandboxRemoveIntent {
  kind: 'sandbox-rm';
  /** The sandbox id. */
  id: string;
  created: string;
  /** The daemon that stored it (Records stamps it); absent: written before daemon ids, anyone's. */
  owner?: string;
}


export interface LayerImportIntent {
  kind: 'layer-import';
  /** The new layer's id (the driver layer made for it is removed on rollback). */
  id: string;
  parent: string;
  driver: string;
  created: string;
  /** The daemon that stored it (Records stamps it); absent: written before daemon ids, anyone's. */
  owner?: string;
}

export interface LayerRemoveIntent {
  kind: 'layer-rm';
  /** The layer id (its driver layer is removed, then its record, on recovery). */
  id: string;
  driver: string;
  created: string;
  /** The daemon that stored it (Records stamps it); absent: written before daemon ids, anyone's. */
  owner?: string;
}

export type LayerIntent = LayerImportIntent | LayerRemoveIntent;

export type Intent = ConnectIntent | DisconnectIntent | NetworkCreateIntent | NetworkRemoveIntent | SandboxRemoveIntent | LayerIntent;
