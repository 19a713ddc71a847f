import { noFailpoint, systemClock } from '@strata/seams'
import { BUCKETS } from './backend.js'
import type { Backend, BackendOptions, BackendStats, BucketName, DefragmentOptions, KeyValuePair, RangeOptions, ReadTx, WriteTx } from './backend.js'
import { BatchTx, TOMBSTONE } from './batch-tx.js'
import type { PendingBatch } from './batch-tx.js'
import { backendError, checkBucket, checkBytes, checkFunction, checkKey, checkOptions, checkRange, checkValue } from './limits.js'
import { OrderedMap } from './ordered-map.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot-format.js'

/** Options of {@link MemoryBackend}: those of every backend (batchIntervalMs, batchLimit, clock, failpoint). */
export type MemoryBackendOptions = BackendOptions

const OPTION_KEYS: readonly string[] = ['batchIntervalMs', 'batchLimit', 'clock', 'failpoint']

type Buckets = Map<BucketName, OrderedMap<Uint8Array>>

function emptyBuckets(): Buckets {
  return new Map(BUCKETS.map((b) => [b, new OrderedMap<Uint8Array>()]))
}

function cloneBuckets(from: Buckets): Buckets {
  return new Map([...from].map(([b, m]) => [b, m.clone()]))
}

function countBytes(buckets: Buckets): number {
  let bytes = 0
  for (const map of buckets.values()) {
    map.walk(EMPTY, undefined, false, (k, v) => {
      bytes += k.length + v.length
    })
  }
  return bytes
}

const EMPTY = new Uint8Array(0)

/**
 * A deterministic in-memory backend with simulated durability, for tests and simulations.
 *
 * It keeps two states: the *committed* one, which is what survives a crash (the "disk"), and
 * the *live* one (committed plus the pending batch), which reads see. A commit applies the
 * pending batch to the committed state in one step, so a crash keeps a batch entirely or not
 * at all, as LMDB does.
 *
 * Emulating a crash and a restart:
 * ```ts
 * const b = new MemoryBackend({ clock })
 * b.write((tx) => tx.put('key', k, v))
 * const after = b.crash()      // b is dead; `after` holds only what had committed
 * ```
 * `crash()` drops the pending batch, cancels the timer, makes every later call on the old
 * instance fail with ERR_BACKEND_CLOSED, and returns a fresh backend over the surviving state.
 * After `close()` (which commits first) or `crash()`, `reopen()` returns another fresh backend
 * over the committed state, as often as wanted (each gets its own copy).
 *
 * Everything is synchronous and ordered: a commit happens inside the call that triggers it
 * (`commit()`, the write that reaches `batchLimit`, or the clock's timer), never later.
 *
 * Lifecycle: `new MemoryBackend(options)` or `await MemoryBackend.open(options)` (the same; the
 * constructor does no I/O: its only resource is the batch timer, armed by a write and released
 * by a commit, `close()` or `crash()`), then `close()`.
 */
export class MemoryBackend implements Backend {
  readonly #options: MemoryBackendOptions
  /** Invariant: what survives a crash; changes only by whole batches (or a whole restore). */
  #committed: Buckets = emptyBuckets()
  /** Invariant: the sum of key and value lengths in #committed. */
  #committedBytes = 0
  /** Invariant: equals #committed with the pending batch applied. */
  #live: Buckets = emptyBuckets()
  readonly #batchTx: BatchTx
  /** Invariant: > 0 exactly while a forEach/range walk runs (writes then are refused). */
  #walking = 0
  #state: 'open' | 'closed' | 'crashed' = 'open'
  /** Invariant: set by the first close(), which every later one waits for. */
  #closing: Promise<void> | undefined

  /** Validates `options` (ERR_BACKEND_INVALID_OPTION); holds no resource until the first write. */
  constructor(options: MemoryBackendOptions = {}) {
    const { batchIntervalMs, batchLimit } = checkOptions(options, OPTION_KEYS)
    this.#options = options
    const tx: WriteTx = {
      get: (bucket, key) => this.#get(bucket, key),
      range: (bucket, start, end, opts) => this.#range(bucket, start, end, opts),
      forEach: (bucket, start, end, fn) => this.#forEach(bucket, start, end, fn),
      put: (bucket, key, value) => this.#put(bucket, key, value),
      delete: (bucket, key) => this.#delete(bucket, key),
    }
    this.#batchTx = new BatchTx({
      batchIntervalMs,
      batchLimit,
      clock: options.clock ?? systemClock,
      failpoint: options.failpoint ?? noFailpoint,
      tx,
      apply: (batch, beforeCommit) => this.#apply(batch, beforeCommit),
      rolledBack: (touched) => this.#refreshLive(touched),
    })
  }

  /** The same as the constructor, for symmetry with `LmdbBackend.open`. */
  static async open(options: MemoryBackendOptions = {}): Promise<MemoryBackend> {
    return new MemoryBackend(options)
  }

  /** A backend whose committed (and live) state is a copy of `committed`. */
  static #over(committed: Buckets, options: MemoryBackendOptions): MemoryBackend {
    const b = new MemoryBackend(options)
    b.#committed = cloneBuckets(committed)
    b.#live = cloneBuckets(committed)
    b.#committedBytes = countBytes(committed)
    return b
  }

  write<T>(fn: (tx: WriteTx) => T): T {
    return this.#batchTx.write(fn)
  }

  read<T>(fn: (tx: ReadTx) => T): T {
    this.#batchTx.checkOpen()
    checkFunction('the read() callback', fn)
    return fn(this.#batchTx.tx)
  }

  /** Commits now (or, inside a write() callback, when the outermost one returns). */
  commit(): Promise<void> {
    return this.#batchTx.commit()
  }

  setPreCommitHook(fn: ((tx: WriteTx) => void) | undefined): void {
    this.#batchTx.checkOpen()
    this.#batchTx.setHook(fn)
  }

  /** The committed state after committing the pending batch, in FORMAT.md's stream format. */
  async *snapshot(): AsyncGenerator<Uint8Array> {
    await this.commit()
    const frozen = cloneBuckets(this.#committed)
    yield* encodeSnapshot(function* (bucket) {
      for (const [key, value] of frozen.get(bucket)!.entries()) yield { key, value }
    })
  }

  async restore(snapshot: AsyncIterable<Uint8Array>): Promise<void> {
    this.#batchTx.checkWritable()
    this.#batchTx.pause()
    let ok = false
    try {
      const staged = emptyBuckets()
      // Copies: the decoder hands views of the stream's chunks.
      await decodeSnapshot(snapshot, (bucket, key, value) => {
        staged.get(bucket)!.set(key.slice(), value.slice())
      })
      this.#batchTx.checkWritable()
      this.#committed = staged
      this.#committedBytes = countBytes(staged)
      this.#live = cloneBuckets(staged)
      ok = true
    } finally {
      this.#batchTx.resume(ok)
    }
  }

  /** Bytes of the committed keys and values; both sizes are that figure (nothing to reclaim). */
  stats(): BackendStats {
    this.#batchTx.checkOpen()
    const bytes = this.#committedBytes
    return { sizeBytes: bytes, sizeInUseBytes: bytes, pendingWrites: this.#batchTx.batch.writes, commits: this.#batchTx.commits }
  }

  /** Commits the pending batch; an in-memory map has no free space to reclaim (nothing to copy: `onProgress` is not called). */
  async defragment(options: DefragmentOptions = {}): Promise<void> {
    if (options.onProgress !== undefined) checkFunction('the onProgress option of defragment()', options.onProgress)
    await this.commit()
  }

  /**
   * Commits what is pending and releases the medium; resolves when done. If that commit
   * fails, the backend is closed all the same and the error is rethrown. Idempotent: a later call
   * resolves when the first is done, without its error. Other calls afterwards fail with
   * ERR_BACKEND_CLOSED.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing.catch(() => {})
    this.#closing = this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    if (this.#state !== 'open') return
    let error: unknown
    try {
      if (this.#batchTx.failure === undefined) await this.commit()
    } catch (err) {
      error = err // closed all the same, as LmdbBackend does
    }
    this.#state = 'closed'
    this.#batchTx.stop('closed')
    if (error !== undefined) throw error
  }

  /**
   * Simulates a crash (power loss): everything not committed is gone. This instance is dead
   * afterwards (ERR_BACKEND_CLOSED); the returned backend holds exactly the committed batches.
   */
  crash(options: MemoryBackendOptions = this.#options): MemoryBackend {
    if (this.#batchTx.writing) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'crash() was called inside a write() callback; call it after the callback returns')
    this.#state = 'crashed'
    this.#batchTx.stop('crashed')
    return MemoryBackend.#over(this.#committed, options)
  }

  /** After close() or crash(): a fresh backend over the committed state (its own copy). */
  reopen(options: MemoryBackendOptions = this.#options): MemoryBackend {
    if (this.#state === 'open') throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'reopen() needs a closed or crashed backend; call close() or crash() first')
    return MemoryBackend.#over(this.#committed, options)
  }

  /** The error that stopped this backend accepting writes, or undefined while it is healthy. */
  get failure(): unknown {
    return this.#batchTx.failure
  }

  /** Moves the batch into the committed state in one step (nothing in it can throw half-way). */
  #apply(batch: PendingBatch, beforeCommit: () => void): void {
    beforeCommit()
    for (const [bucket, pending] of batch.entries()) {
      const map = this.#committed.get(bucket)!
      pending.walk(EMPTY, undefined, false, (key, value) => {
        if (value === TOMBSTONE) {
          const old = map.get(key)
          if (old !== undefined && map.delete(key)) this.#committedBytes -= key.length + old.length
        } else {
          const old = map.set(key, value)
          this.#committedBytes += key.length + value.length - (old === undefined ? 0 : key.length + old.length)
        }
      })
    }
  }

  /** After a rollback in the batch: the live value of each touched key is the batch's, else the committed one. */
  #refreshLive(touched: ReadonlyArray<[BucketName, Uint8Array]>): void {
    for (const [bucket, key] of touched) {
      const live = this.#live.get(bucket)!
      const pending = this.#batchTx.batch.get(bucket, key)
      const value = pending === undefined ? this.#committed.get(bucket)!.get(key) : pending
      if (value === TOMBSTONE || value === undefined) live.delete(key)
      else live.set(key, value)
    }
  }

  #get(bucket: BucketName, key: Uint8Array): Uint8Array | undefined {
    checkBucket(bucket)
    checkBytes('a key', key)
    return this.#live.get(bucket)!.get(key)
  }

  #range(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, options: RangeOptions = {}): KeyValuePair[] {
    checkBucket(bucket)
    checkRange(start, end, options)
    const limit = options.limit ?? 0
    const out: KeyValuePair[] = []
    this.#walk(bucket, start, end, options.reverse === true, (key, value) => {
      out.push({ key, value })
      return limit <= 0 || out.length < limit
    })
    return out
  }

  #forEach(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, fn: (key: Uint8Array, value: Uint8Array) => boolean | void): void {
    checkBucket(bucket)
    checkRange(start, end, undefined)
    checkFunction('the forEach callback', fn)
    this.#walk(bucket, start, end, false, fn)
  }

  #walk(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, reverse: boolean, fn: (key: Uint8Array, value: Uint8Array) => boolean | void): void {
    this.#walking++
    try {
      this.#live.get(bucket)!.walk(start, end, reverse, fn)
    } finally {
      this.#walking--
    }
  }

  #put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void {
    this.#checkMutation(bucket, key)
    checkValue(bucket, value)
    // Copies: the caller may reuse its buffers, and what is stored must never change.
    const k = key.slice()
    const v = value.slice()
    this.#batchTx.batch.put(bucket, k, v)
    this.#live.get(bucket)!.set(k, v)
  }

  #delete(bucket: BucketName, key: Uint8Array): void {
    this.#checkMutation(bucket, key)
    const k = key.slice()
    this.#batchTx.batch.delete(bucket, k)
    this.#live.get(bucket)!.delete(k)
  }

  #checkMutation(bucket: BucketName, key: Uint8Array): void {
    if (!this.#batchTx.writing) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a WriteTx is usable only inside its write() callback; make the write inside a write() call')
    this.#batchTx.checkWritable()
    checkBucket(bucket)
    checkKey(bucket, key)
    if (this.#walking > 0) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a write during forEach/range would invalidate the walk; collect the keys, then write after the walk')
  }
}
