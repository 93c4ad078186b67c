// drivers/ipam/default/index.ts — tsd's default IPAM driver (`tsd-ipam`, alias `default`), shaped
// after Docker's built-in IPAM: pools per address space (LocalDefault / GlobalDefault), Docker's
// default pools, custom subnets with overlap detection, --ip-range, gateway, aux and static
// addresses, IPv6. All state lives in ctx.store and every change is a compare-and-swap commit, so
// any number of instances sharing a store agree. Addresses are handed out by address-allocator.ts.
//
// Pool state in the store:
//   spaces/<space>   { pools: { <poolKey>: subnet }, v6Cursor: { <default-pool index>: next } }
//   pools/<poolKey>  PoolRecord (id, subnet, ip-range, refcount)

import { z } from 'zod';
import type { DriverContext } from '../../../core/driver/context.js';
import {
  GATEWAY_ADDRESS_TYPE,
  REQUEST_ADDRESS_TYPE,
  type AddressSpaces,
  type IpamCapabilities,
  type IpamDriver,
  type IpamLeaseLister,
  type RequestAddressRequest,
  type RequestAddressResponse,
  type RequestPoolRequest,
  type RequestPoolResponse,
} from '../../../core/driver/ipam-driver.js';
import { ConflictError, InvalidArgumentError, NotFoundError, UnavailableError } from '../../../core/errors.js';
import type { Store, StoreCompare, StoreOp } from '../../../core/store/store.js';
import { AddressAllocator, type PoolRecord } from './address-allocator.js';
import { bitsOf, containsCidr, familyName, formatCidr, formatIp, overlaps, parseCidr, parseIp, type Cidr, type Family } from './ip.js';
import { GLOBAL_SPACE, LOCAL_SPACE, SPACES, keys, parsePoolId, poolIdOf, poolKeyOf } from './pool-id.js';

export const DEFAULT_IPAM_NAME = 'tsd-ipam';
export const DEFAULT_IPAM_ALIASES: readonly string[] = ['default'];

/** A block of candidate pools: `base` carved into subnets of prefix length `size`. */
export interface DefaultPoolSpec {
  base: string;
  size: number;
}

export interface DefaultIpamOptions {
  /** IPv4 pools for LocalDefault when no subnet is given (Docker's defaults). */
  defaultPools?: DefaultPoolSpec[];
  /** IPv4 pools for GlobalDefault. */
  globalDefaultPools?: DefaultPoolSpec[];
  /** IPv6 pools (both spaces) when no subnet is given: a ULA prefix carved into /64s. */
  defaultV6Pools?: DefaultPoolSpec[];
}

/** Docker's local defaults: 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 in /20s. */
export const DOCKER_DEFAULT_POOLS: readonly DefaultPoolSpec[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/15', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/13', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];
export const DOCKER_GLOBAL_DEFAULT_POOLS: readonly DefaultPoolSpec[] = [{ base: '10.0.0.0/8', size: 24 }];
/** A ULA /40 ("ts" "d" in the global ID) carved into /64s; configurable. */
export const DEFAULT_V6_POOLS: readonly DefaultPoolSpec[] = [{ base: 'fd74:7364:6400::/40', size: 64 }];

const poolSpecSchema = z.object({ base: z.string(), size: z.number().int() }).strict();
const optionsSchema = z
  .object({
    defaultPools: z.array(poolSpecSchema).min(1).optional(),
    globalDefaultPools: z.array(poolSpecSchema).min(1).optional(),
    defaultV6Pools: z.array(poolSpecSchema).min(1).optional(),
  })
  .strict();

/** zod at the edge; the first issue becomes an InvalidArgumentError naming the field. */
function parseOptions(what: string, input: unknown): DefaultIpamOptions {
  const r = optionsSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new InvalidArgumentError(`${what} ${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

interface CandidateBlock {
  base: Cidr;
  size: number;
  /** Number of subnets in the block. */
  count: bigint;
}

interface SpaceDoc {
  pools: Record<string, string>;
  v6Cursor: Record<string, string>;
}

function compileSpecs(field: string, specs: readonly DefaultPoolSpec[], family: Family): CandidateBlock[] {
  return specs.map((s, i) => {
    const base = parseCidr(s.base, `${field}[${i}].base`);
    if (base.family !== family) throw new InvalidArgumentError(`${field}[${i}].base: ${s.base} is ${familyName(base.family)}, expected ${familyName(family)}`);
    if (s.size < base.prefix || s.size > bitsOf(family)) {
      throw new InvalidArgumentError(`${field}[${i}].size: ${s.size} must be between ${base.prefix} and ${bitsOf(family)}`);
    }
    return { base, size: s.size, count: 1n << BigInt(s.size - base.prefix) };
  });
}

const MAX_POOL_ATTEMPTS = 100;

export class DefaultIpamDriver implements IpamDriver, IpamLeaseLister {
  readonly name = DEFAULT_IPAM_NAME;
  private readonly allocators = new Map<string, AddressAllocator>();
  private readonly v4Local: CandidateBlock[];
  private readonly v4Global: CandidateBlock[];
  private readonly v6: CandidateBlock[];

  constructor(
    private readonly store: Store,
    opts: DefaultIpamOptions,
  ) {
    const o = parseOptions('ipam options', opts);
    this.v4Local = compileSpecs('defaultPools', o.defaultPools ?? DOCKER_DEFAULT_POOLS, 4);
    this.v4Global = compileSpecs('globalDefaultPools', o.globalDefaultPools ?? DOCKER_GLOBAL_DEFAULT_POOLS, 4);
    this.v6 = compileSpecs('defaultV6Pools', o.defaultV6Pools ?? DEFAULT_V6_POOLS, 6);
  }

  async getCapabilities(): Promise<IpamCapabilities> {
    return { requiresMacAddress: false, requiresRequestReplay: false };
  }

  async getDefaultAddressSpaces(): Promise<AddressSpaces> {
    return { local: LOCAL_SPACE, global: GLOBAL_SPACE };
  }

  async requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse> {
    const space = req.addressSpace || LOCAL_SPACE;
    if (!SPACES.includes(space)) throw new InvalidArgumentError(`addressSpace: unknown address space ${JSON.stringify(space)} (expected ${SPACES.join(' or ')})`);
    if (!req.pool && req.subPool) throw new InvalidArgumentError(`subPool: ${req.subPool} given without pool (an ip-range needs a subnet)`);
    let subnet: Cidr | undefined;
    let range: Cidr | null = null;
    if (req.pool) {
      subnet = parseCidr(req.pool, 'pool');
      if (req.v6 && subnet.family === 4) throw new InvalidArgumentError(`pool: ${req.pool} is IPv4 but an IPv6 pool (v6) was requested`);
      if (req.subPool) {
        range = parseCidr(req.subPool, 'subPool');
        if (range.family !== subnet.family) {
          throw new InvalidArgumentError(`subPool: ${req.subPool} is ${familyName(range.family)} but pool ${formatCidr(subnet)} is ${familyName(subnet.family)}`);
        }
        if (!containsCidr(subnet, range)) throw new InvalidArgumentError(`subPool: ${req.subPool} is outside pool ${formatCidr(subnet)}`);
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryRequestPool(space, subnet, range, req.v6);
      } catch (e) {
        if (!(e instanceof StoreRace) || attempt >= MAX_POOL_ATTEMPTS) throw e instanceof StoreRace ? e.cause : e;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt)));
      }
    }
  }

  private async tryRequestPool(space: string, wanted: Cidr | undefined, range: Cidr | null, v6: boolean): Promise<RequestPoolResponse> {
    const spaceEntry = await this.store.get<SpaceDoc>(keys.space(space));
    const doc: SpaceDoc = spaceEntry?.value ?? { pools: {}, v6Cursor: {} };
    const existing = Object.entries(doc.pools).map(([key, subnet]) => ({ key, subnet: parseCidr(subnet, 'store') }));
    const compares: StoreCompare[] = [{ key: keys.space(space), revision: spaceEntry?.revision ?? 0 }];

    let subnet: Cidr;
    if (wanted) {
      subnet = wanted;
      const key = poolKeyOf(space, subnet);
      const same = await this.store.get<PoolRecord>(keys.pool(key));
      if (same) {
        // Identical request: same pool, one more reference (Docker's refcounted pools).
        const id = poolIdOf(space, subnet, range);
        if (same.value.id !== id) {
          throw new ConflictError(`pool ${formatCidr(subnet)}: already in use as ${same.value.id}, cannot also request it as ${id}`);
        }
        await this.commitPool([{ key: keys.pool(key), revision: same.revision }], [{ op: 'put', key: keys.pool(key), value: { ...same.value, refs: same.value.refs + 1 } }]);
        return { poolId: id, pool: formatCidr(subnet), data: {} };
      }
      const clash = existing.find((p) => overlaps(p.subnet, subnet));
      if (clash) throw new ConflictError(`pool ${formatCidr(subnet)}: overlaps with pool ${formatCidr(clash.subnet)} already in use in address space ${space}`);
    } else {
      const picked = this.pickDefault(space, v6, existing.map((p) => p.subnet), doc);
      subnet = picked;
    }

    const key = poolKeyOf(space, subnet);
    const id = poolIdOf(space, subnet, range);
    const record: PoolRecord = { id, space, subnet: formatCidr(subnet), range: range ? formatCidr(range) : null, refs: 1 };
    const newDoc: SpaceDoc = { pools: { ...doc.pools, [key]: formatCidr(subnet) }, v6Cursor: doc.v6Cursor ?? {} };
    compares.push({ key: keys.pool(key), revision: 0 });
    // Leftovers of an earlier pool with this subnet (a release interrupted by a crash) must not
    // leak into the new one.
    const stale = await this.store.list(keys.addrPrefix(key));
    const ops: StoreOp[] = [
      ...stale.map((e) => ({ op: 'delete' as const, key: e.key })),
      { op: 'put', key: keys.space(space), value: newDoc },
      { op: 'put', key: keys.pool(key), value: record },
    ];
    await this.commitPool(compares, ops);
    this.allocators.get(key)?.invalidate();
    this.allocators.delete(key);
    return { poolId: id, pool: formatCidr(subnet), data: {} };
  }

  /** The first default subnet that overlaps no pool in use; IPv6 continues from a stored cursor. */
  private pickDefault(space: string, v6: boolean, inUse: Cidr[], doc: SpaceDoc): Cidr {
    const blocks = v6 ? this.v6 : space === GLOBAL_SPACE ? this.v4Global : this.v4Local;
    for (const [i, blk] of blocks.entries()) {
      const step = 1n << BigInt(bitsOf(blk.base.family) - blk.size);
      // IPv6 blocks hold millions of /64s: do not walk them from the start every time, and do not
      // enumerate them; start at the cursor and stop at the first free one.
      const start = v6 ? BigInt(doc.v6Cursor?.[String(i)] ?? '0') % blk.count : 0n;
      // Only subnets overlapping a pool in use are skipped, so the walk is bounded by the pool count.
      for (let n = 0n; n < blk.count && n <= BigInt(inUse.length); n++) {
        const idx = (start + n) % blk.count;
        const cand: Cidr = { family: blk.base.family, network: blk.base.network + idx * step, prefix: blk.size };
        if (inUse.some((p) => overlaps(p, cand))) continue;
        if (v6) doc.v6Cursor = { ...(doc.v6Cursor ?? {}), [String(i)]: ((idx + 1n) % blk.count).toString() };
        return cand;
      }
    }
    const list = blocks.map((b) => `${formatCidr(b.base)} in /${b.size}s`).join(', ');
    throw new UnavailableError(`pool: no default ${v6 ? 'IPv6' : 'IPv4'} pool left in address space ${space} (all of ${list} are in use)`);
  }

  private async commitPool(compares: StoreCompare[], ops: StoreOp[]): Promise<void> {
    try {
      await this.store.commit(compares, ops);
    } catch (e) {
      if (e instanceof ConflictError) throw new StoreRace(e);
      throw e;
    }
  }

  async releasePool(poolId: string): Promise<void> {
    const { space, subnet } = parsePoolId(poolId);
    const key = poolKeyOf(space, subnet);
    for (let attempt = 1; ; attempt++) {
      const pool = await this.store.get<PoolRecord>(keys.pool(key));
      if (!pool || pool.value.id !== poolId) throw new NotFoundError(`pool ${poolId}: not found`);
      try {
        if (pool.value.refs > 1) {
          await this.store.commit([{ key: keys.pool(key), revision: pool.revision }], [{ op: 'put', key: keys.pool(key), value: { ...pool.value, refs: pool.value.refs - 1 } }]);
          return;
        }
        const spaceEntry = await this.store.get<SpaceDoc>(keys.space(space));
        const doc = spaceEntry?.value ?? { pools: {}, v6Cursor: {} };
        const pools = { ...doc.pools };
        delete pools[key];
        const addrs = await this.store.list(keys.addrPrefix(key));
        await this.store.commit(
          [{ key: keys.pool(key), revision: pool.revision }, { key: keys.space(space), revision: spaceEntry?.revision ?? 0 }],
          [
            { op: 'delete', key: keys.pool(key) },
            ...addrs.map((e) => ({ op: 'delete' as const, key: e.key })),
            { op: 'put', key: keys.space(space), value: { ...doc, pools } },
          ],
        );
        this.allocators.get(key)?.invalidate();
        this.allocators.delete(key);
        return;
      } catch (e) {
        if (!(e instanceof ConflictError) || attempt >= MAX_POOL_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt)));
      }
    }
  }

  private allocatorFor(poolId: string): AddressAllocator {
    const { space, subnet, range } = parsePoolId(poolId);
    const key = poolKeyOf(space, subnet);
    let a = this.allocators.get(key);
    if (!a || a.poolId !== poolId) {
      a = new AddressAllocator(this.store, key, poolId, subnet, range);
      this.allocators.set(key, a);
    }
    return a;
  }

  async requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse> {
    const alloc = this.allocatorFor(req.poolId);
    const gateway = req.options?.[REQUEST_ADDRESS_TYPE] === GATEWAY_ADDRESS_TYPE;
    const field = gateway ? 'gateway' : 'address';
    let offset: bigint;
    if (req.address) {
      offset = await alloc.submit({ kind: 'static', ip: parseIp(req.address, field), field });
    } else {
      offset = await alloc.submit(gateway ? { kind: 'gateway' } : { kind: 'any' });
    }
    return { address: `${alloc.formatOffset(offset)}/${alloc.subnet.prefix}`, data: {} };
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    const alloc = this.allocatorFor(poolId);
    if (!address) throw new InvalidArgumentError('address: must not be empty');
    // Accept "ip/len" as well: callers sometimes hand back what requestAddress returned.
    const plain = address.includes('/') ? address.slice(0, address.indexOf('/')) : address;
    await alloc.submit({ kind: 'release', ip: parseIp(plain, 'address') });
  }

  async listPools(): Promise<Array<{ poolId: string; subnet: string; refs: number }>> {
    return (await this.store.list<PoolRecord>('pools/')).map((e) => ({ poolId: e.value.id, subnet: e.value.subnet, refs: e.value.refs }));
  }

  /** Read from the stored bitmap blocks (what is durable), not from an allocator's cache. */
  async listAddresses(poolId: string): Promise<string[]> {
    const { space, subnet } = parsePoolId(poolId);
    const key = poolKeyOf(space, subnet);
    const out: string[] = [];
    const blocks = `${keys.addrPrefix(key)}b/`;
    for (const e of await this.store.list<{ bits: string }>(blocks)) {
      const index = BigInt(e.key.slice(e.key.lastIndexOf('/') + 1));
      const bits = Buffer.from(e.value.bits, 'base64');
      for (let i = 0; i < bits.length * 8; i++) {
        if (bits[i >> 3]! & (1 << (i & 7))) out.push(formatIp(subnet.family, subnet.network + index * 1024n + BigInt(i)));
      }
    }
    return out;
  }
}

/** A lost compare-and-swap race inside requestPool: retried, never shown to callers. */
class StoreRace extends Error {
  constructor(override readonly cause: ConflictError) {
    super(cause.message);
  }
}

/**
 * Build the default IPAM driver. Options come from `opts`, else from `ctx.config` (tsd's config
 * file), else Docker's defaults; bad options fail here with the field named.
 */
export function createDefaultIpamDriver(ctx: Pick<DriverContext, 'store' | 'config'>, opts?: DefaultIpamOptions): DefaultIpamDriver {
  const fromConfig = parseOptions('ipam config', ctx.config);
  return new DefaultIpamDriver(ctx.store, { ...fromConfig, ...opts });
}
