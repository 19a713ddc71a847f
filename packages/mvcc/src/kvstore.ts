import { type Backend, type Bytes, type WriteTx, compareBytes } from '@strata/backend'
import { type Failpoint, nextTurn, noFailpoint } from '@strata/seams'
import { MvccError, closedError, compactedError, describe, futureRevError, invalidArgument, invalidOption } from './errors.js'
import { type KvHash, type XxHash, hashKeyBucket, loadHasher } from './hash.js'
import { Totals, benchIntegrityChecks, writeTotals } from './integrity.js'
import { decodeLegacyKeyValue, encodeKeyValue, keyBytes, storedChecksum } from './kv.js'
import { DEFAULT_COMPACTION_BATCH_LIMIT, MAX_COMPACTION_BATCH_LIMIT, runPhysicalCompaction } from './kvstore-compaction.js'
import { type Rebuilt, SCHEDULED_COMPACT_KEY, rebuildIndex, rebuildIndexFromScan } from './kvstore-rebuild.js'
import { StoreTxnRead, StoreTxnWrite } from './kvstore-txn.js'
import { DEFAULT_MAX_KEY_BYTES, DEFAULT_MAX_TXN_OPS, DEFAULT_MAX_VALUE_BYTES, type IndexRange, type Limits, checkRange } from './limits.js'
import { encodeRevision } from './revision.js'
import { type LeaseChangeFn, StoreState } from './store-state.js'
import { checkTxn, runTxn } from './txn-request.js'
import type { DeleteOptions, DeleteResult, PutOptions, PutResult, RangeOptions, RangeResult, TxnRead, TxnRequest, TxnResult, TxnWrite, WatchEvent } from './types.js'

export interface MvccStoreOptions {
  /** Largest key in bytes, an integer >= 1. Default 32,768 (32 KiB). */
  readonly maxKeyBytes?: number
  /** Largest value in bytes, an integer >= 1. Default 1,572,864 (1.5 MiB, etcd's request limit). */
  readonly maxValueBytes?: number
  /** Most operations per txn branch and most compares per txn, an integer >= 1. Default 128. */
  readonly maxTxnOps?: number
  /** Revisions visited per physical compaction batch (one backend write + commit). Default 1,000; 1 to 100,000. */
  readonly compactionBatchLimit?: number
  /**
   * Awaited between physical compaction batches, and between the chunks of the index rebuild
   * at open, so other work runs. Default: resolve on the next `setImmediate` (after pending I/O
   * callbacks). Tests pass `() => Promise.resolve()`.
   */
  readonly yieldFn?: () => Promise<void>
  /** Called after each physical compaction batch commits: the highest main revision deleted up to, and the compaction's revision (equal when done). Default: nothing. */
  readonly onCompactionProgress?: (doneRevision: number, revision: number) => void
  /** Called at 'compactBeforeCommitBatch' and 'compactAfterCommitBatch'; may throw to simulate a crash. Default: `noFailpoint`. */
  readonly failpoint?: Failpoint
  /** Called once per key attached to a lease found by the rebuild at open and restore. Default: nothing. */
  readonly onLeaseAttached?: (key: Uint8Array, lease: number) => void
  /**
   * Called inside a write when it changes the lease of a key (`from`/`to`, 0 for none), so a
   * lessor can follow; called back with `to`/`from` swapped if the write is then undone. A throw
   * undoes the write. Default: nothing.
   */
  readonly onLeaseChanged?: LeaseChangeFn
  /**
   * The file named in ERR_MVCC_CORRUPT errors (the data directory or file of the backend).
   * Default: the backend's `path` when it has one, else "the backend".
   */
  readonly location?: string
}

/**
 * What a WatchableStore hears from its store. Internal (from `@strata/mvcc/internal` at most):
 * the one way a WatchableStore learns of writes, restores and the store's close.
 */
export interface StoreHooks {
  /** After each write txn with changes, once the store revision moved to `revision`; never during one. */
  written(revision: number, events: readonly WatchEvent[]): void
  /** After `restore` rebuilt the index from the new contents. */
  restored(): void
  /** When the store closes; the store's close waits for it. */
  closing(): Promise<void>
}

/** Invariant: at most one entry per store, set while a WatchableStore is open over it. */
const storeHooks = new WeakMap<MvccStore, StoreHooks>()

/**
 * Attaches (or with `undefined`, detaches) the hooks of the WatchableStore over `store`. A
 * second one fails with ERR_MVCC_WATCHABLE_EXISTS, a closed store with ERR_MVCC_CLOSED.
 */
export function attachStoreHooks(store: MvccStore, hooks: StoreHooks | undefined): void {
  if (hooks === undefined) {
    storeHooks.delete(store)
    return
  }
  if (store.closed) throw closedError('MvccStore')
  if (storeHooks.has(store)) {
    throw new MvccError('ERR_MVCC_WATCHABLE_EXISTS', 'mvcc: this MvccStore already has a WatchableStore; share that one, or close it before opening another')
  }
  storeHooks.set(store, hooks)
}

const FUNCTION_OPTIONS = ['yieldFn', 'onCompactionProgress', 'failpoint', 'onLeaseAttached', 'onLeaseChanged'] as const

/** Where the store's data lives, for corruption errors. */
function locationOf(backend: Backend, options: MvccStoreOptions): string {
  if (options.location !== undefined) return options.location
  const path = (backend as { path?: unknown }).path
  return typeof path === 'string' ? path : 'the backend'
}

/** Validates the options of {@link MvccStore.open}; returns the limits and the batch limit. */
function checkStoreOptions(options: MvccStoreOptions): { limits: Limits; batchLimit: number } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidOption(`MvccStore.open options must be an object, got ${describe(options)}`)
  const positive = (name: string, n: unknown, dflt: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (n === undefined) return dflt
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw invalidOption(`${name} must be an integer from 1 to ${max}, got ${describe(n)}; leave it out for the default ${dflt}`, { [name]: n })
    }
    return n
  }
  for (const name of FUNCTION_OPTIONS) {
    const f = options[name]
    if (f !== undefined && typeof f !== 'function') throw invalidOption(`${name} must be a function, got ${describe(f)}`)
  }
  if (options.location !== undefined && typeof options.location !== 'string') throw invalidOption(`location must be a string, got ${describe(options.location)}`)
  return {
    limits: {
      maxKeyBytes: positive('maxKeyBytes', options.maxKeyBytes, DEFAULT_MAX_KEY_BYTES),
      maxValueBytes: positive('maxValueBytes', options.maxValueBytes, DEFAULT_MAX_VALUE_BYTES),
      maxTxnOps: positive('maxTxnOps', options.maxTxnOps, DEFAULT_MAX_TXN_OPS),
    },
    batchLimit: positive('compactionBatchLimit', options.compactionBatchLimit, DEFAULT_COMPACTION_BATCH_LIMIT, MAX_COMPACTION_BATCH_LIMIT),
  }
}

function busyError(message: string): MvccError {
  return new MvccError('ERR_MVCC_BUSY', `mvcc: ${message}`)
}

function checkRevisionArg(what: string, rev: unknown): number {
  if (typeof rev !== 'number' || !Number.isSafeInteger(rev) || rev < 0) throw invalidArgument(`the ${what} revision must be a non-negative safe integer, got ${describe(rev)}`, { revision: rev })
  return rev
}

function isBackend(x: unknown): x is Backend {
  const b = x as Backend
  return typeof x === 'object' && x !== null && typeof b.read === 'function' && typeof b.write === 'function' && typeof b.commit === 'function'
}

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

/** What #write runs in a write txn, with the arguments it was handed. */
type WriteFn<T> = (txn: StoreTxnWrite, tx: WriteTx, a?: unknown, b?: unknown, c?: unknown) => T

/** MvccStore.put's txn: a module function, not a closure per put. */
function putIn(txn: StoreTxnWrite, _tx: WriteTx, key: Bytes, value: Bytes, options: PutOptions | undefined): PutResult {
  return txn.put(key, value, options)
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
  readonly #onCompactionProgress: ((doneRevision: number, revision: number) => void) | undefined
  readonly #failpoint: Failpoint
  readonly #onLeaseAttached: ((key: Uint8Array, lease: number) => void) | undefined
  /** Invariant: a job scheduled under an older epoch stops before its next batch. */
  #epoch = 0
  /** Invariant: settles (never rejects) once every scheduled job has ended. */
  #jobs: Promise<void> = Promise.resolve()
  /** Invariant: true exactly while a `write` callback runs (writes are not reentrant). */
  #inWrite = false
  /** Invariant: > 0 exactly while a {@link writeTotalsOnce} callback runs; write txns then leave the totals to it. */
  #totalsDeferred = 0
  /** Invariant: set exactly while #write runs (#inWrite): its callback, its txn once begun, whether the callback returned. */
  #writeFn: WriteFn<unknown> | undefined
  readonly #writeArgs: unknown[] = [undefined, undefined, undefined]
  #writeTxn: StoreTxnWrite | undefined
  #writeReturned = false
  /** Invariant: false outside {@link writeTotalsOnce}; true once a write txn inside it changed the totals. */
  #totalsUnwritten = false
  /** Invariant: once true, never false; every later call fails with ERR_MVCC_CLOSED. */
  #closed = false
  /** Invariant: set exactly while `restore` runs (writes and compactions are refused meanwhile); settles when it ends. */
  #restoreDone: Promise<void> | undefined
  /** Invariant: true while a restore rebuilds the index over contents already replaced: reads are refused (the index is the old one). */
  #rebuilding = false
  /** Invariant: true after a restore whose contents failed their checks, until a restore succeeds: reads are refused too. */
  #unreadable = false

  private constructor(backend: Backend, hasher: XxHash, options: MvccStoreOptions) {
    const { limits, batchLimit } = checkStoreOptions(options)
    this.#backend = backend
    this.#hasher = hasher
    this.#state = new StoreState(limits, options.onLeaseChanged, locationOf(backend, options))
    this.#batchLimit = batchLimit
    this.#yieldFn = options.yieldFn ?? nextTurn
    this.#onCompactionProgress = options.onCompactionProgress
    this.#failpoint = options.failpoint ?? noFailpoint
    this.#onLeaseAttached = options.onLeaseAttached
  }

  /**
   * Opens a store over `backend`: rebuilds the index from the key bucket in one pass, checking
   * every record's checksum and the record totals (ERR_MVCC_CORRUPT when they fail), migrates a
   * store of record format 1 (FORMAT.md), reports lease attachments, and resumes a compaction a
   * crash interrupted.
   */
  static async open(backend: Backend, options: MvccStoreOptions = {}): Promise<MvccStore> {
    if (!isBackend(backend)) throw invalidArgument(`MvccStore.open needs a Backend (MemoryBackend, LmdbBackend), got ${describe(backend)}`)
    checkStoreOptions(options)
    const store = new MvccStore(backend, await loadHasher(), options)
    const rebuilt = await rebuildIndexFromScan(backend, store.#state.location, store.#yieldFn)
    if (rebuilt.legacy) await migrateFormat1(backend)
    store.#recover(rebuilt.legacy ? backend.read((tx) => rebuildIndex(tx, store.#state.location)) : rebuilt)
    return store
  }

  /**
   * The first corruption this store met (ERR_MVCC_CORRUPT) since it was opened, or undefined.
   * Once set, every write fails with it: repair the data (restore) and reopen.
   */
  get corruption(): MvccError | undefined {
    return this.#state.corrupt
  }

  /**
   * Calls `fn` with each ERR_MVCC_CORRUPT this store meets while it runs (a read of a damaged
   * or missing record, a restore's rebuild), in a microtask after the operation that met it
   * failed; at once (in a microtask) when the store has met one already. A member raises its
   * CORRUPT alarm from it. Returns the function that stops the calls. A throw of `fn` is its own
   * (an uncaught exception), so `fn` should not throw.
   */
  onCorruption(fn: (err: MvccError) => void): () => void {
    if (typeof fn !== 'function') throw invalidArgument(`onCorruption needs a function, got ${describe(fn)}`)
    const listener = (err: MvccError): void => fn(err)
    this.#state.corruptionListeners.add(listener)
    const already = this.#state.corrupt
    if (already !== undefined) queueMicrotask(() => listener(already))
    return () => {
      this.#state.corruptionListeners.delete(listener)
    }
  }

  /** The revision of the last write txn with changes (1 for a new store). */
  get revision(): number {
    return this.#state.currentRev
  }

  /** Reads below this revision fail with ERR_MVCC_COMPACTED (0: never compacted). */
  get compactRevision(): number {
    return this.#state.compactMainRev
  }

  /** Keys with history in the index (alive or deleted but not compacted away). */
  get indexSize(): number {
    return this.#state.index.size
  }

  /** The file (or backend) ERR_MVCC_CORRUPT errors of this store name (the `location` option). */
  get location(): string {
    return this.#state.location
  }

  /** The backend the store currently reads and writes. */
  get backend(): Backend {
    return this.#backend
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed
  }

  /** Runs `fn` with a read view at the current revision. */
  read<T>(fn: (txn: TxnRead) => T): T {
    this.#checkOpen()
    if (this.#rebuilding) throw busyError('a read while restore rebuilds the index; await store.restored() first')
    if (this.#unreadable) this.#checkIntact()
    if (typeof fn !== 'function') throw invalidArgument(`read takes a callback, got ${describe(fn)}`)
    return this.#backend.read((tx) => fn(new StoreTxnRead(this.#state, tx)))
  }

  /**
   * Runs `fn`, which makes write txns (put, deleteRange, txn, write, deleteKeys) inside the
   * caller's one `backend.write`, whose `tx` it is given, with the record totals written once
   * at its end rather than by each txn: the apply loop's batch entry of hundreds of puts writes
   * the meta bucket's totals record once, not once per put (a backend put and two copies each,
   * ~5% of a put's apply). The totals still land in the transaction of the records they count:
   * each txn's records go into the caller's transaction, and the totals written last are the
   * store's own, which every txn that returned has added to (one undone by its own throw never
   * did). They are written when `fn` throws too, in case the caller goes on with its write; if
   * it does not, the backend undoes them with the rest (as `write` says, a throw of the outer
   * callback after a write returned is a crash). Nests.
   */
  writeTotalsOnce<T>(tx: WriteTx, fn: () => T): T {
    this.#checkOpen()
    if (typeof fn !== 'function') throw invalidArgument(`writeTotalsOnce takes a callback, got ${describe(fn)}`)
    this.#totalsDeferred++
    try {
      return fn()
    } finally {
      if (--this.#totalsDeferred === 0 && this.#totalsUnwritten) {
        this.#totalsUnwritten = false
        writeTotals(tx, this.#state.totals)
      }
    }
  }

  /**
   * Runs `fn` as one write txn inside one `backend.write`: all its changes get one main
   * revision, and `tx` lets the caller write its own keys (the applied index in `meta`) in the
   * same backend transaction. If `fn` throws, the backend undoes the writes of the call and the
   * store takes back the txn's changes from its index too: nothing happened. (If `fn` returned
   * and the backend then failed to commit, the changes stay: the backend refuses all further
   * writes and must be reopened anyway.)
   *
   * It may run inside the caller's own `backend.write(tx => ...)` on the same backend (the
   * backend nests writes): the apply loop does so to put mvcc, lease and auth effects in one
   * transaction. A throw inside `fn` then undoes only this write. But if the outer callback
   * throws *after* this write returned, the backend undoes this write too while the index and
   * the watchers already have it: treat that as a crash (rebuild with `restore()` or reopen).
   * A write inside another write callback of the same store fails with ERR_MVCC_BUSY.
   */
  write<T>(fn: (txn: TxnWrite, tx: WriteTx) => T): T {
    if (typeof fn !== 'function') throw invalidArgument(`write takes a callback, got ${describe(fn)}`)
    return this.#write(fn)
  }

  /** `fn(txn, tx, a, b, c)` as one write txn: the arguments ride along, so a caller needs no closure (put, every applied one). */
  #write<T>(fn: WriteFn<T>, a?: unknown, b?: unknown, c?: unknown): T {
    this.#checkOpen()
    if (this.#inWrite) throw busyError('a write (put, deleteRange, txn, write, deleteKeys) inside a write callback of the same store; make the change through the txn the callback was given')
    if (this.#restoreDone !== undefined) throw busyError('a write while restore runs; await restore() first')
    this.#checkIntact()
    this.#inWrite = true
    this.#writeFn = fn
    this.#writeArgs[0] = a
    this.#writeArgs[1] = b
    this.#writeArgs[2] = c
    this.#writeReturned = false
    try {
      return this.#backend.write(this.#runWrite) as T
    } finally {
      this.#inWrite = false
      const txn = this.#writeTxn
      this.#writeFn = undefined
      this.#writeArgs.fill(undefined)
      this.#writeTxn = undefined
      if (txn !== undefined) {
        if (this.#writeReturned) this.#end(txn)
        else txn.rollback()
      }
    }
  }

  /**
   * The backend write callback of {@link #write}, made once: the running write's callback, txn
   * and outcome live in fields (one write at a time: #inWrite), not in a closure per write.
   */
  readonly #runWrite = (tx: WriteTx): unknown => {
    const txn = new StoreTxnWrite(this.#state, tx)
    this.#writeTxn = txn
    const args = this.#writeArgs
    const result = this.#writeFn!(txn, tx, args[0], args[1], args[2])
    // The totals land in the transaction of the records they count (inside writeTotalsOnce,
    // the caller's, which writes them once at its end).
    if (txn.changes.length > 0 && benchIntegrityChecks.enabled) {
      if (this.#totalsDeferred > 0) this.#totalsUnwritten = true
      else {
        const totals = this.#state.totals.copy()
        txn.addTotalsTo(totals)
        writeTotals(tx, totals)
      }
    }
    this.#writeReturned = true
    return result
  }

  #end(txn: StoreTxnWrite): void {
    if (txn.changes.length === 0) return
    txn.addTotalsTo(this.#state.totals)
    this.#state.currentRev = txn.beginRev + 1
    storeHooks.get(this)?.written(this.#state.currentRev, txn.changes)
  }

  /**
   * Deletes each of `keys` (distinct, in bytewise order, as `compareBytes` of `@strata/backend`
   * orders them) as one write txn: every deletion at one new revision, none when no key exists.
   * Written through `tx`, a transaction of this store's backend the caller is inside
   * (`backend.write(tx => ...)`), so the deletions commit with whatever else the caller writes
   * there (a revoked lease's record, the applied index). Watchers get the DELETE events, and
   * `onLeaseChanged` hears of each deleted key's lease. This is the lessor's `RangeDeleter`.
   */
  deleteKeys(keys: readonly Uint8Array[], tx: WriteTx): void {
    this.#checkOpen()
    if (!Array.isArray(keys)) throw invalidArgument(`deleteKeys takes an array of Uint8Array keys, got ${describe(keys)}`)
    if (typeof tx !== 'object' || tx === null) throw invalidArgument(`deleteKeys takes the WriteTx of the caller's backend.write as its second argument, got ${describe(tx)}`)
    const ranges: IndexRange[] = []
    let previous: Uint8Array | undefined
    for (const key of keys) {
      if (!(key instanceof Uint8Array)) throw invalidArgument(`deleteKeys takes Uint8Array keys, got ${describe(key)}`)
      if (previous !== undefined && compareBytes(previous, key) >= 0) {
        throw invalidArgument('deleteKeys needs distinct keys in bytewise order; sort them with compareBytes from @strata/backend and drop duplicates')
      }
      ranges.push(checkRange(this.#state.limits, key, undefined))
      previous = key
    }
    this.#write((txn, inner) => {
      // Both Strata backends hand every write callback the same WriteTx: another object means
      // `tx` belongs to another backend, and the deletions would commit apart from its writes.
      if (inner !== tx) throw invalidArgument("deleteKeys got a WriteTx of another backend; pass the tx of a write on this store's backend (store.backend)")
      for (const r of ranges) txn.deleteRangeChecked(r, false)
    })
  }

  range(key: Bytes, end?: Bytes, options?: RangeOptions): RangeResult {
    return this.read((txn) => txn.range(key, end, options))
  }

  put(key: Bytes, value: Bytes, options?: PutOptions): PutResult {
    return this.#write(putIn as WriteFn<PutResult>, key, value, options)
  }

  deleteRange(key: Bytes, end?: Bytes, options?: DeleteOptions): DeleteResult {
    return this.write((txn) => txn.deleteRange(key, end, options))
  }

  /** Runs a txn request (validated whole before anything is written) as one write txn. */
  txn(request: TxnRequest): TxnResult {
    this.#checkOpen()
    const checked = checkTxn(this.#state.limits, request)
    return this.#write((txn) => runTxn(txn, checked))
  }

  /**
   * Compacts history up to `rev`: reads below `rev` fail from now on and the index drops the
   * old revisions at once; the backend entries are deleted by a background job in batches.
   * Throws ERR_MVCC_COMPACTED when `rev` is not above the compact revision, ERR_MVCC_FUTURE_REV above
   * the current revision.
   */
  compact(rev: number, options: CompactOptions = {}): CompactHandle {
    this.#checkOpen()
    if (this.#inWrite) throw busyError('compact inside a write callback; compact after it returned (use the `write` option to add to its transaction)')
    if (this.#restoreDone !== undefined) throw busyError('compact while restore runs; await restore() first')
    this.#checkIntact()
    checkRevisionArg('compact', rev)
    if (typeof options !== 'object' || options === null) throw invalidArgument(`the options of compact must be an object, got ${describe(options)}`)
    if (options.write !== undefined && typeof options.write !== 'function') throw invalidArgument(`compact's write option must be a function, got ${describe(options.write)}`)
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
        onProgress: this.#onCompactionProgress,
        failpoint: this.#failpoint,
        stopped: () => this.#epoch !== epoch || this.#closed || this.#state.corrupt !== undefined,
        totals: this.#state.totals,
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
    if (this.#rebuilding) throw busyError('a hash while restore rebuilds the index; await store.restored() first')
    checkRevisionArg('hash', rev)
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
   *
   * This is the only restore: the WatchableStore over this store (if any) then moves its
   * synced watchers back to unsynced, so each catches up from the new contents from the
   * revision it was at (a watcher whose next revision is now compacted gets the compacted
   * response), and those ahead of the new state wait for it to get there.
   */
  async restore(source?: Backend | (() => Promise<Backend | void>)): Promise<void> {
    this.#checkOpen()
    if (source !== undefined && typeof source !== 'function' && !isBackend(source)) {
      throw invalidArgument(`restore takes nothing, a Backend or a function returning a promise, got ${describe(source)}`)
    }
    if (this.#inWrite) throw busyError('restore inside a write callback; restore after it returned')
    if (this.#restoreDone !== undefined) throw busyError('restore while another restore runs; await the first one')
    let done = (): void => {}
    this.#restoreDone = new Promise<void>((resolve) => { done = resolve })
    try {
      this.#epoch++
      await this.#jobs
      const next = typeof source === 'function' ? await source() : source
      if (next !== undefined) {
        if (!isBackend(next)) throw invalidArgument(`restore's source function must resolve to a Backend or nothing, got ${describe(next)}`)
        this.#backend = next
      }
      // From here until #recover the index is the old one over the new contents: reads and
      // hashes are refused (ERR_MVCC_BUSY; callers await restored()) while the rebuild runs as
      // open's does, its scan on a thread of its own with the event loop turning between
      // chunks (a synchronous one held the loop ~1.2 s for 1M keys). Restored contents that
      // fail their checks leave the store refusing writes (ERR_MVCC_CORRUPT) until a good restore.
      this.#rebuilding = true
      let rebuilt = await this.#rebuildChecked()
      if (rebuilt.legacy) {
        await migrateFormat1(this.#backend)
        rebuilt = await this.#rebuildChecked()
      }
      this.#state.corrupt = undefined
      this.#unreadable = false
      this.#recover(rebuilt)
    } finally {
      this.#rebuilding = false
      this.#restoreDone = undefined
      done()
    }
    storeHooks.get(this)?.restored()
  }

  /** True while a restore runs (writes and compactions are refused; reads too once the contents are replaced). */
  get restoring(): boolean {
    return this.#restoreDone !== undefined
  }

  /** Settles when the running restore ends, however it ends; at once when none runs. */
  restored(): Promise<void> {
    return this.#restoreDone ?? Promise.resolve()
  }

  /**
   * Closes the WatchableStore over this store (its watchers end), stops compaction between
   * batches and waits for it. Idempotent. The backend stays open: the caller owns it (and
   * commits it: see the README on durability).
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#epoch++
    await storeHooks.get(this)?.closing()
    await this.#jobs
  }

  /** Waits for every scheduled physical compaction to end. */
  async waitCompactions(): Promise<void> {
    await this.#jobs
  }

  /** The rebuild of restore, as open's (the backend's head scan); a corruption it finds is also kept as the store's. */
  async #rebuildChecked(): Promise<Rebuilt> {
    try {
      return await rebuildIndexFromScan(this.#backend, this.#state.location, this.#yieldFn)
    } catch (err) {
      if (err instanceof MvccError && err.code === 'ERR_MVCC_CORRUPT') {
        this.#state.markCorrupt(err)
        // The index no longer describes the backend: reads would serve the wrong revisions.
        this.#unreadable = true
      }
      throw err
    }
  }

  /** Takes the state a rebuild recovered. */
  #recover(rebuilt: Rebuilt): void {
    const s = this.#state
    s.totals.set(rebuilt.totals)
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
    if (this.#closed) throw closedError('MvccStore')
  }

  /** Writes and compactions are refused once the store met a corruption. */
  #checkIntact(): void {
    const c = this.#state.corrupt
    if (c !== undefined) throw new MvccError('ERR_MVCC_CORRUPT', `mvcc: writes are refused: ${c.message}`, c.context as Record<string, unknown>, { cause: c })
  }
}

/**
 * Rewrites every record of format 1 (written before checksums) as format 2 and records the
 * totals, in one backend transaction, then commits: after a crash the store is either all
 * format 1 (migrated again on the next open) or all format 2. The whole bucket passes through
 * one write batch, so this holds it in memory once; it runs once per store.
 */
async function migrateFormat1(backend: Backend): Promise<void> {
  backend.write((tx) => {
    const pairs = tx.range('key', new Uint8Array(0), undefined)
    const totals = new Totals()
    for (const { key, value } of pairs) {
      const kv = decodeLegacyKeyValue(value)
      if (kv === undefined) throw new MvccError('ERR_MVCC_CORRUPT', 'mvcc: a record of format 1 does not decode while migrating to format 2')
      const bytes = encodeKeyValue(kv, key)
      tx.put('key', key, bytes)
      totals.add(storedChecksum(bytes, 0))
    }
    writeTotals(tx, totals)
  })
  await backend.commit()
}
