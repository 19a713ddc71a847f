import assert from 'node:assert'
import type { Clock, Failpoint, Timer } from '@strata/seams'
import type { BucketName, WriteTx } from './backend.js'
import { backendError, checkFunction } from './limits.js'
import { OrderedMap, compareBytes } from './ordered-map.js'

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

  /** {@link put} of copies, each a view into a shared slab (see {@link copyToSlab}). */
  putCopy(bucket: BucketName, key: Uint8Array, value: Uint8Array): void {
    this.put(bucket, copyToSlab(key), copyToSlab(value))
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

const SLAB_BYTES = 256 * 1024
const SLAB_ITEM_MAX_BYTES = 8 * 1024
let slab = new ArrayBuffer(SLAB_BYTES)
let slabAt = 0

/**
 * A copy of `b` as a view into a shared slab (as Buffer's pool does, but a plain Uint8Array):
 * a copy over 64 bytes in an ArrayBuffer of its own costs a backing store outside V8's heap,
 * ~2 µs to allocate and free, once per record written; a smaller one (`slice()`) is ~225 bytes
 * of V8's heap (the array, its ArrayBuffer, the bytes) against ~97 for a view, and the keys and
 * small values of a batch are what its scavenges copy while it waits for its commit. Pending
 * keys and values live until their batch commits, so slabs are freed batch by batch (a pending
 * value or key a reader keeps holds its slab). Copies over 8 KiB get an array of their own.
 */
function copyToSlab(b: Uint8Array): Uint8Array {
  const n = b.length
  if (n > SLAB_ITEM_MAX_BYTES) return b.slice()
  if (slabAt + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    slabAt = 0
  }
  const out = new Uint8Array(slab, slabAt, n)
  out.set(b)
  slabAt += (n + 7) & ~7
  return out
}

/** What reads merge over the committed state: a cursor's keys in order, each with its pending value. */
export interface OverlayCursor {
  next(): Uint8Array | undefined
  value: Pending | undefined
}

/**
 * The keys of two overlays in order (ascending, or descending when `reverse`), `top`'s entry
 * hiding `under`'s for the same key: the pending batch over the batch in flight.
 */
export class MergedCursor implements OverlayCursor {
  readonly #top: OverlayCursor
  readonly #under: OverlayCursor
  readonly #sign: number
  #t: Uint8Array | undefined
  #u: Uint8Array | undefined
  value: Pending | undefined

  constructor(top: OverlayCursor, under: OverlayCursor, reverse: boolean) {
    this.#top = top
    this.#under = under
    this.#sign = reverse ? -1 : 1
    this.#t = top.next()
    this.#u = under.next()
  }

  next(): Uint8Array | undefined {
    const t = this.#t
    const u = this.#u
    if (t === undefined && u === undefined) return undefined
    const order = t === undefined ? 1 : u === undefined ? -1 : this.#sign * compareBytes(t, u)
    if (order <= 0) {
      this.value = this.#top.value
      this.#t = this.#top.next()
      if (order === 0) this.#u = this.#under.next()
      return t
    }
    this.value = this.#under.value
    this.#u = this.#under.next()
    return u
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
   * it commits. Either synchronously (returns once durable; throws when nothing of it was
   * committed), or asynchronously: returns at once a promise that resolves once the batch is
   * durable and rejects when nothing of it was committed; `batch` is not modified meanwhile and
   * reads see it through {@link BatchTx.inflight}.
   */
  apply(batch: PendingBatch, beforeCommit: () => void): void | Promise<void>
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
 *
 * A backend whose apply is asynchronous (LMDB: the commit and its fsync run on lmdb-js's writer
 * thread) has at most one batch in flight: writes meanwhile go into a new pending batch, reads
 * merge the pending batch over the in-flight one over the committed state, and a commit that
 * falls due while one is in flight starts when it completes.
 */
export class BatchTx {
  readonly #o: BatchTxOptions
  #batch = new PendingBatch()
  /** Invariant: the batch an asynchronous apply is committing; kept after a failed one (its writes stay visible). */
  #inflight: PendingBatch | undefined
  /** Invariant: set exactly while an asynchronous apply runs; settles (never rejects) when it ends. */
  #running: Promise<void> | undefined
  /** Invariant: armed only while the batch holds writes, nothing failed, not stopped. */
  #timer: Timer | undefined
  #hook: ((tx: WriteTx) => void) | undefined
  /** Invariant: > 0 exactly while a write() callback or the hook runs. */
  #depth = 0
  /** Invariant: > 0 while the backend swaps its medium (defragment, restore): no commit starts. */
  #paused = 0
  /** Callers of commit() waiting for the end of a write() callback, a pause or the commit in flight. */
  #waiters: Waiter[] = []
  /** Invariant: set when the interval passed (or the limit was hit) while no commit could start. */
  #due = false
  #commits = 0
  /** Invariant: once set, never cleared. */
  #failure: unknown
  #stopped: string | undefined

  constructor(options: BatchTxOptions) {
    this.#o = options
  }

  get batch(): PendingBatch { return this.#batch }
  /** The batch being committed asynchronously (reads merge it under {@link batch}), if any. */
  get inflight(): PendingBatch | undefined { return this.#inflight }
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
      if (this.#blocked()) return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
      return this.#commitNow() ?? Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Resolves once no commit is in flight (whatever its outcome). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running
  }

  /** Holds every commit back until the matching resume() (writes still go into the batch; one in flight completes). */
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

  /** Stops for good: cancels the timer; waiting commits fail with ERR_BACKEND_CLOSED (one in flight still completes). */
  stop(state: string): void {
    this.#stopped = state
    this.#timer?.cancel()
    this.#timer = undefined
    for (const w of this.#waiters.splice(0)) w.reject(backendError('ERR_BACKEND_CLOSED', `the backend was ${state} before this commit ran; open it again`))
  }

  /** True when a commit cannot start now: inside a write() callback, during a pause, or while one is in flight. */
  #blocked(): boolean {
    return this.#depth > 0 || this.#paused > 0 || this.#running !== undefined
  }

  #afterWrite(ok: boolean): void {
    if (this.#stopped !== undefined || this.#paused > 0) return
    if (this.#waiters.length === 0 && !this.#due && this.#batch.writes < this.#o.batchLimit) {
      this.#armTimer()
      return
    }
    this.#runWaiting(ok)
  }

  #armTimer(): void {
    if (this.#batch.writes > 0 && this.#timer === undefined && this.#failure === undefined && this.#stopped === undefined) {
      this.#timer = this.#o.clock.setTimer(this.#o.batchIntervalMs, () => this.#onTimer())
    }
  }

  /** Commits for the waiters (and a full or due batch); `rethrow`: a synchronous failure also surfaces to the caller. */
  #runWaiting(rethrow: boolean): void {
    const due = this.#due || this.#batch.writes >= this.#o.batchLimit
    if (this.#running !== undefined) {
      // Starts when the commit in flight completes.
      this.#due ||= due
      return
    }
    const waiters = this.#waiters.splice(0)
    this.#due = false
    if (waiters.length === 0 && !due) {
      this.#armTimer()
      return
    }
    let error: unknown
    let running: Promise<void> | undefined
    try {
      if (this.#failure !== undefined) this.checkWritable()
      else running = this.#commitNow()
    } catch (err) {
      error = err
    }
    if (running !== undefined) {
      for (const w of waiters) running.then(w.resolve, w.reject)
      // The failure is kept in #failure; every later write and commit reports it.
      if (waiters.length === 0) running.catch(() => {})
      return
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
    if (this.#paused > 0 || this.#running !== undefined) {
      this.#due = true
      return
    }
    try {
      this.#commitNow()?.catch(() => {})
    } catch {
      // Kept in #failure: every later write and commit reports it.
    }
  }

  /**
   * Runs the hook, then has the backend apply the batch atomically. Returns undefined when the
   * apply was synchronous (done), else the promise of the commit now in flight.
   */
  #commitNow(): Promise<void> | undefined {
    assert(!this.#blocked(), 'a commit inside a write() callback, a pause or another commit')
    this.#timer?.cancel()
    this.#timer = undefined
    const failpoint = this.#o.failpoint
    let applied: void | Promise<void>
    const batch = this.#batch
    try {
      if (this.#hook !== undefined) {
        this.#depth++
        try {
          this.#hook(this.#o.tx)
        } finally {
          this.#depth--
        }
      }
      if (batch.writes === 0) return undefined
      applied = this.#o.apply(batch, () => failpoint('backendBeforeCommit'))
    } catch (err) {
      throw this.#fail(err)
    }
    this.#batch = new PendingBatch()
    if (applied === undefined) {
      this.#committed()
      return undefined
    }
    this.#inflight = batch
    const running = applied.then(
      () => {
        this.#inflight = undefined
        this.#committed()
      },
      (err: unknown) => {
        throw this.#fail(err)
      },
    ).finally(() => {
      this.#running = undefined
      if (this.#stopped === undefined && this.#paused === 0) {
        // Inside the microtask no write() callback runs: what waited starts now.
        try {
          this.#runWaiting(false)
        } catch {
          // Only a synchronous apply throws here, and that is kept in #failure.
        }
      }
    })
    this.#running = running.catch(() => {})
    return running
  }

  /** A batch became durable: counts it and runs the after-commit failpoint. */
  #committed(): void {
    this.#commits++
    try {
      this.#o.failpoint('backendAfterCommit')
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
