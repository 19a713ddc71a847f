import { invalidArgument } from './errors.js'
import type { QueueEntry } from './lease-queue.js'

/** A read-only view of one lease, as `lookup` and `leases` return it. */
export interface LeaseInfo {
  readonly id: number
  /** Granted TTL in seconds, after the minimum-TTL clamp. */
  readonly ttl: number
  /** Remaining TTL in seconds last checkpointed through the log; 0 when none is set. */
  readonly remainingTtl: number
  /**
   * Clock milliseconds at which the lease expires; undefined on a non-primary lessor, where no
   * lease expires (only the primary tracks expiry).
   */
  readonly expiry: number | undefined
  /** How many keys are attached. */
  readonly keyCount: number
}

/** The answer to `timeToLive` (etcd's LeaseTimeToLiveResponse, plus `authoritative`). */
export interface TimeToLive {
  readonly id: number
  /**
   * On the primary (`authoritative` true): whole seconds left before expiry, truncated; 0 once
   * the expiry has passed. On a non-primary (`authoritative` false): the granted TTL, because a
   * non-primary does not count down (only the leader's lessor does); the lease has at most
   * this long left unless the primary was promoted or renewed it since, and the leader's
   * answer is the live one.
   */
  readonly ttl: number
  /** The granted TTL in seconds (after the minimum-TTL clamp). */
  readonly grantedTtl: number
  /** True when this lessor is the primary, so `ttl` is the live countdown. */
  readonly authoritative: boolean
  /** The attached keys in bytewise order (copies), when asked for with `{ keys: true }`. */
  readonly keys: readonly Uint8Array[] | undefined
}

/** Options of `timeToLive`. */
export interface TimeToLiveOptions {
  /** Also return the attached keys, in bytewise order. Default false. */
  readonly keys?: boolean
}

/** One remaining-TTL checkpoint, proposed by the primary and applied on every member. */
export interface LeaseCheckpoint {
  readonly id: number
  /** Seconds left; 0 clears a stored remaining TTL (sent after a renew). */
  readonly remainingTtl: number
}

/**
 * The lessor's record of one lease. Internal: callers see {@link LeaseInfo}. Keys are held as
 * latin1 strings (one char per byte), which compare in bytewise order and can be Map keys.
 */
export class Lease implements QueueEntry {
  readonly id: number
  /** Invariant: a safe integer ≥ the lessor's minimum TTL. */
  readonly ttl: number
  /** Invariant: a non-negative safe integer; 0 = unset. */
  remainingTtl = 0
  /** Invariant: Infinity exactly when the lessor is not primary. */
  expiry = Infinity
  /** Attached keys; allocated on first attach so a lease without keys costs no set. */
  keys: Set<string> | undefined = undefined
  /** Position in the expiry queue. Invariant: ≥ 0 exactly when the lessor is primary. */
  expiryPos = -1
  /** Position in the checkpoint queue. Invariant: ≥ 0 only on the primary, while a checkpoint is scheduled. */
  checkpointPos = -1

  constructor(id: number, ttl: number) {
    this.id = id
    this.ttl = ttl
  }

  /** The TTL promote restarts the countdown from: the checkpointed remaining TTL if any. */
  restartTtl(): number {
    return this.remainingTtl > 0 ? this.remainingTtl : this.ttl
  }

  info(): LeaseInfo {
    return {
      id: this.id,
      ttl: this.ttl,
      remainingTtl: this.remainingTtl,
      expiry: this.expiry === Infinity ? undefined : this.expiry,
      keyCount: this.keys?.size ?? 0,
    }
  }
}

/**
 * A key as the latin1 string the lessor indexes it by (one char per byte, so strings compare in
 * bytewise order). A string key is its UTF-8 bytes. Anything else is ERR_LEASE_INVALID_ARGUMENT.
 */
export function keyString(key: unknown, what: string): string {
  if (key instanceof Uint8Array) return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
  if (typeof key === 'string') return Buffer.from(key, 'utf8').toString('latin1')
  throw invalidArgument(`${what}: a key must be a string or a Uint8Array, not ${key === null ? 'null' : typeof key}; encode it first`)
}

/** Checks that `keys` is an array and indexes each of its keys (see {@link keyString}). */
export function keyStrings(keys: unknown, what: string): string[] {
  if (!Array.isArray(keys)) throw invalidArgument(`${what}: keys must be an array of strings or Uint8Arrays, not ${keys === null ? 'null' : typeof keys}`)
  return keys.map((k) => keyString(k, what))
}

/** The bytes of a key indexed as a latin1 string. */
export function keyBytes(key: string): Uint8Array {
  return Buffer.from(key, 'latin1')
}
