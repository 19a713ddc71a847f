import assert from 'node:assert'
import type { Backend, WriteTx } from '@strata/backend'
import { noFailpoint } from '@strata/seams'
import type { Clock, Failpoint } from '@strata/seams'
import { LeaseError, leaseNotFound, notPrimary } from './errors.js'
import { spreadExpiries } from './expiry-spread.js'
import { Lease, keyBytes, keyString } from './lease.js'
import type { LeaseCheckpoint, LeaseInfo, TimeToLive } from './lease.js'
import { checkLeaseId } from './lease-id.js'
import { LeaseQueue } from './lease-queue.js'
import { decodeLeaseRecord, encodeLeaseKey, encodeLeaseRecord } from './lease-record.js'

/**
 * What revoke needs from the key-value store (mvcc implements it; this package must not import
 * mvcc, so it declares the shape here, as etcd's lessor declares its RangeDeleter).
 */
export interface RangeDeleter {
  /**
   * Deletes each of `keys` — distinct, in bytewise order — as ONE write transaction of the
   * key-value store: every deletion at a single new revision (no new revision when none of the
   * keys exists), written through `tx`, so the deletions commit together with the lease
   * record's removal and the driver's applied index. Sorted order makes every member produce
   * the same revision contents and the same DELETE event order. It may call `detach` for the
   * keys it deletes (the lessor copies the key set first).
   */
  deleteKeys(keys: readonly Uint8Array[], tx: WriteTx): void
}

/** Options of {@link Lessor}. Only `clock` is required. */
export interface LessorOptions {
  /** The only source of time; the lessor never arms a timer (the driver calls `tick`). */
  readonly clock: Clock
  /** Deletes a revoked lease's keys; may also be set later with `setRangeDeleter`. Default none. */
  readonly rangeDeleter?: RangeDeleter
  /** Minimum TTL in seconds; shorter grants are raised to it (also on recovery). Default 2 s. */
  readonly minTtl?: number
  /** Maximum TTL in seconds; longer grants fail with ERR_LEASE_TTL_TOO_LARGE. Default 9,000,000,000 s. */
  readonly maxTtl?: number
  /**
   * Revokes per second the cluster is meant to sustain; promote spreads expiries so that at most
   * 3/4 of it falls in any second. Default 1,000 /s.
   */
  readonly revokeRate?: number
  /** At most this many expired lease ids handed out per `tick`. Default 500 (revokeRate / 2 at 2 ticks/s). */
  readonly maxExpiredPerTick?: number
  /** An expired lease handed out is handed out again after this many ms if its revoke has not applied. Default 3,000 ms. */
  readonly expiredRetryInterval?: number
  /** Milliseconds between remaining-TTL checkpoints of one lease; 0 disables checkpoints. Default 300,000 ms (5 min). */
  readonly checkpointInterval?: number
  /** At most this many checkpoints per `tick`, and per applied checkpoint request. Default 1,000. */
  readonly maxCheckpointBatch?: number
  /** Write applied checkpoints to the `lease` bucket, so the remaining TTL survives a restart. Default true. */
  readonly persistCheckpoints?: boolean
  /** Called with `leaseBeforeRevokeExpired` before a tick hands out expired leases. Default: does nothing. */
  readonly failpoint?: Failpoint
}

/** Where an applied (log) operation writes: pass the apply loop's transaction to share it. */
export interface ApplyOptions {
  /**
   * The backend write transaction to use, so that the driver's applied index lands in the same
   * batch as the lease's effects (etcd #11935). Default: the lessor runs its own `backend.write`.
   */
  readonly tx?: WriteTx
}

/** What one `tick` hands the driver to propose through the log. */
export interface LessorTick {
  /** Expired leases to revoke, at most `maxExpiredPerTick`, earliest expiry first. */
  readonly expired: readonly number[]
  /** Checkpoints to propose (one request), at most `maxCheckpointBatch`. */
  readonly checkpoints: readonly LeaseCheckpoint[]
}

/** Counters for tests and metrics. */
export interface LessorStats {
  readonly primary: boolean
  readonly leases: number
  readonly attachedKeys: number
  /** Items in the expiry queue: 0 on a non-primary lessor, the lease count on the primary (#11731). */
  readonly expiryQueue: number
  readonly checkpointQueue: number
}

const DEFAULTS = {
  minTtl: 2,
  maxTtl: 9_000_000_000,
  revokeRate: 1000,
  maxExpiredPerTick: 500,
  expiredRetryInterval: 3000,
  checkpointInterval: 300_000,
  maxCheckpointBatch: 1000,
  persistCheckpoints: true,
}

/**
 * The lessor (etcd's lessor.go): the leases, their attached keys, and — on the primary only —
 * the queues that decide when a lease expires and when its remaining TTL is checkpointed.
 *
 * Two kinds of operations:
 * - applied from the log on every member, deterministically: `grant`, `revoke`, `checkpoint`
 *   (they write the `lease` bucket through the given transaction), `attach`, `detach` (memory
 *   only; mvcc calls them, and rebuilds them from keys on restart);
 * - local to the primary: `renew`, `timeToLive`, `tick` (expired leases and checkpoints to
 *   propose). On a non-primary lessor renew and timeToLive fail with ERR_NOT_PRIMARY and tick
 *   hands out nothing; no lease expires there.
 *
 * A mutating operation validates everything before it writes: when it throws a LeaseError,
 * nothing was written. An error thrown by the backend or the RangeDeleter in the middle of a
 * write is a crash: the caller must discard the process state and recover from the backend.
 */
export class Lessor {
  readonly #backend: Backend
  readonly #clock: Clock
  readonly #failpoint: Failpoint
  readonly #o: Required<Omit<LessorOptions, 'clock' | 'rangeDeleter' | 'failpoint'>>
  #rangeDeleter: RangeDeleter | undefined
  /** Invariant: every lease by id; ids are positive safe integers. */
  readonly #leases = new Map<number, Lease>()
  /** Invariant: key → the lease it is attached to, and that lease's `keys` holds it. */
  readonly #items = new Map<string, Lease>()
  /** Invariant: true between promote and demote. */
  #primary = false
  /** Invariant: empty unless primary; otherwise exactly one item per lease (#11731). */
  #expiryQueue = new LeaseQueue<Lease>('expiry')
  /** Invariant: empty unless primary. */
  #checkpointQueue = new LeaseQueue<Lease>('checkpoint')
  /** Leases renewed while a remaining TTL was stored: a checkpoint of 0 is owed. Invariant: empty unless primary. */
  #owedResets = new Set<number>()

  /** Opens the lessor over `backend`, loading every lease in the `lease` bucket (non-primary). */
  constructor(backend: Backend, options: LessorOptions) {
    this.#backend = backend
    this.#clock = options.clock
    this.#failpoint = options.failpoint ?? noFailpoint
    this.#rangeDeleter = options.rangeDeleter
    const o = { ...DEFAULTS }
    for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
      const v = options[k]
      if (v !== undefined) (o as Record<string, unknown>)[k] = v
    }
    for (const k of ['minTtl', 'maxTtl', 'revokeRate', 'maxExpiredPerTick', 'maxCheckpointBatch'] as const) {
      assert(Number.isSafeInteger(o[k]) && o[k] >= 1, `Lessor: ${k} must be a positive integer`)
    }
    assert(o.minTtl <= o.maxTtl, 'Lessor: minTtl must not exceed maxTtl')
    assert(Number.isFinite(o.expiredRetryInterval) && o.expiredRetryInterval > 0, 'Lessor: expiredRetryInterval must be > 0')
    assert(Number.isFinite(o.checkpointInterval) && o.checkpointInterval >= 0, 'Lessor: checkpointInterval must be ≥ 0')
    this.#o = o
    this.#recover()
  }

  /** Sets the RangeDeleter (mvcc is built after the lessor, as in etcd). */
  setRangeDeleter(rangeDeleter: RangeDeleter): void {
    this.#rangeDeleter = rangeDeleter
  }

  get isPrimary(): boolean {
    return this.#primary
  }

  /**
   * Applies a grant: lease `id` with `ttl` seconds (raised to the minimum TTL). On the primary
   * the countdown starts now; elsewhere the lease does not expire. Returns the lease as granted.
   * Errors: ERR_LEASE_NOT_FOUND (id 0), ERR_LEASE_ID_INVALID, ERR_LEASE_TTL_INVALID,
   * ERR_LEASE_TTL_TOO_LARGE, ERR_LEASE_EXISTS.
   */
  grant(id: number, ttl: number, options: ApplyOptions = {}): LeaseInfo {
    checkLeaseId(id)
    if (!Number.isSafeInteger(ttl)) throw new LeaseError('ERR_LEASE_TTL_INVALID', `lease TTL ${ttl} is not a whole number of seconds`, { id, ttl })
    if (ttl > this.#o.maxTtl) throw new LeaseError('ERR_LEASE_TTL_TOO_LARGE', `lease TTL ${ttl} s is too large (maximum ${this.#o.maxTtl} s)`, { id, ttl, maxTtl: this.#o.maxTtl })
    if (this.#leases.has(id)) throw new LeaseError('ERR_LEASE_EXISTS', `lease ${id} already exists`, { id })
    const lease = new Lease(id, Math.max(ttl, this.#o.minTtl))
    const key = encodeLeaseKey(id)
    const value = encodeLeaseRecord(lease)
    this.#inWrite(options.tx, (tx) => tx.put('lease', key, value))
    this.#leases.set(id, lease)
    if (this.#primary) {
      const now = this.#clock.now()
      lease.expiry = now + lease.ttl * 1000
      this.#expiryQueue.push(lease, lease.expiry)
      this.#scheduleCheckpoint(lease, now)
    }
    return lease.info()
  }

  /**
   * Applies a revoke: deletes the attached keys in bytewise order through the RangeDeleter (one
   * revision) and the lease record, in the same transaction. Returns how many keys were attached.
   * Errors: ERR_LEASE_NOT_FOUND, ERR_NO_RANGE_DELETER (keys attached and no deleter set).
   */
  revoke(id: number, options: ApplyOptions = {}): number {
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    const keys = lease.keys === undefined ? [] : [...lease.keys].sort()
    const deleter = this.#rangeDeleter
    if (keys.length > 0 && deleter === undefined) {
      throw new LeaseError('ERR_NO_RANGE_DELETER', `lease ${id} has ${keys.length} keys and no RangeDeleter is set`, { id })
    }
    const recordKey = encodeLeaseKey(id)
    this.#inWrite(options.tx, (tx) => {
      if (keys.length > 0) deleter!.deleteKeys(keys.map(keyBytes), tx)
      tx.delete('lease', recordKey)
    })
    for (const k of keys) if (this.#items.get(k) === lease) this.#items.delete(k)
    lease.keys = undefined
    this.#unqueue(lease)
    this.#owedResets.delete(id)
    this.#leases.delete(id)
    return keys.length
  }

  /**
   * Applies a checkpoint request: records each lease's remaining TTL (persisted unless
   * `persistCheckpoints` is false). Unknown ids are skipped: the lease was revoked meanwhile.
   * Errors: ERR_LEASE_CHECKPOINT_TOO_LARGE, ERR_LEASE_CHECKPOINT_INVALID (nothing applied).
   */
  checkpoint(checkpoints: readonly LeaseCheckpoint[], options: ApplyOptions = {}): void {
    if (checkpoints.length > this.#o.maxCheckpointBatch) {
      throw new LeaseError('ERR_LEASE_CHECKPOINT_TOO_LARGE', `checkpoint request has ${checkpoints.length} entries (maximum ${this.#o.maxCheckpointBatch})`, { entries: checkpoints.length })
    }
    for (const c of checkpoints) {
      if (!Number.isSafeInteger(c.id) || c.id <= 0 || !Number.isSafeInteger(c.remainingTtl) || c.remainingTtl < 0) {
        throw new LeaseError('ERR_LEASE_CHECKPOINT_INVALID', `checkpoint {id ${c.id}, remainingTtl ${c.remainingTtl}} is invalid`, { id: c.id, remainingTtl: c.remainingTtl })
      }
    }
    const applied: [Lease, number][] = []
    for (const c of checkpoints) {
      const lease = this.#leases.get(c.id)
      if (lease !== undefined) applied.push([lease, c.remainingTtl])
    }
    if (this.#o.persistCheckpoints && applied.length > 0) {
      this.#inWrite(options.tx, (tx) => {
        for (const [lease, remainingTtl] of applied) {
          tx.put('lease', encodeLeaseKey(lease.id), encodeLeaseRecord({ id: lease.id, ttl: lease.ttl, remainingTtl }))
        }
      })
    }
    for (const [lease, remainingTtl] of applied) lease.remainingTtl = remainingTtl
  }

  /**
   * Restarts lease `id`'s countdown at its full TTL (keep-alive; not through the log). Returns
   * the TTL in seconds. If a remaining TTL is stored, a checkpoint of 0 is owed and handed out by
   * the next `tick`. Errors: ERR_NOT_PRIMARY, ERR_LEASE_NOT_FOUND, ERR_LEASE_EXPIRED (expired,
   * revoke pending: etcd blocks until the revoke applies; this core answers at once).
   */
  renew(id: number): number {
    if (!this.#primary) throw notPrimary('renew')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    const now = this.#clock.now()
    if (lease.expiry <= now) throw new LeaseError('ERR_LEASE_EXPIRED', `lease ${id} has expired; its revoke is pending`, { id })
    if (lease.remainingTtl > 0 && this.#o.checkpointInterval > 0) this.#owedResets.add(id)
    lease.expiry = now + lease.ttl * 1000
    this.#expiryQueue.update(lease, lease.expiry)
    this.#scheduleCheckpoint(lease, now)
    return lease.ttl
  }

  /**
   * Attaches `keys` to lease `id` (a key attached to another lease moves). Memory only: mvcc
   * calls it when it applies a put with a lease, and again for every key when it restores.
   */
  attach(id: number, keys: readonly Uint8Array[]): void {
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    lease.keys ??= new Set()
    for (const key of keys) {
      const k = keyString(key)
      const previous = this.#items.get(k)
      if (previous === lease) continue
      if (previous !== undefined) previous.keys!.delete(k)
      lease.keys.add(k)
      this.#items.set(k, lease)
    }
  }

  /** Detaches `keys` from lease `id`; keys not attached to it are ignored. */
  detach(id: number, keys: readonly Uint8Array[]): void {
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    for (const key of keys) {
      const k = keyString(key)
      if (this.#items.get(k) !== lease) continue
      this.#items.delete(k)
      lease.keys!.delete(k)
    }
  }

  /** The id of the lease `key` is attached to, if any. */
  leaseOf(key: Uint8Array): number | undefined {
    return this.#items.get(keyString(key))?.id
  }

  lookup(id: number): LeaseInfo | undefined {
    return this.#leases.get(id)?.info()
  }

  /** Every lease, soonest expiry first (ties, and on a non-primary lessor: by id). */
  leases(): LeaseInfo[] {
    return [...this.#leases.values()].sort((a, b) => a.expiry - b.expiry || a.id - b.id).map((l) => l.info())
  }

  /**
   * Seconds left before lease `id` expires, as the primary sees it, with its attached keys if
   * asked. Errors: ERR_NOT_PRIMARY (the driver forwards to the leader), ERR_LEASE_NOT_FOUND.
   */
  timeToLive(id: number, options: { readonly keys?: boolean } = {}): TimeToLive {
    if (!this.#primary) throw notPrimary('timeToLive')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    const left = Math.max(0, Math.trunc((lease.expiry - this.#clock.now()) / 1000))
    const keys = options.keys === true ? [...(lease.keys ?? [])].sort().map(keyBytes) : undefined
    return { id, ttl: left, grantedTtl: lease.ttl, keys }
  }

  /**
   * Makes this lessor the primary (its member became leader and applied its term's first
   * entry). Every lease restarts its countdown from its checkpointed remaining TTL (else its
   * TTL) plus `extendMs` (the election timeout), spread so that at most 3/4 of `revokeRate`
   * leases expire in any second; the expiry and checkpoint queues are rebuilt from all leases.
   */
  promote(extendMs: number): void {
    assert(Number.isFinite(extendMs) && extendMs >= 0, 'promote: extendMs must be a finite number ≥ 0')
    if (this.#primary) this.demote()
    this.#primary = true
    const now = this.#clock.now()
    const leases = [...this.#leases.values()]
    const times = new Float64Array(leases.length)
    for (let i = 0; i < leases.length; i++) times[i] = now + extendMs + leases[i]!.restartTtl() * 1000
    spreadExpiries(times, Math.floor((3 * this.#o.revokeRate) / 4) || 1)
    for (let i = 0; i < leases.length; i++) leases[i]!.expiry = times[i]!
    this.#expiryQueue.rebuild(leases, times)
    if (this.#o.checkpointInterval > 0) {
      const due: Lease[] = leases.filter((lease) => lease.expiry - now > this.#o.checkpointInterval)
      this.#checkpointQueue.rebuild(due, new Float64Array(due.length).fill(now + this.#o.checkpointInterval))
    }
  }

  /**
   * Makes this lessor a non-primary (its member lost leadership): no lease expires here any
   * more, and both queues are dropped, so a follower holds O(leases) and nothing else (#11731).
   */
  demote(): void {
    this.#primary = false
    this.#expiryQueue.clear()
    this.#checkpointQueue.clear()
    for (const lease of this.#leases.values()) lease.expiry = Infinity
    this.#owedResets = new Set()
  }

  /**
   * The primary's periodic step (the driver calls it every 500 ms): hands out the expired leases
   * to revoke, each re-queued `expiredRetryInterval` ahead so a lost revoke is handed out again,
   * and the checkpoints due. A non-primary hands out nothing.
   */
  tick(): LessorTick {
    if (!this.#primary) return { expired: [], checkpoints: [] }
    const now = this.#clock.now()
    const expired = this.#collectExpired(now)
    const checkpoints = this.#collectCheckpoints(now)
    if (expired.length > 0) this.#failpoint('leaseBeforeRevokeExpired')
    return { expired, checkpoints }
  }

  stats(): LessorStats {
    return {
      primary: this.#primary,
      leases: this.#leases.size,
      attachedKeys: this.#items.size,
      expiryQueue: this.#expiryQueue.size,
      checkpointQueue: this.#checkpointQueue.size,
    }
  }

  /** Checks every invariant of the lessor and its queues; for tests. */
  checkValid(): void {
    this.#expiryQueue.checkValid()
    this.#checkpointQueue.checkValid()
    if (!this.#primary) {
      assert.equal(this.#expiryQueue.size, 0, 'a non-primary lessor holds expiry items')
      assert.equal(this.#checkpointQueue.size, 0, 'a non-primary lessor holds checkpoint items')
      assert.equal(this.#owedResets.size, 0, 'a non-primary lessor owes checkpoints')
    } else {
      assert.equal(this.#expiryQueue.size, this.#leases.size, 'the expiry queue does not hold one item per lease')
    }
    let keys = 0
    for (const lease of this.#leases.values()) {
      assert.equal(lease.expiry === Infinity, !this.#primary, `lease ${lease.id} expiry disagrees with the role`)
      assert.equal(lease.expiryPos >= 0, this.#primary, `lease ${lease.id} expiry position disagrees with the role`)
      assert.equal(this.#expiryQueue.has(lease), this.#primary, `lease ${lease.id} is queued on a non-primary or missing on the primary`)
      for (const k of lease.keys ?? []) assert.equal(this.#items.get(k), lease, `key ${k} is not indexed to lease ${lease.id}`)
      keys += lease.keys?.size ?? 0
    }
    assert.equal(keys, this.#items.size, 'the key index holds keys of no lease')
  }

  #collectExpired(now: number): number[] {
    const expired: number[] = []
    while (expired.length < this.#o.maxExpiredPerTick) {
      const lease = this.#expiryQueue.peek()
      if (lease === undefined || this.#expiryQueue.peekTime() > now) break
      assert(this.#leases.get(lease.id) === lease, 'the expiry queue holds a lease that is gone')
      assert(lease.expiry <= now, 'a queued time ran ahead of its lease expiry')
      this.#expiryQueue.update(lease, now + this.#o.expiredRetryInterval)
      expired.push(lease.id)
    }
    return expired
  }

  #collectCheckpoints(now: number): LeaseCheckpoint[] {
    const out: LeaseCheckpoint[] = []
    const limit = this.#o.maxCheckpointBatch
    for (const id of this.#owedResets) {
      if (out.length >= limit) break
      this.#owedResets.delete(id)
      out.push({ id, remainingTtl: 0 })
    }
    const interval = this.#o.checkpointInterval
    while (out.length < limit) {
      const lease = this.#checkpointQueue.peek()
      if (lease === undefined || this.#checkpointQueue.peekTime() > now) break
      assert(this.#leases.get(lease.id) === lease, 'the checkpoint queue holds a lease that is gone')
      const leftMs = lease.expiry - now
      if (leftMs > interval) this.#checkpointQueue.update(lease, now + interval)
      else this.#checkpointQueue.remove(lease)
      const remainingTtl = Math.ceil(leftMs / 1000)
      // Expired (its revoke is on the way) or no progress since the grant: nothing to record.
      if (leftMs <= 0 || remainingTtl >= lease.ttl) continue
      out.push({ id: lease.id, remainingTtl })
    }
    return out
  }

  #scheduleCheckpoint(lease: Lease, now: number): void {
    const interval = this.#o.checkpointInterval
    if (interval === 0 || lease.checkpointPos >= 0 || lease.expiry - now <= interval) return
    this.#checkpointQueue.push(lease, now + interval)
  }

  #unqueue(lease: Lease): void {
    if (lease.expiryPos >= 0) this.#expiryQueue.remove(lease)
    if (lease.checkpointPos >= 0) this.#checkpointQueue.remove(lease)
  }

  #inWrite(tx: WriteTx | undefined, fn: (tx: WriteTx) => void): void {
    if (tx !== undefined) fn(tx)
    else this.#backend.write(fn)
  }

  /** Loads every lease from the `lease` bucket; expiry starts only at promote (etcd §4.7). */
  #recover(): void {
    this.#backend.read((tx) => {
      tx.forEach('lease', new Uint8Array(0), undefined, (key, value) => {
        const record = decodeLeaseRecord(key, value)
        assert(!this.#leases.has(record.id), `lease ${record.id} recovered twice`)
        const lease = new Lease(record.id, Math.max(record.ttl, this.#o.minTtl))
        lease.remainingTtl = record.remainingTtl
        this.#leases.set(record.id, lease)
      })
    })
  }
}
