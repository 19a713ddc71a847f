import assert from 'node:assert'
import type { Clock, Failpoint, Timer } from '@strata/seams'
import type { BucketName, WriteTx } from './backend.js'
import { backendError, checkFunction } from './limits.js'
import { OrderedMap } from './ordered-map.js'

/** Marks a key deleted in the pending batch (a tombstone over the committed value). */
export const TOMBSTONE = null
export type Pending = Uint8Array | typeof TOMBSTONE

/**
 * The pending batch (etcd's batchTxBuffered): the last write to each key since the previous
 * commit, per bucket, in key order, with deletes kept as tombstones so that reads merging it
 * over the committed state see them.
 */
export class PendingBatch {
  /** Invariant: holds a map only for buckets written since the batch began. */
  readonly #buckets = new Map<BucketName, OrderedMap<Pending>>()
  /**
   * The undo journal of the running write() callbacks, flat as (bucket, key, previous pending
   * value or undefined) triples. Invariant: empty outside write() callbacks.
   */
  readonly #journal: unknown[] = []
  /** Invariant: counts every put and delete since the batch began (rewrites of a key included), as etcd's `pending` does. */
  #writes = 0

  /** Puts and deletes since the batch began; what `batchLimit` is compared with. */
  get writes(): number {
    return this.#writes
  }

  put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void {
    this.#journal.push(bucket, key, this.#map(bucket).set(key, value))
    this.#writes++
  }

  delete(bucket: BucketName, key: Uint8Array): void {
    this.#journal.push(bucket, key, this.#map(bucket).set(key, TOMBSTONE))
    this.#writes++
  }

  /** Where the undo journal ends now: a savepoint for {@link rollbackTo}. */
  get savepoint(): number {
    return this.#journal.length
  }

  /**
   * Undoes every put and delete made since `savepoint` (newest first) and returns the
   * [bucket, key] pairs they touched, so that a backend can refresh what it derived from them.
   */
  rollbackTo(savepoint: number): Array<[BucketName, Uint8Array]> {
    assert(savepoint >= 0 && savepoint <= this.#journal.length && savepoint % 3 === 0, 'bad savepoint')
    const touched: Array<[BucketName, Uint8Array]> = []
    for (let i = this.#journal.length - 3; i >= savepoint; i -= 3) {
      const bucket = this.#journal[i] as BucketName
      const key = this.#journal[i + 1] as Uint8Array
      const prev = this.#journal[i + 2] as Pending | undefined
      const map = this.#buckets.get(bucket)!
      if (prev === undefined) map.delete(key)
      else map.set(key, prev)
      this.#writes--
      touched.push([bucket, key])
    }
    this.#journal.length = savepoint
    return touched
  }

  /** Forgets the undo journal (the outermost write() returned). */
  clearJournal(): void {
    this.#journal.length = 0
  }

  /** The pending value, TOMBSTONE for a pending delete, or undefined when the batch has not touched the key. */
  get(bucket: BucketName, key: Uint8Array): Pending | undefined {
    return this.#buckets.get(bucket)?.get(key)
  }

  /** The bucket's pending entries, or undefined when it has none. */
  bucket(bucket: BucketName): OrderedMap<Pending> | undefined {
    return this.#buckets.get(bucket)
  }

  /** Every bucket with pending entries. */
  entries(): IterableIterator<[BucketName, OrderedMap<Pending>]> {
    return this.#buckets.entries()
  }

  #map(bucket: BucketName): OrderedMap<Pending> {
    let map = this.#buckets.get(bucket)
    if (map === undefined) {
      map = new OrderedMap<Pending>()
      this.#buckets.set(bucket, map)
    }
    return map
  }
}

/** What a backend gives {@link BatchTx} to make a batch durable. */
export interface BatchTxOptions {
  readonly batchIntervalMs: number
  readonly batchLimit: number
  readonly clock: Clock
  readonly failpoint: Failpoint
  /** The WriteTx handed to write() callbacks and to the pre-commit hook. */
  readonly tx: WriteTx
  /**
   * Makes `batch` durable in one atomic transaction, calling `beforeCommit` inside it just before
   * it commits. Returns once durable; throws when nothing of it was committed.
   */
  apply(batch: PendingBatch, beforeCommit: () => void): void
  /** Called after a throwing write() callback's writes were undone in the batch, with the keys they touched. */
  rolledBack?(touched: ReadonlyArray<[BucketName, Uint8Array]>): void
}

type Waiter = { resolve: () => void; reject: (err: unknown) => void }

/**
 * When and how the pending batch commits (etcd's batchTx and its commit loop), shared by both
 * backends: a commit runs on commit(), at the end of the write() that fills the batch to
 * `batchLimit`, or `batchIntervalMs` ms after the batch's first write; the pre-commit hook runs
 * inside each commit; a failed commit stops all further writes (ERR_BACKEND_COMMIT), because
 * the writes of the failed batch are applied in memory but can never become durable.
 */
export class BatchTx {
  readonly #o: BatchTxOptions
  #batch = new PendingBatch()
  /** Invariant: armed only while the batch holds writes, nothing failed, not stopped. */
  #timer: Timer | undefined
  #hook: ((tx: WriteTx) => void) | undefined
  /** Invariant: > 0 exactly while a write() callback or the hook runs. */
  #depth = 0
  /** Invariant: > 0 while the backend swaps its medium (defragment, restore): no commit runs. */
  #paused = 0
  /** Callers of commit() waiting for the end of a write() callback or a pause. */
  #waiters: Waiter[] = []
  /** Invariant: set when the interval passed (or the limit was hit) during a pause. */
  #due = false
  #commits = 0
  /** Invariant: once set, never cleared. */
  #failure: unknown
  #stopped: string | undefined

  constructor(options: BatchTxOptions) {
    this.#o = options
  }

  get batch(): PendingBatch { return this.#batch }
  get tx(): WriteTx { return this.#o.tx }
  get commits(): number { return this.#commits }
  get failure(): unknown { return this.#failure }
  /** True while a write() callback (or the hook) runs: the only time mutations are allowed. */
  get writing(): boolean { return this.#depth > 0 }

  /** Throws ERR_BACKEND_CLOSED once stopped. */
  checkOpen(): void {
    if (this.#stopped !== undefined) throw backendError('ERR_BACKEND_CLOSED', `the backend is ${this.#stopped}; open it again to use it`)
  }

  /** Throws ERR_BACKEND_CLOSED once stopped and ERR_BACKEND_COMMIT once a commit failed. */
  checkWritable(): void {
    this.checkOpen()
    if (this.#failure !== undefined) {
      throw backendError('ERR_BACKEND_COMMIT', `an earlier commit failed (${String((this.#failure as Error)?.message ?? this.#failure)}); the backend refuses writes: close it and open it again`, {}, this.#failure)
    }
  }

  setHook(fn: ((tx: WriteTx) => void) | undefined): void {
    if (fn !== undefined) checkFunction('the pre-commit hook', fn)
    this.#hook = fn
  }

  /**
   * Runs `fn` against the pending batch. If `fn` throws, every write it made is undone first
   * (a nested write() undoes only its own), so a write() lands whole or not at all.
   */
  write<T>(fn: (tx: WriteTx) => T): T {
    this.checkWritable()
    checkFunction('the write() callback', fn)
    const batch = this.#batch
    const savepoint = batch.savepoint
    this.#depth++
    let ok = false
    try {
      const result = fn(this.#o.tx)
      ok = true
      return result
    } catch (err) {
      // The batch cannot have been committed in between: commits never run inside a callback.
      assert(this.#batch === batch, 'the batch changed inside a write() callback')
      const touched = batch.rollbackTo(savepoint)
      if (touched.length > 0) this.#o.rolledBack?.(touched)
      throw err
    } finally {
      this.#depth--
      if (this.#depth === 0) {
        this.#batch.clearJournal()
        this.#afterWrite(ok)
      }
    }
  }

  commit(): Promise<void> {
    try {
      this.checkWritable()
      if (this.#depth > 0 || this.#paused > 0) return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
      this.#commitNow()
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Holds every commit back until the matching resume() (writes still go into the batch). */
  pause(): void {
    this.#paused++
  }

  /** Ends a pause; runs the commits that waited for it. `discard` drops the pending batch first. */
  resume(discard = false): void {
    assert(this.#paused > 0, 'resume() without pause()')
    this.#paused--
    if (discard) {
      this.#timer?.cancel()
      this.#timer = undefined
      this.#batch = new PendingBatch()
    }
    // Inside a write() callback, the end of the outermost one runs what waited.
    if (this.#paused === 0 && this.#depth === 0 && this.#stopped === undefined) this.#runWaiting(false)
  }

  /** Stops for good: cancels the timer; waiting commits fail with ERR_BACKEND_CLOSED. */
  stop(state: string): void {
    this.#stopped = state
    this.#timer?.cancel()
    this.#timer = undefined
    for (const w of this.#waiters.splice(0)) w.reject(backendError('ERR_BACKEND_CLOSED', `the backend was ${state} before this commit ran; open it again`))
  }

  #afterWrite(ok: boolean): void {
    if (this.#stopped !== undefined || this.#paused > 0) return
    if (this.#waiters.length === 0 && !this.#due && this.#batch.writes < this.#o.batchLimit) {
      if (this.#batch.writes > 0 && this.#timer === undefined && this.#failure === undefined) {
        this.#timer = this.#o.clock.setTimer(this.#o.batchIntervalMs, () => this.#onTimer())
      }
      return
    }
    this.#runWaiting(ok)
  }

  /** Commits for the waiters (and a full or due batch); `rethrow`: the failure also surfaces to the caller. */
  #runWaiting(rethrow: boolean): void {
    const waiters = this.#waiters.splice(0)
    const due = this.#due || this.#batch.writes >= this.#o.batchLimit
    this.#due = false
    if (waiters.length === 0 && !due) {
      if (this.#batch.writes > 0 && this.#timer === undefined && this.#failure === undefined) {
        this.#timer = this.#o.clock.setTimer(this.#o.batchIntervalMs, () => this.#onTimer())
      }
      return
    }
    let error: unknown
    try {
      if (this.#failure !== undefined) this.checkWritable()
      else this.#commitNow()
    } catch (err) {
      error = err
    }
    for (const w of waiters) {
      if (error === undefined) w.resolve()
      else w.reject(error)
    }
    if (error !== undefined && rethrow && waiters.length === 0) throw error
  }

  #onTimer(): void {
    this.#timer = undefined
    if (this.#stopped !== undefined || this.#failure !== undefined) return
    if (this.#paused > 0) {
      this.#due = true
      return
    }
    try {
      this.#commitNow()
    } catch {
      // Kept in #failure: every later write and commit reports it.
    }
  }

  /** Runs the hook, then has the backend apply the batch atomically. */
  #commitNow(): void {
    assert(this.#depth === 0 && this.#paused === 0, 'a commit inside a write() callback or a pause')
    this.#timer?.cancel()
    this.#timer = undefined
    const failpoint = this.#o.failpoint
    try {
      if (this.#hook !== undefined) {
        this.#depth++
        try {
          this.#hook(this.#o.tx)
        } finally {
          this.#depth--
        }
      }
      if (this.#batch.writes === 0) return
      this.#o.apply(this.#batch, () => failpoint('backendBeforeCommit'))
    } catch (err) {
      throw this.#fail(err)
    }
    this.#batch = new PendingBatch()
    this.#commits++
    try {
      failpoint('backendAfterCommit')
    } catch (err) {
      throw this.#fail(err)
    }
  }

  #fail(err: unknown): unknown {
    this.#failure ??= err
    this.#timer?.cancel()
    this.#timer = undefined
    return err
  }
}
