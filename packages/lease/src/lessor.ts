import assert from 'node:assert'
import type { ApplyContext, Backend, WriteTx } from '@strata/backend'
import { LeaseError, invalidArgument, leaseNotFound, notPrimary } from './errors.js'
import { spreadExpiries } from './expiry-spread.js'
import { Lease, keyBytes, keyString, keyStrings } from './lease.js'
import type { LeaseCheckpoint, LeaseInfo, TimeToLive, TimeToLiveOptions } from './lease.js'
import { checkIdArgument, checkLeaseId } from './lease-id.js'
import { LeaseQueue } from './lease-queue.js'
import { decodeLeaseRecord, encodeLeaseKey, encodeLeaseRecord } from './lease-record.js'
import { resolveLessorOptions } from './lessor-options.js'
import type { LessorOptions, RangeDeleter, ResolvedLessorOptions } from './lessor-options.js'

/** Where an applied (log) operation writes: the backend's one apply-context type. */
export type ApplyOptions = ApplyContext

/** What one `tick` hands the driver to propose through the log. */
export interface LessorTick {
  /** Expired leases to revoke (one revoke proposal each), at most `maxExpiredPerTick`, earliest expiry first. */
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

/**
 * The lessor (etcd's lessor.go): the leases, their attached keys, and — on the primary only —
 * the queues that decide when a lease expires and when its remaining TTL is checkpointed.
 *
 * Two kinds of operations:
 * - applied from the log on every member, deterministically: `grant`, `revoke`, `checkpoint`
 *   (they write the `lease` bucket through the given transaction), `attach`, `detach` (memory
 *   only; mvcc calls them, and reports every key again when it rebuilds);
 * - local: `renew` and `tick` (expired leases and checkpoints to propose) on the primary only,
 *   and the read views (`lookup`, `leases`, `keysOf`, `leaseOf`, `timeToLive`) on any member.
 *   On a non-primary lessor renew fails with ERR_LEASE_NOT_PRIMARY and tick hands out nothing;
 *   no lease expires there.
 *
 * A mutating operation validates everything before it writes: when it throws a LeaseError,
 * nothing was written. An error thrown by the backend or the RangeDeleter in the middle of a
 * write is a crash: the caller must discard the process state and recover from the backend.
 */
export class Lessor {
  #backend: Backend
  readonly #clock
  readonly #failpoint
  readonly #o: ResolvedLessorOptions
  #rangeDeleter: RangeDeleter | undefined
  /** Invariant: every lease by id; ids are positive safe integers. */
  #leases = new Map<number, Lease>()
  /** Invariant: key → the lease it is attached to, and that lease's `keys` holds it. */
  #items = new Map<string, Lease>()
  /** Invariant: true between promote and demote. */
  #primary = false
  /** The `extendMs` of the last promote; recover on a primary restarts the countdowns with it. */
  #extendMs = 0
  /** Invariant: empty unless primary; otherwise exactly one item per lease (#11731). */
  #expiryQueue = new LeaseQueue<Lease>('expiry')
  /** Invariant: empty unless primary. */
  #checkpointQueue = new LeaseQueue<Lease>('checkpoint')
  /** Leases renewed while a remaining TTL was stored: a checkpoint of 0 is owed. Invariant: empty unless primary. */
  #owedResets = new Set<number>()
  /** Invariant: once true, every call but `close` fails with ERR_LEASE_CLOSED. */
  #closed = false

  /** Does no I/O and checks nothing: the way in is {@link Lessor.open}. */
  private constructor(backend: Backend, options: ResolvedLessorOptions) {
    this.#backend = backend
    this.#o = options
    this.#clock = options.clock
    this.#failpoint = options.failpoint
    this.#rangeDeleter = options.rangeDeleter
  }

  /**
   * Opens a lessor over `backend`, loading every lease of its `lease` bucket; it starts as a
   * non-primary (no lease expires until `promote`). The lessor does not own the backend: its
   * `close` leaves the backend open. Errors: ERR_LEASE_INVALID_OPTION, ERR_LEASE_INVALID_ARGUMENT
   * (not a backend), ERR_LEASE_CORRUPT.
   */
  static async open(backend: Backend, options: LessorOptions = {}): Promise<Lessor> {
    checkBackend(backend, 'open')
    const lessor = new Lessor(backend, resolveLessorOptions(options))
    lessor.#leases = lessor.#load(backend)
    return lessor
  }

  /** Sets the RangeDeleter (the driver may build mvcc after the lessor, as etcd does). */
  setRangeDeleter(rangeDeleter: RangeDeleter): void {
    this.#live('setRangeDeleter')
    if (typeof rangeDeleter !== 'object' || rangeDeleter === null || typeof rangeDeleter.deleteKeys !== 'function') {
      throw invalidArgument('setRangeDeleter: pass an object with deleteKeys(keys, tx), such as the mvcc store')
    }
    this.#rangeDeleter = rangeDeleter
  }

  /** True between `promote` and `demote`. */
  get isPrimary(): boolean {
    this.#live('isPrimary')
    return this.#primary
  }

  /**
   * Applies a grant: lease `id` with `ttlSeconds` (raised to `minTtlSeconds`). On the primary
   * the countdown starts now; elsewhere the lease does not expire. Returns the lease as granted.
   * Errors: ERR_LEASE_NOT_FOUND (id 0), ERR_LEASE_INVALID_ARGUMENT, ERR_LEASE_TTL_TOO_LARGE,
   * ERR_LEASE_EXISTS.
   */
  grant(id: number, ttlSeconds: number, options: ApplyOptions = {}): LeaseInfo {
    this.#live('grant')
    checkLeaseId(id)
    if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 0) {
      throw invalidArgument(`grant: TTL ${String(ttlSeconds)} of lease ${id} is not a whole, non-negative number of seconds; round it to an integer`, { id, ttlSeconds })
    }
    const max = this.#o.maxTtlSeconds
    if (ttlSeconds > max) throw new LeaseError('ERR_LEASE_TTL_TOO_LARGE', `lease: TTL ${ttlSeconds} s of lease ${id} exceeds the maximum of ${max} s; grant at most ${max} s`, { id, ttlSeconds, maxTtlSeconds: max })
    if (this.#leases.has(id)) throw new LeaseError('ERR_LEASE_EXISTS', `lease: lease ${id} already exists; grant under another id (newLeaseId)`, { id })
    const tx = txOf(options, 'grant')
    const lease = new Lease(id, Math.max(ttlSeconds, this.#o.minTtlSeconds))
    const key = encodeLeaseKey(id)
    const value = encodeLeaseRecord(lease)
    this.#inWrite(tx, (t) => t.put('lease', key, value))
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
   * Applies a revoke: hands the attached keys, in bytewise order, to the RangeDeleter's
   * `deleteKeys(keys, tx)` with the same transaction `tx` the lease record is deleted through
   * (the caller's, or the lessor's own `backend.write`), so the keys go at one revision in the
   * same commit as the record. A lease without keys never calls the deleter. Returns how many
   * keys were attached. Errors: ERR_LEASE_INVALID_ARGUMENT, ERR_LEASE_NOT_FOUND,
   * ERR_LEASE_NO_RANGE_DELETER (keys attached and no deleter set; nothing written).
   */
  revoke(id: number, options: ApplyOptions = {}): number {
    this.#live('revoke')
    checkIdArgument(id, 'revoke')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    const tx = txOf(options, 'revoke')
    const keys = lease.keys === undefined ? [] : [...lease.keys].sort()
    const deleter = this.#rangeDeleter
    if (keys.length > 0 && deleter === undefined) {
      throw new LeaseError('ERR_LEASE_NO_RANGE_DELETER', `lease: lease ${id} has ${keys.length} attached keys and no RangeDeleter is set; pass the mvcc store as the rangeDeleter option (or setRangeDeleter) before applying revokes`, { id, keys: keys.length })
    }
    const recordKey = encodeLeaseKey(id)
    this.#inWrite(tx, (t) => {
      if (keys.length > 0) deleter!.deleteKeys(keys.map(keyBytes), t)
      t.delete('lease', recordKey)
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
   * Errors: ERR_LEASE_CHECKPOINT_TOO_LARGE, ERR_LEASE_INVALID_ARGUMENT (nothing applied).
   */
  checkpoint(checkpoints: readonly LeaseCheckpoint[], options: ApplyOptions = {}): void {
    this.#live('checkpoint')
    if (!Array.isArray(checkpoints)) throw invalidArgument('checkpoint: pass an array of { id, remainingTtl }')
    const limit = this.#o.maxCheckpointBatch
    if (checkpoints.length > limit) {
      throw new LeaseError('ERR_LEASE_CHECKPOINT_TOO_LARGE', `lease: a checkpoint request has ${checkpoints.length} entries, more than maxCheckpointBatch (${limit}); split it into requests of at most ${limit}`, { entries: checkpoints.length, maxCheckpointBatch: limit })
    }
    for (const c of checkpoints as readonly unknown[]) {
      const { id, remainingTtl } = (c ?? {}) as Partial<LeaseCheckpoint>
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0 || typeof remainingTtl !== 'number' || !Number.isSafeInteger(remainingTtl) || remainingTtl < 0) {
        throw invalidArgument(`checkpoint: entry {id ${String(id)}, remainingTtl ${String(remainingTtl)}} is invalid; ids are positive and remaining TTLs non-negative safe integers`, { id, remainingTtl })
      }
    }
    const tx = txOf(options, 'checkpoint')
    const applied: [Lease, number][] = []
    for (const c of checkpoints) {
      const lease = this.#leases.get(c.id)
      if (lease !== undefined) applied.push([lease, c.remainingTtl])
    }
    if (this.#o.persistCheckpoints && applied.length > 0) {
      this.#inWrite(tx, (t) => {
        for (const [lease, remainingTtl] of applied) {
          t.put('lease', encodeLeaseKey(lease.id), encodeLeaseRecord({ id: lease.id, ttl: lease.ttl, remainingTtl }))
        }
      })
    }
    for (const [lease, remainingTtl] of applied) lease.remainingTtl = remainingTtl
  }

  /**
   * Restarts lease `id`'s countdown at its full TTL (keep-alive; not through the log). Returns
   * the TTL in seconds. If a remaining TTL is stored, a checkpoint of 0 is owed and handed out by
   * the next `tick`. Errors: ERR_LEASE_NOT_PRIMARY, ERR_LEASE_INVALID_ARGUMENT,
   * ERR_LEASE_NOT_FOUND, ERR_LEASE_EXPIRED (expired, revoke pending: etcd blocks until the
   * revoke applies; this core answers at once).
   */
  renew(id: number): number {
    this.#live('renew')
    checkIdArgument(id, 'renew')
    if (!this.#primary) throw notPrimary('renew')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    const now = this.#clock.now()
    if (lease.expiry <= now) {
      throw new LeaseError('ERR_LEASE_EXPIRED', `lease: lease ${id} has expired and its revoke is pending; answer the keep-alive with TTL 0, or retry once the revoke applies`, { id })
    }
    if (lease.remainingTtl > 0 && this.#o.checkpointIntervalMs > 0) this.#owedResets.add(id)
    lease.expiry = now + lease.ttl * 1000
    this.#expiryQueue.update(lease, lease.expiry)
    this.#scheduleCheckpoint(lease, now)
    return lease.ttl
  }

  /**
   * Attaches `keys` to lease `id` (a key attached to another lease moves). Memory only: mvcc
   * calls it when it applies a put with a lease, and for every leased key when it rebuilds.
   * Errors: ERR_LEASE_INVALID_ARGUMENT, ERR_LEASE_NOT_FOUND (nothing attached).
   */
  attach(id: number, keys: readonly (string | Uint8Array)[]): void {
    this.#live('attach')
    checkIdArgument(id, 'attach')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    const ks = keyStrings(keys, 'attach')
    lease.keys ??= new Set()
    for (const k of ks) {
      const previous = this.#items.get(k)
      if (previous === lease) continue
      if (previous !== undefined) previous.keys!.delete(k)
      lease.keys.add(k)
      this.#items.set(k, lease)
    }
  }

  /** Detaches `keys` from lease `id`; keys not attached to it are ignored. Errors as `attach`. */
  detach(id: number, keys: readonly (string | Uint8Array)[]): void {
    this.#live('detach')
    checkIdArgument(id, 'detach')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    for (const k of keyStrings(keys, 'detach')) {
      if (this.#items.get(k) !== lease) continue
      this.#items.delete(k)
      lease.keys!.delete(k)
    }
  }

  /** The id of the lease `key` is attached to, if any. Errors: ERR_LEASE_INVALID_ARGUMENT. */
  leaseOf(key: string | Uint8Array): number | undefined {
    this.#live('leaseOf')
    return this.#items.get(keyString(key, 'leaseOf'))?.id
  }

  /**
   * The keys attached to lease `id`, in bytewise order, as fresh copies; the same on every
   * member (attachments are applied state). Errors: ERR_LEASE_INVALID_ARGUMENT, ERR_LEASE_NOT_FOUND.
   */
  keysOf(id: number): Uint8Array[] {
    this.#live('keysOf')
    checkIdArgument(id, 'keysOf')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    return sortedKeys(lease)
  }

  /** Lease `id` as this member sees it, or undefined. Errors: ERR_LEASE_INVALID_ARGUMENT. */
  lookup(id: number): LeaseInfo | undefined {
    this.#live('lookup')
    checkIdArgument(id, 'lookup')
    return this.#leases.get(id)?.info()
  }

  /** Every lease, soonest expiry first (ties, and on a non-primary lessor: by id). */
  leases(): LeaseInfo[] {
    this.#live('leases')
    return [...this.#leases.values()].sort((a, b) => a.expiry - b.expiry || a.id - b.id).map((l) => l.info())
  }

  /**
   * Lease `id`'s TTL, with its attached keys if asked, on any member. On the primary `ttl` is
   * the whole seconds left and `authoritative` is true; on a non-primary, which does not count
   * down, `ttl` is the granted TTL and `authoritative` is false (etcd forwards TimeToLive to the
   * leader: a driver that wants the live countdown does the same). Errors:
   * ERR_LEASE_INVALID_ARGUMENT, ERR_LEASE_NOT_FOUND.
   */
  timeToLive(id: number, options: TimeToLiveOptions = {}): TimeToLive {
    this.#live('timeToLive')
    checkIdArgument(id, 'timeToLive')
    if (typeof options !== 'object' || options === null) throw invalidArgument('timeToLive: options must be an object such as { keys: true }')
    const lease = this.#leases.get(id)
    if (lease === undefined) throw leaseNotFound(id)
    const keys = options.keys === true ? sortedKeys(lease) : undefined
    if (!this.#primary) return { id, ttl: lease.ttl, grantedTtl: lease.ttl, authoritative: false, keys }
    const left = Math.max(0, Math.trunc((lease.expiry - this.#clock.now()) / 1000))
    return { id, ttl: left, grantedTtl: lease.ttl, authoritative: true, keys }
  }

  /**
   * Makes this lessor the primary. The driver calls it once its member is leader AND has
   * applied the first entry of its own term (everything committed before), with `extendMs` =
   * the election timeout. Every lease restarts its countdown from its checkpointed remaining
   * TTL (else its TTL) plus `extendMs`, spread so that at most 3/4 of `revokesPerSecond` leases
   * expire in any second; the expiry and checkpoint queues are rebuilt from all leases. On a
   * primary it restarts everything again. Errors: ERR_LEASE_INVALID_ARGUMENT.
   */
  promote(extendMs: number): void {
    this.#live('promote')
    if (typeof extendMs !== 'number' || !Number.isFinite(extendMs) || extendMs < 0) {
      throw invalidArgument(`promote: extendMs ${String(extendMs)} is not a finite number ≥ 0; pass the election timeout in ms`, { extendMs })
    }
    if (this.#primary) this.demote()
    this.#primary = true
    this.#extendMs = extendMs
    this.#restartCountdowns()
  }

  /**
   * Makes this lessor a non-primary (the driver calls it as soon as its member stops being
   * leader): no lease expires here any more, and both queues are dropped, so a follower holds
   * O(leases) and nothing else (#11731). A no-op on a non-primary.
   */
  demote(): void {
    this.#live('demote')
    this.#primary = false
    this.#expiryQueue.clear()
    this.#checkpointQueue.clear()
    for (const lease of this.#leases.values()) lease.expiry = Infinity
    this.#owedResets = new Set()
  }

  /**
   * The primary's periodic step (the driver calls it every 500 ms, as etcd's lessor loop runs):
   * hands out the expired leases to revoke, each re-queued `expiredRetryIntervalMs` ahead so a
   * lost revoke is handed out again, and the checkpoints due. A non-primary hands out nothing.
   */
  tick(): LessorTick {
    this.#live('tick')
    if (!this.#primary) return { expired: [], checkpoints: [] }
    const now = this.#clock.now()
    const expired = this.#collectExpired(now)
    const checkpoints = this.#collectCheckpoints(now)
    if (expired.length > 0) this.#failpoint('leaseBeforeRevokeExpired')
    return { expired, checkpoints }
  }

  /**
   * Reloads every lease from the backend after its contents were replaced (a snapshot
   * restore), optionally switching to `backend`. Drops every in-memory lease and key
   * attachment; the attachments come back through `attach` (mvcc's rebuild reports every leased
   * key). Keeps the role: a primary restarts every countdown as `promote` does, with the last
   * promote's `extendMs`. On ERR_LEASE_CORRUPT nothing changed (the old leases and backend stay).
   * Errors: ERR_LEASE_INVALID_ARGUMENT (not a backend), ERR_LEASE_CORRUPT.
   */
  recover(backend?: Backend): void {
    this.#live('recover')
    if (backend !== undefined) checkBackend(backend, 'recover')
    const target = backend ?? this.#backend
    const leases = this.#load(target)
    this.#backend = target
    this.#expiryQueue.clear()
    this.#checkpointQueue.clear()
    this.#owedResets = new Set()
    this.#leases = leases
    this.#items = new Map()
    if (this.#primary) this.#restartCountdowns()
  }

  /**
   * Closes the lessor: drops its leases and queues from memory. It holds no timer, file or
   * thread, and does not close the backend (the driver owns it). Idempotent; every other call
   * afterwards fails with ERR_LEASE_CLOSED.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#primary = false
    this.#expiryQueue.clear()
    this.#checkpointQueue.clear()
    this.#owedResets = new Set()
    this.#leases = new Map()
    this.#items = new Map()
    this.#rangeDeleter = undefined
  }

  stats(): LessorStats {
    this.#live('stats')
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
    this.#live('checkValid')
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

  #live(operation: string): void {
    if (this.#closed) throw new LeaseError('ERR_LEASE_CLOSED', `lease: ${operation} on a closed lessor; open a new one with Lessor.open`, { operation })
  }

  /** Restarts every countdown from now + `#extendMs` (promote, and recover on a primary). */
  #restartCountdowns(): void {
    const now = this.#clock.now()
    const leases = [...this.#leases.values()]
    const times = new Float64Array(leases.length)
    for (let i = 0; i < leases.length; i++) times[i] = now + this.#extendMs + leases[i]!.restartTtl() * 1000
    spreadExpiries(times, Math.floor((3 * this.#o.revokesPerSecond) / 4) || 1)
    for (let i = 0; i < leases.length; i++) leases[i]!.expiry = times[i]!
    this.#expiryQueue.rebuild(leases, times)
    const interval = this.#o.checkpointIntervalMs
    if (interval > 0) {
      const due: Lease[] = leases.filter((lease) => lease.expiry - now > interval)
      this.#checkpointQueue.rebuild(due, new Float64Array(due.length).fill(now + interval))
    }
  }

  #collectExpired(now: number): number[] {
    const expired: number[] = []
    while (expired.length < this.#o.maxExpiredPerTick) {
      const lease = this.#expiryQueue.peek()
      if (lease === undefined || this.#expiryQueue.peekTime() > now) break
      assert(this.#leases.get(lease.id) === lease, 'the expiry queue holds a lease that is gone')
      assert(lease.expiry <= now, 'a queued time ran ahead of its lease expiry')
      this.#expiryQueue.update(lease, now + this.#o.expiredRetryIntervalMs)
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
    const interval = this.#o.checkpointIntervalMs
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
    const interval = this.#o.checkpointIntervalMs
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

  /**
   * Every lease of `backend`'s `lease` bucket, non-primary (expiry starts only at promote, etcd
   * §4.7); TTLs below the minimum are raised to it. Throws ERR_LEASE_CORRUPT before touching
   * the lessor's state.
   */
  #load(backend: Backend): Map<number, Lease> {
    const leases = new Map<number, Lease>()
    backend.read((tx) => {
      tx.forEach('lease', new Uint8Array(0), undefined, (key, value) => {
        const record = decodeLeaseRecord(key, value)
        assert(!leases.has(record.id), `lease ${record.id} recovered twice`)
        const lease = new Lease(record.id, Math.max(record.ttl, this.#o.minTtlSeconds))
        lease.remainingTtl = record.remainingTtl
        leases.set(record.id, lease)
      })
    })
    return leases
  }
}

/** The keys of `lease` in bytewise order (latin1 strings sort so), as fresh byte arrays. */
function sortedKeys(lease: Lease): Uint8Array[] {
  return lease.keys === undefined ? [] : [...lease.keys].sort().map(keyBytes)
}

function checkBackend(backend: unknown, what: string): asserts backend is Backend {
  const b = backend as Partial<Backend> | null
  if (typeof b !== 'object' || b === null || typeof b.read !== 'function' || typeof b.write !== 'function') {
    throw invalidArgument(`${what}: the first argument must be a Backend (such as MemoryBackend or LmdbBackend)`)
  }
}

/** The `tx` of an ApplyOptions, checked. */
function txOf(options: ApplyOptions, what: string): WriteTx | undefined {
  if (typeof options !== 'object' || options === null) throw invalidArgument(`${what}: options must be an object such as { tx }`)
  const tx = options.tx as Partial<WriteTx> | undefined
  if (tx !== undefined && (typeof tx !== 'object' || tx === null || typeof tx.put !== 'function' || typeof tx.delete !== 'function')) {
    throw invalidArgument(`${what}: options.tx must be the WriteTx a backend.write callback received`)
  }
  return tx as WriteTx | undefined
}
