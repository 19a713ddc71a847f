import assert from 'node:assert'
import type { Backend, WriteTx } from '@strata/backend'
import { type Failpoint, noFailpoint } from '@strata/seams'
import { MvccError, compactedError, futureRevError } from './errors.js'
import { type KvHash, type XxHash, hashKeyBucket, loadHasher } from './hash.js'
import { keyBytes } from './kv.js'
import { DEFAULT_COMPACTION_BATCH_LIMIT, MAX_COMPACTION_BATCH_LIMIT, runPhysicalCompaction } from './kvstore-compaction.js'
import { type Rebuilt, SCHEDULED_COMPACT_KEY, rebuildIndex, rebuildIndexFromScan } from './kvstore-rebuild.js'
import { TxnRead, TxnWrite } from './kvstore-txn.js'
import { DEFAULT_MAX_KEY_BYTES, DEFAULT_MAX_TXN_OPS, DEFAULT_MAX_VALUE_BYTES, type Limits } from './limits.js'
import { encodeRevision } from './revision.js'
import { type LeaseChangeFn, StoreState } from './store-state.js'
import { checkTxn, runTxn } from './txn-request.js'
import type { Bytes, DeleteOptions, DeleteResult, MvccEvent, PutOptions, PutResult, RangeOptions, RangeResult, TxnRequest, TxnResult } from './types.js'

export interface MvccStoreOptions {
  /** Largest key in bytes. Default 32,768 (32 KiB). */
  readonly maxKeyBytes?: number
  /** Largest value in bytes. Default 1,572,864 (1.5 MiB, etcd's request limit). */
  readonly maxValueBytes?: number
  /** Most operations per txn branch and most compares per txn. Default 128. */
  readonly maxTxnOps?: number
  /** Revisions visited per physical compaction batch (one backend write + commit). Default 1,000; at most 100,000. */
  readonly compactionBatchLimit?: number
  /**
   * Awaited between physical compaction batches so other work runs. Default: resolve on the
   * next `setImmediate` (after pending I/O callbacks). Tests pass `() => Promise.resolve()`.
   */
  readonly yieldFn?: () => Promise<void>
  /** Called at 'compactBeforeCommitBatch' and 'compactAfterCommitBatch'; may throw to simulate a crash. Default: nothing. */
  readonly failpoint?: Failpoint
  /** Called once per key attached to a lease found by the rebuild at open and restore. */
  readonly onLeaseAttached?: (key: Uint8Array, lease: number) => void
  /** Called when a write changes the lease of a key (0 for none), so a lessor can follow. */
  readonly onLeaseChanged?: LeaseChangeFn
}

/** Receives each write txn with changes, after the store revision moved to `revision`. */
export type WriteObserver = (revision: number, events: readonly MvccEvent[]) => void

export interface CompactOptions {
  /**
   * Runs inside the backend write that records the scheduled compaction, so a driver can put
   * its applied index in the same transaction. Default: nothing.
   */
  readonly write?: (tx: WriteTx) => void
}

/** A handle on an accepted compaction. */
export interface CompactHandle {
  /** Resolves once `scheduledCompactRev` is committed (durable). */
  readonly scheduled: Promise<void>
  /** Resolves once the physical deletion is complete (or stopped by restore/close). */
  readonly done: Promise<void>
}

/**
 * The revisioned key-value store (etcd's mvcc store): an in-memory {@link TreeIndex} of keys
 * to revisions over a {@link Backend} key bucket holding every revision's value.
 *
 * Concurrency and lock order. JavaScript runs each synchronous section to completion, so the
 * sections below are this store's "store.mu": `read`, `write` (and put/range/deleteRange/txn),
 * the logical part of `compact`, one physical compaction batch, and the rebuild inside
 * `restore`. They never interleave. Only two things are asynchronous:
 *   1. the physical compaction job (FIFO): between batches it awaits a backend commit and
 *      `yieldFn`, and checks the stop signal *without waiting on anything*;
 *   2. `restore`/`close`: raise the stop signal (bump `#epoch`) → wait for the running job →
 *      rebuild synchronously.
 * Order: restore → stop signal → job; a job never waits for restore. That is the rule etcd's
 * #11817 deadlock broke (its compaction barrier took store.mu before checking stopc). A
 * WatchableStore is notified after a write ended, never while one runs.
 */
export class MvccStore {
  /** Invariant: the backend the index was rebuilt from (changes only in restore). */
  #backend: Backend
  readonly #state: StoreState
  readonly #hasher: XxHash
  readonly #batchLimit: number
  readonly #yieldFn: () => Promise<void>
  readonly #failpoint: Failpoint
  readonly #onLeaseAttached: ((key: Uint8Array, lease: number) => void) | undefined
  /** Invariant: called after every write txn with changes, never during one. */
  #observer: WriteObserver | undefined
  /** Invariant: a job scheduled under an older epoch stops before its next batch. */
  #epoch = 0
  /** Invariant: settles (never rejects) once every scheduled job has ended. */
  #jobs: Promise<void> = Promise.resolve()
  /** Invariant: true exactly while a `write` callback runs (writes are not reentrant). */
  #inWrite = false
  /** Invariant: once true, never false; every later call fails with ERR_STORE_CLOSED. */
  #closed = false
  /** Invariant: true exactly while `restore` runs; writes and compactions are refused meanwhile. */
  #restoring = false

  private constructor(backend: Backend, hasher: XxHash, options: MvccStoreOptions) {
    const limits: Limits = {
      maxKeyBytes: options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES,
      maxValueBytes: options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES,
      maxTxnOps: options.maxTxnOps ?? DEFAULT_MAX_TXN_OPS,
    }
    for (const [name, n] of Object.entries(limits)) {
      if (!Number.isSafeInteger(n) || n < 1) throw new MvccError('ERR_INVALID_OPTION', `mvcc: ${name} must be a positive integer, got ${n}`)
    }
    const batchLimit = options.compactionBatchLimit ?? DEFAULT_COMPACTION_BATCH_LIMIT
    if (!Number.isSafeInteger(batchLimit) || batchLimit < 1 || batchLimit > MAX_COMPACTION_BATCH_LIMIT) {
      throw new MvccError('ERR_INVALID_OPTION', `mvcc: compactionBatchLimit must be 1..${MAX_COMPACTION_BATCH_LIMIT}, got ${batchLimit}`)
    }
    this.#backend = backend
    this.#hasher = hasher
    this.#state = new StoreState(limits, options.onLeaseChanged)
    this.#batchLimit = batchLimit
    this.#yieldFn = options.yieldFn ?? (() => new Promise<void>((resolve) => setImmediate(resolve)))
    this.#failpoint = options.failpoint ?? noFailpoint
    this.#onLeaseAttached = options.onLeaseAttached
  }

  /**
   * Opens a store over `backend`: rebuilds the index from the key bucket in one pass, reports
   * lease attachments, and resumes a compaction a crash interrupted.
   */
  static async open(backend: Backend, options: MvccStoreOptions = {}): Promise<MvccStore> {
    const store = new MvccStore(backend, await loadHasher(), options)
    store.#recover(await rebuildIndexFromScan(backend))
    return store
  }

  /** The revision of the last write txn with changes (1 for a new store). */
  get revision(): number {
    return this.#state.currentRev
  }

  /** Reads below this revision fail with ERR_COMPACTED (0: never compacted). */
  get compactRevision(): number {
    return this.#state.compactMainRev
  }

  /** Keys with history in the index (alive or deleted but not compacted away). */
  get indexSize(): number {
    return this.#state.index.size
  }

  /** The backend the store currently reads and writes. */
  get backend(): Backend {
    return this.#backend
  }

  /** Sets the receiver of write txns' changes (the WatchableStore). One at a time. */
  setWriteObserver(fn: WriteObserver | undefined): void {
    assert(fn === undefined || this.#observer === undefined, 'a write observer is already set')
    this.#observer = fn
  }

  /** Runs `fn` with a read view at the current revision. */
  read<T>(fn: (txn: TxnRead) => T): T {
    this.#checkOpen()
    return this.#backend.read((tx) => fn(new TxnRead(this.#state, tx)))
  }

  /**
   * Runs `fn` as one write txn inside one `backend.write`: all its changes get one main
   * revision, and `tx` lets the caller write its own keys (the applied index in `meta`) in the
   * same backend transaction. If `fn` throws, the backend undoes the writes of the call and the
   * store takes back the txn's changes from its index too: nothing happened. (If `fn` returned
   * and the backend then failed to commit, the changes stay: the backend refuses all further
   * writes and must be reopened anyway.)
   */
  write<T>(fn: (txn: TxnWrite, tx: WriteTx) => T): T {
    this.#checkOpen()
    assert(!this.#inWrite, 'MvccStore.write is not reentrant')
    assert(!this.#restoring, 'write during restore')
    this.#inWrite = true
    let txn: TxnWrite | undefined
    let returned = false
    try {
      return this.#backend.write((tx) => {
        txn = new TxnWrite(this.#state, tx)
        const result = fn(txn, tx)
        returned = true
        return result
      })
    } finally {
      this.#inWrite = false
      if (txn !== undefined) {
        if (returned) this.#end(txn)
        else txn.rollback()
      }
    }
  }

  #end(txn: TxnWrite): void {
    if (txn.changes.length === 0) return
    this.#state.currentRev = txn.beginRev + 1
    this.#observer?.(this.#state.currentRev, txn.changes)
  }

  range(key: Bytes, end?: Bytes, options?: RangeOptions): RangeResult {
    return this.read((txn) => txn.range(key, end, options))
  }

  put(key: Bytes, value: Bytes, options?: PutOptions): PutResult {
    return this.write((txn) => txn.put(key, value, options))
  }

  deleteRange(key: Bytes, end?: Bytes, options?: DeleteOptions): DeleteResult {
    return this.write((txn) => txn.deleteRange(key, end, options))
  }

  /** Runs a txn request (validated whole before anything is written) as one write txn. */
  txn(request: TxnRequest): TxnResult {
    const checked = checkTxn(this.#state.limits, request)
    return this.write((txn) => runTxn(txn, checked))
  }

  /**
   * Compacts history up to `rev`: reads below `rev` fail from now on and the index drops the
   * old revisions at once; the backend entries are deleted by a background job in batches.
   * Throws ERR_COMPACTED when `rev` is not above the compact revision, ERR_FUTURE_REV above
   * the current revision.
   */
  compact(rev: number, options: CompactOptions = {}): CompactHandle {
    this.#checkOpen()
    assert(!this.#inWrite && !this.#restoring, 'compact inside a write or during restore')
    if (!Number.isSafeInteger(rev) || rev < 0) throw new MvccError('ERR_INVALID_REVISION', `mvcc: bad compact revision ${rev}`)
    if (rev <= this.#state.compactMainRev) throw compactedError(rev, this.#state.compactMainRev)
    if (rev > this.#state.currentRev) throw futureRevError(rev, this.#state.currentRev)
    this.#backend.write((tx) => {
      tx.put('meta', SCHEDULED_COMPACT_KEY, encodeRevision({ main: rev, sub: 0 }))
      options.write?.(tx)
    })
    return this.#schedule(rev, this.#backend.commit())
  }

  /** The logical compaction and the job; `scheduled` is the commit of the scheduled mark. */
  #schedule(rev: number, scheduled: Promise<void>): CompactHandle {
    this.#state.compactMainRev = rev
    const keep = this.#state.index.compact(rev)
    const epoch = this.#epoch
    const backend = this.#backend
    const run = async (): Promise<void> => {
      await scheduled
      await runPhysicalCompaction(backend, { rev, keep }, {
        batchLimit: this.#batchLimit,
        yieldFn: this.#yieldFn,
        failpoint: this.#failpoint,
        stopped: () => this.#epoch !== epoch || this.#closed,
      })
    }
    const done = this.#jobs.then(run)
    this.#jobs = done.catch(() => {})
    scheduled.catch(() => {})
    return { scheduled, done }
  }

  /**
   * HashKV: a hash of the key bucket up to `rev` (0: the current revision), equal on stores
   * that applied the same writes and compactions, whatever their physical compaction progress.
   */
  hashByRev(rev = 0): KvHash {
    this.#checkOpen()
    if (!Number.isSafeInteger(rev) || rev < 0) throw new MvccError('ERR_INVALID_REVISION', `mvcc: bad hash revision ${rev}`)
    const compactRev = this.#state.compactMainRev
    if (rev > this.#state.currentRev) throw futureRevError(rev, this.#state.currentRev)
    if (rev > 0 && rev < compactRev) throw compactedError(rev, compactRev)
    const at = rev === 0 ? this.#state.currentRev : rev
    const keep = this.#state.index.keep(at)
    return this.#backend.read((tx) => hashKeyBucket(this.#hasher, tx, compactRev, at, keep))
  }

  /** `hashByRev` at the current revision. */
  hash(): KvHash {
    return this.hashByRev(0)
  }

  /**
   * Replaces the state with what the backend holds after a snapshot is applied: stops a
   * running compaction between two batches and waits for it, then lets `source` replace the
   * contents (a function: e.g. `() => backend.restore(stream)`, or one returning another
   * backend to switch to; a Backend: switch to it; nothing: the contents were replaced
   * already), rebuilds the index and resumes an unfinished compaction. Replacing the contents
   * only after the job stopped matters: a batch run against the new contents with the old keep
   * set would delete live revisions. Lock order: restore → stop signal → job (#11817).
   */
  async restore(source?: Backend | (() => Promise<Backend | void>)): Promise<void> {
    this.#checkOpen()
    assert(!this.#inWrite && !this.#restoring, 'restore inside a write or during another restore')
    this.#restoring = true
    try {
      this.#epoch++
      await this.#jobs
      const next = typeof source === 'function' ? await source() : source
      if (next !== undefined) this.#backend = next
      // Synchronous, not the scan of open(): between the swap above and #recover no read may
      // run against the old index over the new backend.
      this.#recover(this.#backend.read((tx) => rebuildIndex(tx)))
    } finally {
      this.#restoring = false
    }
  }

  /** Stops compaction between batches and waits for it. The backend stays open (the caller owns it). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#epoch++
    await this.#jobs
  }

  /** Waits for every scheduled physical compaction to end. */
  async waitCompactions(): Promise<void> {
    await this.#jobs
  }

  /** Takes the state a rebuild recovered. */
  #recover(rebuilt: Rebuilt): void {
    const s = this.#state
    s.index = rebuilt.index
    s.keyLeases = rebuilt.keyLeases
    s.compactMainRev = rebuilt.finishedCompactRev
    // A crash during compaction may have deleted the newest surviving revisions' ancestors;
    // the revision must still never go backwards (etcd PR #17865).
    s.currentRev = Math.max(rebuilt.lastMain, rebuilt.finishedCompactRev, rebuilt.scheduledCompactRev)
    if (this.#onLeaseAttached !== undefined) {
      for (const [key, lease] of rebuilt.keyLeases) this.#onLeaseAttached(keyBytes(key), lease)
    }
    if (rebuilt.scheduledCompactRev > rebuilt.finishedCompactRev) {
      this.#schedule(rebuilt.scheduledCompactRev, Promise.resolve()).done.catch(() => {})
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new MvccError('ERR_STORE_CLOSED', 'mvcc: store is closed')
  }
}
