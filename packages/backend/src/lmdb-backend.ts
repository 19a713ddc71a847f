import assert from 'node:assert'
import { dirname, join } from 'node:path'
import { hasCode, nextTurn, nodeFileSystem, noFailpoint, systemClock } from '@strata/seams'
import type { Clock, FileLock, FileSystem } from '@strata/seams'
import type { RootDatabase } from 'lmdb'
import { BUCKETS } from './backend.js'
import type { Backend, BackendOptions, BackendStats, BucketName, DefragmentOptions, HeadChunk, KeyValuePair, RangeOptions, ReadTx, ValueHead, WriteTx } from './backend.js'
import { BatchTx, MergedCursor, TOMBSTONE } from './batch-tx.js'
import type { OverlayCursor, PendingBatch } from './batch-tx.js'
import { MAX_KEY_BYTES, backendError, checkBucket, checkBytes, checkFileSystemOption, checkFunction, checkKey, checkOptions, checkRange, checkValue } from './limits.js'
import { DATA_FILE, DEFRAG_FILE, ENV_OPTIONS, RESTORE_FILE, checkDataFile, openEnv } from './lmdb-env.js'
import type { Bytes, LmdbEnv } from './lmdb-env.js'
import { assertStructure, checkStructure, checkVerifyStructureOption } from './verify-structure.js'
import { copyForDefragment } from './defragment-copy.js'
import type { VerifyStructureMode } from './verify-structure.js'
import { CLEAN_FILE, fingerprint, takeCleanMarker, writeCleanMarker } from './clean-close.js'
import { HEAD_CHUNK_BYTES, HEAD_SCAN_THREAD_MIN_PAIRS, compileCheck, packHeads, scanHeadsOnThread } from './lmdb-head-scan.js'
import { compareBytes } from './ordered-map.js'
import { RestoreStep } from './lmdb-restore-step.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot-format.js'

/** Options of {@link LmdbBackend.open}: those of every backend, and `fs`. */
export interface LmdbBackendOptions extends BackendOptions {
  /**
   * Creates the directory, takes `<dir>/LOCK`, and syncs, renames and removes files for
   * defragment and restore. Default `nodeFileSystem` (@strata/seams). LMDB itself does its own
   * I/O on `<dir>/data.mdb`, outside this seam.
   */
  readonly fs?: FileSystem
  /**
   * Before mapping an existing data file, read every page of every bucket in a child process
   * (verify-structure.ts): a page damaged so that LMDB would abort the process (its IS_LEAF
   * assert) then fails the open with ERR_BACKEND_CORRUPT instead. `'unclean'` (the default):
   * only when the last close was not clean, or the file changed since (clean-close.ts);
   * `'always'` (or `true`): at every open; `false`: never. README, "Integrity at rest", has
   * its cost and what `'unclean'` gives up.
   */
  readonly verifyStructure?: VerifyStructureMode
}

/** Options of {@link LmdbBackend.defragment}. */

/** What {@link LmdbBackend.open} did about the structure check, and why. */
export interface StructureCheckReport {
  /** True when the child process read the whole file before this process mapped it. */
  readonly checked: boolean
  /**
   * `'new-file'` (nothing to check), `'off'` (verifyStructure false), `'always'`,
   * `'unclean-close'` (no marker of a clean close, or one naming another file version: checked),
   * `'clean-close'` (the marker of a clean close matched: skipped).
   */
  readonly why: 'new-file' | 'off' | 'always' | 'unclean-close' | 'clean-close'
  /** Milliseconds the check took (0 when it did not run). */
  readonly ms: number
}

const OPTION_KEYS: readonly string[] = ['batchIntervalMs', 'batchLimit', 'clock', 'failpoint', 'fs', 'verifyStructure']

const EMPTY = new Uint8Array(0)

/**
 * The durable backend: one LMDB environment in `<dir>/data.mdb`, one named database per
 * bucket, keys ordered bytewise. Writes go into an in-memory ordered overlay (the pending
 * batch, deletes as tombstones) that every read merges over LMDB's committed state. A commit
 * queues the whole overlay as one lmdb-js `batch`: one LMDB write transaction whose inserts,
 * commit and fdatasync run on lmdb-js's writer thread; the commit resolves once durable. Meanwhile writes go
 * into a new pending batch and reads merge it over the batch in flight over LMDB.
 *
 * Open with {@link LmdbBackend.open}; a second open of the same directory (from this process or
 * another) fails with ERR_BACKEND_LOCKED until the first is closed.
 */
export class LmdbBackend implements Backend {
  readonly #dir: string
  readonly #fs: FileSystem
  readonly #clock: Clock
  readonly #lock: FileLock
  /** Invariant: open while #state is 'open', except inside the synchronous swap of #swapIn. */
  #root: RootDatabase
  #dbs: Map<BucketName, Bytes>
  /** Invariant: the view handles (lmdb-env.ts) of #root's buckets, replaced with #dbs. */
  #views: Map<BucketName, Bytes>
  readonly #batchTx: BatchTx
  /** Invariant: > 0 exactly while a forEach/range walk runs (writes then are refused). */
  #walking = 0
  /** Invariant: set exactly while a defragment or restore runs; a second one is refused, close waits. */
  #swap: Promise<void> | undefined
  #state: 'open' | 'closed' | 'crashed' = 'open'
  /** Invariant: set by the first close(), which every later one waits for. */
  #closing: Promise<void> | undefined
  /** Invariant: the snapshot streams and head scans holding an LMDB read transaction; a swap waits for 0. */
  #snapshots = 0
  #snapshotsDone: Array<() => void> = []
  /** What open() did about the structure check. */
  readonly structureCheck: StructureCheckReport

  private constructor(dir: string, fs: FileSystem, lock: FileLock, env: LmdbEnv, options: LmdbBackendOptions, structureCheck: StructureCheckReport) {
    const { batchIntervalMs, batchLimit } = checkOptions(options, OPTION_KEYS)
    this.#dir = dir
    this.#fs = fs
    this.#clock = options.clock ?? systemClock
    this.#lock = lock
    this.structureCheck = structureCheck
    this.#root = env.root
    this.#dbs = env.dbs
    this.#views = env.views
    const tx: WriteTx = {
      get: (bucket, key) => this.#get(bucket, key, false),
      getView: (bucket, key) => this.#get(bucket, key, true),
      range: (bucket, start, end, opts) => this.#range(bucket, start, end, opts),
      forEach: (bucket, start, end, fn) => this.#forEach(bucket, start, end, fn),
      forEachView: (bucket, start, end, fn) => this.#forEach(bucket, start, end, fn, true),
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
    })
  }

  /**
   * Opens (creating when missing) the backend in `dir`. Fails with ERR_BACKEND_INVALID_OPTION
   * for a bad option, ERR_BACKEND_LOCKED when the directory is open elsewhere,
   * ERR_BACKEND_CORRUPT when the data file is not an LMDB file; with `nodeFileSystem`, the lock
   * needs the optional addon fs-ext (ERR_SEAMS_LOCK_UNAVAILABLE without it).
   */
  static async open(dir: string, options: LmdbBackendOptions = {}): Promise<LmdbBackend> {
    if (typeof dir !== 'string' || dir.length === 0) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `open() takes a directory path, got ${JSON.stringify(dir) ?? String(dir)}`)
    checkOptions(options, OPTION_KEYS)
    checkFileSystemOption(options.fs)
    checkVerifyStructureOption(options.verifyStructure)
    const fs = options.fs ?? nodeFileSystem
    await fs.mkdir(dir)
    let lock: FileLock
    try {
      lock = await fs.lock(join(dir, 'LOCK'))
    } catch (err) {
      if (hasCode(err, 'ERR_SEAMS_LOCKED')) {
        throw backendError('ERR_BACKEND_LOCKED', `${dir} is already open, in this process or another; close the other backend on it first`, { dir }, err)
      }
      throw err
    }
    try {
      for (const leftover of [DEFRAG_FILE, RESTORE_FILE]) {
        await fs.rm(join(dir, leftover))
        await fs.rm(join(dir, `${leftover}-lock`))
      }
      const path = join(dir, DATA_FILE)
      const existed = (await fs.stat(path)) !== undefined
      const pageSize = await checkDataFile(fs, path)
      // The marker goes whatever the mode: from now on this process may write the file, and a
      // crash must leave no marker behind.
      const clean = await takeCleanMarker(fs, dir, pageSize === undefined ? undefined : await fingerprint(fs, path, pageSize))
      const mode = options.verifyStructure ?? 'unclean'
      const why: StructureCheckReport['why'] = !existed ? 'new-file' : mode === false ? 'off' : mode === 'unclean' ? (clean ? 'clean-close' : 'unclean-close') : 'always'
      const checked = why === 'always' || why === 'unclean-close'
      const clock = options.clock ?? systemClock
      const t0 = clock.now()
      if (checked) await assertStructure(path, { clock })
      const structureCheck: StructureCheckReport = { checked, why, ms: checked ? clock.now() - t0 : 0 }
      const env = openEnv(path)
      if (!existed) {
        // LMDB created the file; its directory entry (and the directory's own, made by mkdir)
        // must be durable before any commit can claim to be.
        try {
          await fs.fsyncDir(dir)
          await fs.fsyncDir(dirname(dir))
        } catch (err) {
          await env.root.close()
          throw err
        }
      }
      return new LmdbBackend(dir, fs, lock, env, options, structureCheck)
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  /** The data file, `<dir>/data.mdb` (named in corruption errors). */
  get path(): string {
    return join(this.#dir, DATA_FILE)
  }

  write<T>(fn: (tx: WriteTx) => T): T {
    return this.#batchTx.write(fn)
  }

  read<T>(fn: (tx: ReadTx) => T): T {
    this.#batchTx.checkOpen()
    checkFunction('the read() callback', fn)
    return fn(this.#batchTx.tx)
  }

  /** Commits the pending batch in one LMDB transaction; resolves once it is on disk. */
  commit(): Promise<void> {
    return this.#batchTx.commit()
  }

  setPreCommitHook(fn: ((tx: WriteTx) => void) | undefined): void {
    this.#batchTx.checkOpen()
    this.#batchTx.setHook(fn)
  }

  /**
   * Commits the pending batch, then streams the committed state from one LMDB read
   * transaction, so the copy is consistent even while commits go on. Consume it to the end (or
   * break out of the loop) so the read transaction is released.
   */
  async *snapshot(): AsyncGenerator<Uint8Array> {
    await this.commit()
    this.#batchTx.checkOpen()
    const txn = this.#root.useReadTransaction()
    const views = this.#views
    this.#snapshots++
    try {
      // Each chunk is built synchronously (~256 KiB of pairs); between chunks the event loop
      // runs, so a snapshot of any size never holds the host's loop for more than one chunk.
      for (const chunk of encodeSnapshot((bucket) => this.#inTxn(views.get(bucket)!, txn))) {
        yield chunk
        await nextTurn()
      }
    } finally {
      txn.done()
      this.#endSnapshot()
    }
  }

  /**
   * Commits the pending batch, then reads `bucket` on a thread of its own (lmdb-head-scan.ts),
   * or on this one, from one read transaction, when it holds fewer than
   * HEAD_SCAN_THREAD_MIN_PAIRS pairs. Counted as a snapshot: a defragment or restore waits for
   * it before swapping the file.
   */
  async *scanHeads(bucket: BucketName, head: ValueHead): AsyncGenerator<HeadChunk> {
    checkBucket(bucket)
    if (!(typeof head === 'object' && head !== null && Number.isInteger(head.fixed) && head.fixed >= 0 && Number.isInteger(head.lengthAt) && head.lengthAt >= 0)) {
      throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `a value head needs integer fixed >= 0 and lengthAt >= 0, got ${head?.fixed} and ${head?.lengthAt}`)
    }
    const check = compileCheck(head.check)
    await this.commit()
    this.#batchTx.checkOpen()
    const pairs = (this.#dbs.get(bucket)!.getStats() as { entryCount: number }).entryCount
    this.#snapshots++
    try {
      if (pairs >= HEAD_SCAN_THREAD_MIN_PAIRS) {
        yield* scanHeadsOnThread(join(this.#dir, DATA_FILE), ENV_OPTIONS, bucket, head)
        return
      }
      const txn = this.#root.useReadTransaction()
      try {
        yield* packHeads(this.#inTxn(this.#views.get(bucket)!, txn), head.fixed, head.lengthAt, HEAD_CHUNK_BYTES, check)
      } finally {
        txn.done()
      }
    } finally {
      this.#endSnapshot()
    }
  }

  #endSnapshot(): void {
    this.#snapshots--
    if (this.#snapshots === 0) for (const resolve of this.#snapshotsDone.splice(0)) resolve()
  }

  /** Every pair of `db` as `transaction` sees it (lmdb-js types lack the transaction option). */
  #inTxn(db: Bytes, transaction: ReturnType<RootDatabase['useReadTransaction']>): Iterable<{ key: Uint8Array; value: Uint8Array }> {
    return db.getRange({ transaction } as Parameters<Bytes['getRange']>[0]) as Iterable<{ key: Uint8Array; value: Uint8Array }>
  }

  /**
   * Writes the snapshot into a staging file (verified in full), then swaps it in with one
   * rename; the pending batch is discarded. Commits wait meanwhile. The staging file is written
   * in transactions of at most `RESTORE_STEP_PAIRS` pairs or `RESTORE_STEP_BYTES` (lmdb-restore-step.ts)
   * bytes, each followed by a turn of the event loop, without a sync per transaction (the swap
   * syncs the whole file before the rename): one transaction of 10,000 synced puts held the
   * loop ~390 ms in a 1M-pair restore.
   */
  async restore(snapshot: AsyncIterable<Uint8Array>): Promise<void> {
    await this.#exclusive(async () => {
      const staging = join(this.#dir, RESTORE_FILE)
      await this.#removeStaging(staging)
      const env = openEnv(staging, { noSync: true })
      const step = new RestoreStep(env)
      try {
        await decodeSnapshot(snapshot, (bucket, key, value) => step.add(bucket, key, value) ? nextTurn() : undefined)
        step.flush()
      } catch (err) {
        await env.root.close()
        await this.#removeStaging(staging)
        throw err
      }
      await env.root.close()
      await this.#fs.rm(`${staging}-lock`)
      await this.#swapIn(staging)
      return true
    }, false)
  }

  /**
   * Sizes from LMDB's page counts: `sizeBytes` is the data file's extent (last page + 1),
   * `sizeInUseBytes` the pages the bucket trees, LMDB's own trees and meta pages occupy; the
   * rest is free pages a defragment would drop.
   */
  stats(): BackendStats {
    this.#batchTx.checkOpen()
    type Tree = { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number }
    type EnvStats = Tree & { lastPageNumber: number; root: Tree; free: Tree }
    const env = this.#root.getStats() as EnvStats
    const pages = (t: Tree): number => t.treeBranchPageCount + t.treeLeafPageCount + t.overflowPages
    let used = 2 + pages(env.root) + pages(env.free)
    for (const db of this.#dbs.values()) used += pages(db.getStats() as Tree)
    const sizeBytes = (env.lastPageNumber + 1) * env.pageSize
    return {
      sizeBytes,
      sizeInUseBytes: Math.min(sizeBytes, used * env.pageSize),
      pendingWrites: this.#batchTx.batch.writes,
      commits: this.#batchTx.commits,
    }
  }

  /**
   * Commits, then writes a compact copy of the store into a staging file in a child process
   * (defragment-copy.ts: a fresh LMDB environment filled by ordinary appending puts, not LMDB's
   * compacting copy, whose files lmdb-js's LMDB can later abort on), checks the copy's structure
   * and that it holds as many pairs per bucket as the store, syncs it and renames it over the
   * data file. A copy that fails or fails its checks is removed and the data file kept as it
   * was (ERR_BACKEND_DEFRAGMENT). Reads go on throughout; commits wait until it is done (writes
   * pile up in the pending batch).
   */
  async defragment(options: DefragmentOptions = {}): Promise<void> {
    if (options.onProgress !== undefined) checkFunction('the onProgress option of defragment()', options.onProgress)
    await this.#exclusive(async () => {
      const staging = join(this.#dir, DEFRAG_FILE)
      const path = this.path
      await this.#removeStaging(staging)
      const fail = async (reason: string, cause?: unknown): Promise<Error> => {
        await this.#removeStaging(staging)
        return backendError('ERR_BACKEND_DEFRAGMENT', `defragment of ${path} failed, the data file is kept as it was: ${reason}`, { path, reason }, cause)
      }
      let copy: Awaited<ReturnType<typeof copyForDefragment>>
      try {
        copy = await copyForDefragment(path, staging, { clock: this.#clock, onProgress: options.onProgress })
      } catch (err) {
        throw await fail(`the copy could not run: ${(err as Error).message}`, err)
      }
      if (!copy.ok) throw await fail(copy.reason)
      let copied = 0
      for (const n of Object.values(copy.entries)) copied += n ?? 0
      if (copied !== copy.total) throw await fail(`the store's trees count ${copy.total} pairs but its cursors read ${copied}: the data file may be damaged; run verify on it`)
      const check = await checkStructure(staging, { clock: this.#clock })
      if (!check.ok) throw await fail(`the copy failed the structure check: ${check.reason}`)
      for (const bucket of BUCKETS) {
        const want = copy.entries[bucket] ?? 0
        const got = check.entries[bucket] ?? 0
        if (want !== got) throw await fail(`the copy holds ${got} pairs in bucket ${bucket} where the store holds ${want}`)
      }
      await this.#fs.rm(`${staging}-lock`)
      await this.#swapIn(staging)
      return false
    }, true)
  }

  /**
   * Commits what is pending and releases the medium (LMDB, the directory lock); resolves when done. If that commit
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
      error = err // closed all the same: a backend whose commit failed must still let go of the directory
    }
    await this.#release('closed', error === undefined)
    if (error !== undefined) throw error
  }

  /**
   * Drops the pending batch without committing it, closes LMDB and releases the lock: what a
   * process crash leaves behind (tests use it; a power loss is simulated with a child process).
   * A defragment or restore under way finishes first (its swap is atomic either way).
   */
  async crash(): Promise<void> {
    if (this.#state !== 'open') return
    await this.#release('crashed')
  }

  /** `clean`: the close's last commit succeeded; the clean-close marker is written if no commit ever failed. */
  async #release(state: 'closed' | 'crashed', clean = false): Promise<void> {
    if (this.#state !== 'open') return
    while (this.#swap !== undefined) await this.#swap
    if (this.#state !== 'open') return
    this.#state = state
    this.#batchTx.stop(state)
    // A commit in flight completes (or fails) first: closing LMDB under it would lose it.
    await this.#batchTx.idle()
    await this.#root.close()
    try {
      if (clean && this.#batchTx.failure === undefined) await this.#markClean()
    } finally {
      await this.#lock.release()
    }
  }

  /**
   * Writes the clean-close marker for the file as LMDB left it (clean-close.ts), under the
   * directory lock. A failure to write it is not the close's: without a marker the next open
   * runs the structure check, which is the safe side.
   */
  async #markClean(): Promise<void> {
    const path = join(this.#dir, DATA_FILE)
    try {
      const pageSize = await checkDataFile(this.#fs, path)
      const print = pageSize === undefined ? undefined : await fingerprint(this.#fs, path, pageSize)
      if (print !== undefined) await writeCleanMarker(this.#fs, this.#dir, print)
    } catch {
      await this.#fs.rm(join(this.#dir, CLEAN_FILE)).catch(() => {})
    }
  }

  /** The error that stopped this backend accepting writes, or undefined while it is healthy. */
  get failure(): unknown {
    return this.#batchTx.failure
  }

  /** Runs `fn` with commits paused; `fn` resolves to whether the pending batch is to be discarded. */
  async #exclusive(fn: () => Promise<boolean>, commitFirst: boolean): Promise<void> {
    this.#batchTx.checkWritable()
    if (this.#swap !== undefined) throw backendError('ERR_BACKEND_BUSY', 'a defragment or restore is already running; await it before starting another')
    let paused = false
    let discard = false
    const run = async (): Promise<void> => {
      try {
        // Runs synchronously (nothing is paused yet), before the first await below yields.
        if (commitFirst) await this.#batchTx.commit()
        this.#batchTx.pause()
        paused = true
        // The swap replaces the file under LMDB: a commit still in flight lands first.
        await this.#batchTx.idle()
        this.#batchTx.checkWritable()
        discard = await fn()
      } finally {
        this.#swap = undefined
        if (paused && this.#state === 'open') this.#batchTx.resume(discard)
      }
    }
    const swap = run()
    // Claimed before anything else can run; close() and crash() wait for it, whatever its outcome.
    this.#swap = swap.catch(() => {})
    await swap
  }

  /**
   * Makes `staging` durable, renames it over the data file and reopens LMDB on it. The old
   * environment keeps serving reads (from the old, now unlinked, inode) until the synchronous
   * close-and-reopen at the end, so no read ever meets a closed environment. Both files hold
   * the same committed state (commits are paused), so a crash on either side of the rename is
   * harmless.
   */
  async #swapIn(staging: string): Promise<void> {
    const handle = await this.#fs.open(staging, 'readWrite')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
    // Closing LMDB under a snapshot's read transaction would not complete at once.
    while (this.#snapshots > 0) await new Promise<void>((resolve) => this.#snapshotsDone.push(resolve))
    // A handle on the old file keeps its inode alive past LMDB's close below: the kernel then
    // frees its page cache when this handle closes, on the thread pool, instead of inside
    // LMDB's synchronous close (~90 ms of the event loop for a 231 MiB file, measured).
    const oldFile = await this.#fs.open(join(this.#dir, DATA_FILE), 'read')
    try {
      await this.#fs.rename(staging, join(this.#dir, DATA_FILE))
      await this.#fs.fsyncDir(this.#dir)
      assert(this.#state === 'open', 'the backend was closed during a swap')
      // No async write is ever issued and reads are synchronous, so close() normally completes
      // at once; should lmdb-js ever defer it, wait (reads in between would fail, but never see
      // a mix of the two files).
      const old = this.#root
      const closing = old.close()
      if ((old as unknown as { status?: string }).status !== 'closed') await closing
      const env = openEnv(join(this.#dir, DATA_FILE))
      this.#root = env.root
      this.#dbs = env.dbs
      this.#views = env.views
    } finally {
      await oldFile.close()
    }
  }

  async #removeStaging(path: string): Promise<void> {
    await this.#fs.rm(path)
    await this.#fs.rm(`${path}-lock`)
  }

  /**
   * Writes the batch in one LMDB transaction off this thread: lmdb-js's `batch` queues the pairs
   * as write instructions (copying each key; each value is read where it lies, in the batch
   * kept alive as in flight until this settles), and its writer thread puts them, commits and
   * fdatasyncs the transaction (then writes the meta page synchronously); the promise resolves
   * once that is done. This thread pays ~0.4–0.8 µs less per pair than writing them itself
   * into a child transaction the writer thread calls back for (LMDB's B-tree insert and its
   * page faults now run on the writer thread).
   *
   * Atomic as the child transaction was: a failure of the writer's transaction commits none of
   * it. What the child transaction also undid, a pair refused half-way, cannot happen here:
   * every key and value was checked when written (#checkMutation, checkValue), which is all
   * lmdb-js checks before queuing one; the before-commit failpoint runs before anything is queued.
   */
  #apply(batch: PendingBatch, beforeCommit: () => void): Promise<void> {
    try {
      beforeCommit()
    } catch (err) {
      // As a failed commit: the batch goes in flight and the backend refuses writes.
      return Promise.reject(err)
    }
    const dbs = this.#dbs
    const committing = this.#root.batch(() => {
      for (const [bucket, pending] of batch.entries()) {
        const db = dbs.get(bucket)!
        pending.walk(EMPTY, undefined, false, (key, value) => {
          // Inside a batch lmdb-js returns a settled marker, not a promise per pair.
          if (value === TOMBSTONE) void db.remove(key)
          else void db.put(key, value)
        })
      }
    })
    return Promise.resolve(committing).then(() => undefined, async (err: unknown) => {
      // lmdb-js rejects with a generic error whose `commitError` promise rejects with LMDB's own
      // (EIO, EFBIG, ENOSPC...); unhandled, that one would end the process.
      let cause = err
      const inner = (err as { commitError?: unknown } | undefined)?.commitError
      if (inner instanceof Promise) cause = await inner.then(() => err, (e: unknown) => e)
      throw backendError('ERR_BACKEND_COMMIT', `LMDB commit failed: ${(cause as Error)?.message}`, { dir: this.#dir }, cause)
    })
  }

  /** The pending value of `key`: the pending batch's, else the in-flight batch's; undefined when neither touched it. */
  #pending(bucket: BucketName, key: Uint8Array): Uint8Array | null | undefined {
    const pending = this.#batchTx.batch.get(bucket, key)
    if (pending !== undefined) return pending
    return this.#batchTx.inflight?.get(bucket, key)
  }

  /** The overlay a walk merges over LMDB: the pending batch over the in-flight one; undefined when both are empty there. */
  #overlay(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, reverse: boolean): OverlayCursor | undefined {
    const top = this.#batchTx.batch.bucket(bucket)
    const under = this.#batchTx.inflight?.bucket(bucket)
    const hasTop = top !== undefined && top.size > 0
    const hasUnder = under !== undefined && under.size > 0
    if (hasTop && hasUnder) return new MergedCursor(top.cursor(start, end, reverse), under.cursor(start, end, reverse), reverse)
    if (hasTop) return top.cursor(start, end, reverse)
    if (hasUnder) return under.cursor(start, end, reverse)
    return undefined
  }

  /** `view`: the value may be a view of lmdb-js's reused read buffer (ReadTx.getView), not a copy. */
  #get(bucket: BucketName, key: Uint8Array, view: boolean): Uint8Array | undefined {
    checkBucket(bucket)
    checkBytes('a key', key)
    const pending = this.#pending(bucket, key)
    if (pending === TOMBSTONE) return undefined
    if (pending !== undefined) return pending
    // LMDB refuses such keys outright; none can be stored, so none is found.
    if (key.length === 0 || key.length > MAX_KEY_BYTES) return undefined
    const db = this.#dbs.get(bucket)!
    if (!view) return db.get(key)
    // getBinaryFast reads into one buffer it reuses (its first lastSize bytes), or, for a value
    // too big for it, into one of the value's own: a plain view of it spares get()'s copy.
    const bytes = db.getBinaryFast(key)
    if (bytes === undefined) return undefined
    const size = (db as unknown as { lastSize: number }).lastSize
    return new Uint8Array(bytes.buffer, bytes.byteOffset, size)
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

  /** `views`: hand out views when nothing is pending in the bucket (ReadTx.forEachView). */
  #forEach(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, fn: (key: Uint8Array, value: Uint8Array) => boolean | void, views = false): void {
    checkBucket(bucket)
    checkRange(start, end, undefined)
    checkFunction('the forEach callback', fn)
    this.#walk(bucket, start, end, false, fn, views)
  }

  /** Merges the pending batch over LMDB's range, in order; a pending entry hides LMDB's entry for its key. */
  #walk(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, reverse: boolean, fn: (key: Uint8Array, value: Uint8Array) => boolean | void, views = false): void {
    if (end !== undefined && compareBytes(end, start) <= 0) return
    this.#walking++
    // A commit (a commit() called from fn) would reset LMDB's read transaction under the cursor.
    this.#batchTx.pause()
    const pending = this.#overlay(bucket, start, end, reverse)
    if (pending === undefined) {
      // Nothing pending in this bucket: LMDB's cursor alone, without the merge (a full scan at
      // start-up takes this path). The merge below holds a committed pair while it hands out
      // pending ones, so only this path may use the view handle.
      const db = views ? this.#views.get(bucket)! : this.#dbs.get(bucket)!
      try {
        if (!reverse) this.#lmdbForward(db, start, end, fn)
        else for (const { key, value } of this.#lmdbRange(db, start, end, reverse)) if (fn(key, value) === false) return
      } finally {
        this.#walking--
        this.#batchTx.resume()
      }
      return
    }
    const committed = this.#lmdbRange(this.#dbs.get(bucket)!, start, end, reverse)
    try {
      const sign = reverse ? -1 : 1
      let c = committed.next()
      let p = pending.next()
      for (;;) {
        const ck = c.done === true ? undefined : c.value.key
        if (ck === undefined && p === undefined) return
        const order = ck === undefined ? -1 : p === undefined ? 1 : sign * compareBytes(p, ck)
        if (order <= 0) {
          const value = pending.value!
          if (order === 0) c = committed.next()
          const key = p!
          p = pending.next()
          if (value !== TOMBSTONE && fn(key, value) === false) return
        } else {
          const { key, value } = c.value as { key: Uint8Array; value: Uint8Array }
          c = committed.next()
          if (fn(key, value) === false) return
        }
      }
    } finally {
      committed.return?.()
      this.#walking--
      this.#batchTx.resume()
    }
  }

  /**
   * What `#lmdbRange(db, start, end, false)` yields, passed straight to `fn`: without the
   * generator's two objects per pair, nor a bound check where LMDB's own bound is exact.
   */
  #lmdbForward(db: Bytes, start: Uint8Array, end: Uint8Array | undefined, fn: (key: Uint8Array, value: Uint8Array) => boolean | void): void {
    const startCut = start.length > MAX_KEY_BYTES
    const endCut = end !== undefined && end.length > MAX_KEY_BYTES
    const from = start.length === 0 ? undefined : startCut ? start.subarray(0, MAX_KEY_BYTES) : start
    for (const entry of db.getRange({ start: from, end: endCut ? undefined : end })) {
      const key = entry.key as Uint8Array
      if (startCut && compareBytes(key, start) < 0) continue
      if (endCut && compareBytes(key, end) >= 0) return
      if (fn(key, entry.value) === false) return
    }
  }

  /**
   * LMDB's pairs with `start <= key < end`, ascending or descending. lmdb-js's reverse ranges
   * include their start and exclude their end, the opposite of ours, so a reverse walk starts
   * at `end` itself (skipped if present) and stops below `start` here.
   */
  *#lmdbRange(db: Bytes, start: Uint8Array, end: Uint8Array | undefined, reverse: boolean): Generator<{ key: Uint8Array; value: Uint8Array }, void, undefined> {
    // Bounds longer than any storable key are cut to MAX_KEY_BYTES (LMDB refuses longer ones);
    // the comparisons below keep the exact bounds.
    const from = start.length === 0 ? undefined : start.length > MAX_KEY_BYTES ? start.subarray(0, MAX_KEY_BYTES) : start
    if (!reverse) {
      const to = end !== undefined && end.length > MAX_KEY_BYTES ? undefined : end
      for (const entry of db.getRange({ start: from, end: to })) {
        const key = entry.key as Uint8Array
        if (compareBytes(key, start) < 0) continue
        if (end !== undefined && compareBytes(key, end) >= 0) return
        yield { key, value: entry.value }
      }
      return
    }
    const to = end !== undefined && end.length > MAX_KEY_BYTES ? end.subarray(0, MAX_KEY_BYTES) : end
    for (const entry of db.getRange({ start: to, reverse: true })) {
      const key = entry.key as Uint8Array
      if (end !== undefined && compareBytes(key, end) >= 0) continue
      if (compareBytes(key, start) < 0) return
      yield { key, value: entry.value }
    }
  }

  #put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void {
    this.#checkMutation(bucket, key)
    checkValue(bucket, value)
    // Copies: the caller may reuse its buffers before the batch commits.
    this.#batchTx.batch.putCopy(bucket, key, value)
  }

  #delete(bucket: BucketName, key: Uint8Array): void {
    this.#checkMutation(bucket, key)
    this.#batchTx.batch.delete(bucket, key.slice())
  }

  #checkMutation(bucket: BucketName, key: Uint8Array): void {
    if (!this.#batchTx.writing) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a WriteTx is usable only inside its write() callback; make the write inside a write() call')
    this.#batchTx.checkWritable()
    checkBucket(bucket)
    checkKey(bucket, key)
    if (this.#walking > 0) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a write during forEach/range would invalidate the walk; collect the keys, then write after the walk')
  }
}
