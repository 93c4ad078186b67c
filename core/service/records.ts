// core/service/records.ts — the services' key space in the state store, and the only code that
// knows its layout. Every multi-key change is one store commit, so a crash leaves either all of
// it or none of it.
//
// Layout (under the services' scope, "tsd/"):
//   networks/<id>                               NetworkRecord
//   names/networks/<name>                       { id }   — unique network names (commit compare)
//   endpoints/<networkId>/<endpointId>          EndpointRecord
//   sandbox-endpoints/<sandboxId>/<endpointId>  { networkId }   — index: a sandbox's endpoints
//   sandboxes/<id>                              SandboxRecord
//   names/sandboxes/<name>                      { id }
//   volumes/<name>                              VolumeRecord
//   intents/<kind>/<id>                         Intent — an operation under way (core/model/intent.ts)
//   layers/<id>, layers-rw/<id>                 LayerRecord, ReadWriteLayerRecord (core/service/layers.ts)
//
// Several daemons may share this key space (etcd, one prefix). Networks and volumes are
// everyone's; sandboxes, endpoints and intents carry the id of the daemon that made them
// (`owner`, see core/daemon-identity.ts), and start-up repair and sweeps touch only their own
// (`owns`): another daemon's sandbox lives on its host, its intent may be in flight right now.

import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.js';
import type { EndpointRecord } from '../model/endpoint.js';
import type { Intent } from '../model/intent.js';
import { ID_RE } from '../model/ids.js';
import type { NetworkRecord } from '../model/network.js';
import type { SandboxRecord } from '../model/sandbox.js';
import type { VolumeRecord } from '../model/volume.js';
import type { Store, StoreOp } from '../store/store.js';

const K = {
  network: (id: string) => `networks/${id}`,
  networkName: (name: string) => `names/networks/${name}`,
  endpoint: (net: string, ep: string) => `endpoints/${net}/${ep}`,
  sandboxEndpoint: (sb: string, ep: string) => `sandbox-endpoints/${sb}/${ep}`,
  sandbox: (id: string) => `sandboxes/${id}`,
  sandboxName: (name: string) => `names/sandboxes/${name}`,
  volume: (name: string) => `volumes/${name}`,
  intent: (i: Pick<Intent, 'kind' | 'id'>) => `intents/${i.kind}/${i.id}`,
};

/** An intent's store key (LayerService retires its intents in its own record commits). */
export const intentKey = K.intent;

/** The op that retires an intent in the same commit as the record it led to. */
const done = (i?: Intent): StoreOp[] => (i ? [{ op: 'delete', key: K.intent(i) }] : []);

type Kind = 'network' | 'sandbox';

export class Records {
  /** This daemon's id; undefined: one daemon only (tests), everything is its own. */
  readonly owner: string | undefined;

  constructor(readonly store: Store, opts: { owner?: string } = {}) {
    this.owner = opts.owner;
  }

  /** Whether other daemons may share this store (etcd). */
  get shared(): boolean {
    return this.store.kind === 'etcd';
  }

  /** Whether a sandbox, endpoint or intent is this daemon's (records without an owner are anyone's). */
  owns(x: { owner?: string | undefined }): boolean {
    return !this.owner || !x.owner || x.owner === this.owner;
  }

  // ---- lookups by id, name or unique id prefix (Docker's order: full id, name, prefix) ----

  private async findByRef<T extends { id: string; name: string }>(kind: Kind, ref: string, all: () => Promise<T[]>): Promise<T> {
    if (ref === '') throw new InvalidArgumentError(`${kind}: empty name or id`);
    if (ID_RE.test(ref)) {
      const e = await this.store.get<T>(kind === 'network' ? K.network(ref) : K.sandbox(ref));
      if (e) return e.value;
    }
    const byName = await this.store.get<{ id: string }>(kind === 'network' ? K.networkName(ref) : K.sandboxName(ref));
    if (byName) {
      const e = await this.store.get<T>(kind === 'network' ? K.network(byName.value.id) : K.sandbox(byName.value.id));
      if (e) return e.value;
    }
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = (await all()).filter((r) => r.id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new InvalidArgumentError(`${kind} ${ref} is ambiguous (${matches.length} matches found based on ID prefix)`);
    }
    throw new NotFoundError(`${kind} ${ref} not found`);
  }

  findNetwork(ref: string): Promise<NetworkRecord> {
    return this.findByRef('network', ref, () => this.listNetworks());
  }

  findSandbox(ref: string): Promise<SandboxRecord> {
    return this.findByRef('sandbox', ref, () => this.listSandboxes());
  }

  async listNetworks(): Promise<NetworkRecord[]> {
    return (await this.store.list<NetworkRecord>('networks/')).map((e) => e.value);
  }

  async listSandboxes(): Promise<SandboxRecord[]> {
    return (await this.store.list<SandboxRecord>('sandboxes/')).map((e) => e.value);
  }

  async networkEndpoints(networkId: string): Promise<EndpointRecord[]> {
    return (await this.store.list<EndpointRecord>(`endpoints/${networkId}/`)).map((e) => e.value);
  }

  async allEndpoints(): Promise<EndpointRecord[]> {
    return (await this.store.list<EndpointRecord>('endpoints/')).map((e) => e.value);
  }

  async sandboxEndpoints(sandboxId: string): Promise<EndpointRecord[]> {
    const idx = await this.store.list<{ networkId: string }>(`sandbox-endpoints/${sandboxId}/`);
    const out: EndpointRecord[] = [];
    for (const e of idx) {
      const epId = e.key.slice(e.key.lastIndexOf('/') + 1);
      const ep = await this.store.get<EndpointRecord>(K.endpoint(e.value.networkId, epId));
      if (ep) out.push(ep.value);
    }
    return out;
  }

  // ---- writes: each one commit ----

  private nameClash(kind: Kind, name: string) {
    return (e: unknown): never => {
      if (e instanceof ConflictError) throw new ConflictError(`${kind} with name ${name} already exists`);
      throw e;
    };
  }

  async createNetwork(n: NetworkRecord, intent?: Intent): Promise<void> {
    await this.store
      .commit(
        [{ key: K.networkName(n.name), revision: 0 }, { key: K.network(n.id), revision: 0 }],
        [{ op: 'put', key: K.network(n.id), value: n }, { op: 'put', key: K.networkName(n.name), value: { id: n.id } }, ...done(intent)],
      )
      .catch(this.nameClash('network', n.name));
  }

  async networkNameTaken(name: string): Promise<boolean> {
    return (await this.store.get(K.networkName(name))) !== undefined;
  }

  async sandboxNameTaken(name: string): Promise<boolean> {
    return (await this.store.get(K.sandboxName(name))) !== undefined;
  }

  async deleteNetwork(n: NetworkRecord, intent?: Intent): Promise<void> {
    await this.store.commit([], [{ op: 'delete', key: K.network(n.id) }, { op: 'delete', key: K.networkName(n.name) }, ...done(intent)]);
  }

  async putEndpoint(ep: EndpointRecord, intent?: Intent): Promise<void> {
    await this.store.commit(
      [{ key: K.endpoint(ep.networkId, ep.id), revision: 0 }],
      [
        { op: 'put', key: K.endpoint(ep.networkId, ep.id), value: ep },
        { op: 'put', key: K.sandboxEndpoint(ep.sandboxId, ep.id), value: { networkId: ep.networkId } },
        ...done(intent),
      ],
    );
  }

  async deleteEndpoint(ep: EndpointRecord, intent?: Intent): Promise<void> {
    await this.store.commit([], [
      { op: 'delete', key: K.endpoint(ep.networkId, ep.id) },
      { op: 'delete', key: K.sandboxEndpoint(ep.sandboxId, ep.id) },
      ...done(intent),
    ]);
  }

  async getEndpoint(networkId: string, endpointId: string): Promise<EndpointRecord | undefined> {
    return (await this.store.get<EndpointRecord>(K.endpoint(networkId, endpointId)))?.value;
  }

  // ---- intents: operations under way (see core/model/intent.ts) ----

  /** Stamped with this daemon's id. */
  async putIntent(i: Intent): Promise<void> {
    await this.store.put(K.intent(i), this.owner ? { ...i, owner: this.owner } : i);
  }

  async deleteIntent(i: Pick<Intent, 'kind' | 'id'>): Promise<void> {
    await this.store.delete(K.intent(i));
  }

  /** This daemon's intents (and those with no owner): the ones its start-up recovers. */
  async listIntents(): Promise<Intent[]> {
    return (await this.listAllIntents()).filter((i) => this.owns(i));
  }

  /** Every daemon's intents: what another daemon has under way is not to be swept. */
  async listAllIntents(): Promise<Intent[]> {
    return (await this.store.list<Intent>('intents/')).map((e) => e.value);
  }

  async createSandbox(s: SandboxRecord): Promise<void> {
    await this.store
      .commit(
        [{ key: K.sandboxName(s.name), revision: 0 }, { key: K.sandbox(s.id), revision: 0 }],
        [{ op: 'put', key: K.sandbox(s.id), value: s }, { op: 'put', key: K.sandboxName(s.name), value: { id: s.id } }],
      )
      .catch(this.nameClash('sandbox', s.name));
  }

  async deleteSandbox(s: SandboxRecord, intent?: Intent): Promise<void> {
    const ops: StoreOp[] = [{ op: 'delete', key: K.sandbox(s.id) }, { op: 'delete', key: K.sandboxName(s.name) }, ...done(intent)];
    for (const e of await this.store.list(`sandbox-endpoints/${s.id}/`)) ops.push({ op: 'delete', key: e.key });
    await this.store.commit([], ops);
  }

  // ---- volumes ----

  async getVolume(name: string): Promise<{ record: VolumeRecord; revision: number } | undefined> {
    const e = await this.store.get<VolumeRecord>(K.volume(name));
    return e && { record: e.value, revision: e.revision };
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    return (await this.store.list<VolumeRecord>('volumes/')).map((e) => e.value);
  }

  /** Create (ifRevision 0) or update a volume record; ConflictError if it changed meanwhile. */
  async putVolume(v: VolumeRecord, ifRevision: number): Promise<void> {
    await this.store.put(K.volume(v.name), v, { ifRevision });
  }

  async deleteVolume(name: string): Promise<void> {
    await this.store.delete(K.volume(name));
  }
}
