import type { WriteTx } from '@strata/backend'
import { noFailpoint, systemClock } from '@strata/seams'
import type { Clock, Failpoint } from '@strata/seams'
import { invalidOption } from './errors.js'

/**
 * What revoke needs from the key-value store. This package does not import mvcc (the arrows of
 * DESIGN.md point from the driver to both), so it declares the shape here, as etcd's lessor
 * declares its RangeDeleter; `MvccStore.deleteKeys(keys, tx)` matches it structurally.
 */
export interface RangeDeleter {
  /**
   * Deletes each of `keys` — distinct, in bytewise order — as ONE write transaction of the
   * key-value store: every deletion at a single new revision (no new revision when none of the
   * keys exists), written through `tx`, the very transaction the revoke writes the lease
   * record's removal through, so both commit together with the driver's applied index. Sorted
   * order makes every member produce the same revision contents and the same DELETE event order.
   * It may call `detach` for the keys it deletes (the lessor copied the key set first).
   */
  deleteKeys(keys: readonly Uint8Array[], tx: WriteTx): void
}

/** Options of {@link Lessor.open}. All are optional; each is checked when the lessor opens. */
export interface LessorOptions {
  /**
   * The only source of time (`now()` in ms); the lessor never arms a timer, the driver calls
   * `tick`. Default `systemClock` (monotonic).
   */
  readonly clock?: Clock
  /**
   * Deletes a revoked lease's keys (the driver passes mvcc's store). May also be set later with
   * `setRangeDeleter`. Default none: a revoke of a lease that has keys then fails with
   * ERR_LEASE_NO_RANGE_DELETER.
   */
  readonly rangeDeleter?: RangeDeleter
  /**
   * Minimum TTL in seconds; shorter grants are raised to it, also when leases are loaded from
   * the backend (etcd: ⌈1.5 × election timeout⌉). An integer in [1, `maxTtlSeconds`]. Default 2.
   */
  readonly minTtlSeconds?: number
  /**
   * Maximum TTL in seconds; longer grants fail with ERR_LEASE_TTL_TOO_LARGE. An integer in
   * [1, 2^53 − 1]. Default 9,000,000,000 (etcd's).
   */
  readonly maxTtlSeconds?: number
  /**
   * Revokes per second the cluster is meant to sustain; promote spreads expiries so that at most
   * 3/4 of it falls in any one second. An integer ≥ 1. Default 1,000.
   */
  readonly revokesPerSecond?: number
  /** At most this many expired lease ids per `tick` (a count). An integer ≥ 1. Default 500 (half the revoke rate at two ticks a second). */
  readonly maxExpiredPerTick?: number
  /**
   * Milliseconds after which an expired lease handed out by `tick` is handed out again if its
   * revoke has not applied (the proposal was lost). A finite number > 0. Default 3,000.
   */
  readonly expiredRetryIntervalMs?: number
  /**
   * Milliseconds between remaining-TTL checkpoints of one lease; 0 disables checkpoints. A
   * finite number ≥ 0. Default 300,000 (5 min, etcd's).
   */
  readonly checkpointIntervalMs?: number
  /** At most this many checkpoints per `tick` and per applied checkpoint request (a count). An integer ≥ 1. Default 1,000. */
  readonly maxCheckpointBatch?: number
  /** Write applied checkpoints to the `lease` bucket, so a remaining TTL survives a restart. Default true. */
  readonly persistCheckpoints?: boolean
  /** Called with `leaseBeforeRevokeExpired` before a tick hands out expired leases. Default `noFailpoint`. */
  readonly failpoint?: Failpoint
}

/** The options with every default filled in. */
export interface ResolvedLessorOptions {
  readonly clock: Clock
  readonly rangeDeleter: RangeDeleter | undefined
  readonly minTtlSeconds: number
  readonly maxTtlSeconds: number
  readonly revokesPerSecond: number
  readonly maxExpiredPerTick: number
  readonly expiredRetryIntervalMs: number
  readonly checkpointIntervalMs: number
  readonly maxCheckpointBatch: number
  readonly persistCheckpoints: boolean
  readonly failpoint: Failpoint
}

const COUNTS = ['minTtlSeconds', 'maxTtlSeconds', 'revokesPerSecond', 'maxExpiredPerTick', 'maxCheckpointBatch'] as const
const KNOWN = new Set<string>([...COUNTS, 'clock', 'rangeDeleter', 'expiredRetryIntervalMs', 'checkpointIntervalMs', 'persistCheckpoints', 'failpoint'])
/** Names this package used before its options carried their units. */
const RENAMED: Readonly<Record<string, string>> = {
  minTtl: 'minTtlSeconds',
  maxTtl: 'maxTtlSeconds',
  revokeRate: 'revokesPerSecond',
  expiredRetryInterval: 'expiredRetryIntervalMs',
  checkpointInterval: 'checkpointIntervalMs',
}

/** Checks `options` and fills in the defaults; any problem is ERR_LEASE_INVALID_OPTION. */
export function resolveLessorOptions(options: LessorOptions | undefined): ResolvedLessorOptions {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null) throw invalidOption(`the options must be an object, not ${typeof options}; pass {} for the defaults`)
  for (const name of Object.keys(options)) {
    if (KNOWN.has(name)) continue
    const renamed = RENAMED[name]
    throw invalidOption(renamed !== undefined ? `option ${name} is now named ${renamed}; rename it` : `unknown option ${name}; see LessorOptions for the names`, { option: name })
  }
  const o = {
    clock: options.clock ?? systemClock,
    rangeDeleter: options.rangeDeleter,
    minTtlSeconds: options.minTtlSeconds ?? 2,
    maxTtlSeconds: options.maxTtlSeconds ?? 9_000_000_000,
    revokesPerSecond: options.revokesPerSecond ?? 1000,
    maxExpiredPerTick: options.maxExpiredPerTick ?? 500,
    expiredRetryIntervalMs: options.expiredRetryIntervalMs ?? 3000,
    checkpointIntervalMs: options.checkpointIntervalMs ?? 300_000,
    maxCheckpointBatch: options.maxCheckpointBatch ?? 1000,
    persistCheckpoints: options.persistCheckpoints ?? true,
    failpoint: options.failpoint ?? noFailpoint,
  }
  if (typeof o.clock !== 'object' || o.clock === null || typeof o.clock.now !== 'function') throw invalidOption('option clock must be a Clock (an object with now()); pass systemClock or omit it')
  if (o.rangeDeleter !== undefined && (typeof o.rangeDeleter !== 'object' || o.rangeDeleter === null || typeof o.rangeDeleter.deleteKeys !== 'function')) {
    throw invalidOption('option rangeDeleter must be an object with deleteKeys(keys, tx); pass the mvcc store or omit it')
  }
  if (typeof o.failpoint !== 'function') throw invalidOption('option failpoint must be a function; pass noFailpoint or omit it')
  if (typeof o.persistCheckpoints !== 'boolean') throw invalidOption(`option persistCheckpoints must be true or false, not ${String(o.persistCheckpoints)}`)
  for (const k of COUNTS) {
    const v: unknown = o[k]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalidOption(`option ${k} is ${String(v)}; it must be an integer ≥ 1`, { option: k, value: v })
  }
  if (o.minTtlSeconds > o.maxTtlSeconds) {
    throw invalidOption(`option minTtlSeconds (${o.minTtlSeconds}) exceeds maxTtlSeconds (${o.maxTtlSeconds}); lower the minimum or raise the maximum`, { minTtlSeconds: o.minTtlSeconds, maxTtlSeconds: o.maxTtlSeconds })
  }
  const retry: unknown = o.expiredRetryIntervalMs
  if (typeof retry !== 'number' || !Number.isFinite(retry) || retry <= 0) throw invalidOption(`option expiredRetryIntervalMs is ${String(retry)}; it must be a finite number of ms > 0`, { option: 'expiredRetryIntervalMs', value: retry })
  const interval: unknown = o.checkpointIntervalMs
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
    throw invalidOption(`option checkpointIntervalMs is ${String(interval)}; it must be a finite number of ms ≥ 0 (0 disables checkpoints)`, { option: 'checkpointIntervalMs', value: interval })
  }
  return o
}
