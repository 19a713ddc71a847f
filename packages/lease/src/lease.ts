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

/** The answer to `timeToLive` (etcd's LeaseTimeToLiveResponse). */
export interface TimeToLive {
  readonly id: number
  /** Whole seconds left before expiry, truncated; 0 once the expiry has passed. */
  readonly ttl: number
  /** The granted TTL in seconds. */
  readonly grantedTtl: number
  /** The attached keys in bytewise order, when asked for with `{ keys: true }`. */
  readonly keys: readonly Uint8Array[] | undefined
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

/** A key's bytes as the latin1 string the lessor indexes it by. */
export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

/** The bytes of a key indexed as a latin1 string. */
export function keyBytes(key: string): Uint8Array {
  return Buffer.from(key, 'latin1')
}
