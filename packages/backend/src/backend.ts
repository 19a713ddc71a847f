import type { Clock, Failpoint } from '@strata/seams'

/**
 * The buckets a member's backend holds (DESIGN.md, on-disk layout). Each is an ordered map
 * from byte keys to byte values, ordered bytewise (memcmp).
 */
export type BucketName = 'key' | 'meta' | 'lease' | 'auth' | 'authUsers' | 'authRoles' | 'members' | 'alarm'
export const BUCKETS: readonly BucketName[] = ['key', 'meta', 'lease', 'auth', 'authUsers', 'authRoles', 'members', 'alarm']

/** One key/value pair as stored. The arrays must not be modified by the receiver. */
export interface KeyValuePair {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

export interface RangeOptions {
  /** At most this many pairs; 0 or undefined means no limit. */
  readonly limit?: number
  /** Walk from the end of the range towards its start. Default false. */
  readonly reverse?: boolean
}

/**
 * Reads. A read sees every write made through {@link Backend.write} so far, committed or not
 * (etcd's read transactions see the batch transaction's buffer).
 */
export interface ReadTx {
  get(bucket: BucketName, key: Uint8Array): Uint8Array | undefined
  /**
   * Optional: `get` whose value may be a view into memory the backend reuses, valid only until
   * the next call on this backend; copy what must outlive that. A backend that copies anyway
   * may leave it out (callers then use `get`). For reads that decode the value at once.
   */
  getView?(bucket: BucketName, key: Uint8Array): Uint8Array | undefined
  /**
   * The pairs with `start <= key < end` in key order (`end` undefined: to the end of the
   * bucket). An empty range (`end <= start`) yields nothing.
   */
  range(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, options?: RangeOptions): KeyValuePair[]
  /**
   * Calls `fn` for each pair with `start <= key < end`, in key order, until it returns false.
   * Allocates nothing per pair beyond the pair itself: the way to scan a whole bucket.
   */
  forEach(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, fn: (key: Uint8Array, value: Uint8Array) => boolean | void): void
  /**
   * Optional: `forEach` whose `key` and `value` may be views into memory the backend reuses.
   * They are valid only until `fn` returns or calls this ReadTx again; copy what must outlive
   * that. A backend that copies anyway may leave it out (callers then use `forEach`). For
   * start-up scans over millions of pairs, where the per-pair copies dominate.
   */
  forEachView?(bucket: BucketName, start: Uint8Array, end: Uint8Array | undefined, fn: (key: Uint8Array, value: Uint8Array) => boolean | void): void
}

/** Writes, into the one pending batch. Nothing is durable until the batch commits. */
export interface WriteTx extends ReadTx {
  put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void
  delete(bucket: BucketName, key: Uint8Array): void
}

/**
 * The apply context every layer above the backend takes for work that must share the driver's
 * write transaction (the lessor's grant/revoke/checkpoint, the auth store's mutations): with
 * `tx`, the effects land in the same batch as the applied index the driver writes (etcd
 * #11651, #11935); without it, the layer runs its own `backend.write`.
 */
export interface ApplyContext {
  readonly tx?: WriteTx | undefined
}

export interface BackendStats {
  /** Bytes the backend occupies on its medium (LMDB: the data file's extent, last page + 1). */
  readonly sizeBytes: number
  /** Bytes holding live data; `sizeBytes - sizeInUseBytes` is what defragment could reclaim. */
  readonly sizeInUseBytes: number
  /** Writes in the pending batch, not yet handed to a commit (a batch whose commit is in flight is not counted). */
  readonly pendingWrites: number
  /** Batches committed since open. */
  readonly commits: number
}

/**
 * Transactional buckets with batched commits (etcd's backend over bbolt).
 *
 * - `write(fn)` runs `fn` synchronously against the single pending batch. Its writes are visible
 *   to every later read at once. Because `fn` is synchronous, a commit can never fall in the
 *   middle of it: all of one `write` is in a batch or none of it. If `fn` throws, every write it
 *   made is undone before the error propagates (a nested `write` undoes only its own). `put`
 *   copies its key and value. A `WriteTx` is valid only inside its callback; writing while a
 *   `range`/`forEach` walk runs fails with ERR_BACKEND_INVALID_ARGUMENT.
 * - `commit()` called inside a `write` callback commits when the outermost callback returns.
 * - The batch commits when `batchIntervalMs` ms have passed since its first write, when it holds
 *   `batchLimit` writes, or on `commit()`. Each commit is atomic and durable: after a crash the
 *   backend holds exactly the batches whose commit resolved (and possibly the one in flight, in
 *   full or not at all).
 * - The pre-commit hook runs inside every commit's transaction, just before it commits; the
 *   consistent (applied) index is written there so it always lands in the same transaction as
 *   the effects it covers (etcd #11651, #11935, the 3.5 data-inconsistency postmortem).
 */
/**
 * What {@link Backend.scanHeads} keeps of each value: its first `fixed` bytes plus as many more
 * as the u32 (big-endian) at byte `lengthAt` says, never more than the value holds.
 *
 * `check`, when given, is the source text of a JavaScript expression whose value is a function
 * `(key, keyAt, keyLength, value, valueAt, valueLength) => boolean`, run on every whole pair
 * where the scan reads it (on the scan's own thread for a big bucket, so it must use nothing but
 * its arguments and what the expression itself defines). A pair it fails is kept whole (its
 * whole value as the head) and marked failed, for the caller to examine: a scan's reader can so
 * verify what it does not keep (a checksum over the whole value) off its own thread.
 */
export interface ValueHead {
  readonly fixed: number
  readonly lengthAt: number
  readonly check?: string
}

/**
 * `count` pairs of {@link Backend.scanHeads}, packed one after another in `bytes` as
 * [u16 key length][key][u32 head length][value head], lengths big-endian, the top bit of the
 * head length set for a pair that failed {@link ValueHead.check}; `forEachHead` reads them.
 */
export interface HeadChunk {
  readonly bytes: Uint8Array
  readonly count: number
}

export interface Backend {
  write<T>(fn: (tx: WriteTx) => T): T
  read<T>(fn: (tx: ReadTx) => T): T
  /** Commits the pending batch now (etcd's ForceCommit); resolves when it is durable. */
  commit(): Promise<void>
  /**
   * Sets the hook run inside each commit (replaces an earlier one): its writes belong to that
   * commit. It runs on every commit, also when the batch is otherwise empty (commit() with
   * nothing pending then commits the hook's writes alone, if any). A hook that throws fails the
   * commit (ERR_BACKEND_COMMIT from then on).
   */
  setPreCommitHook(fn: ((tx: WriteTx) => void) | undefined): void
  /**
   * A consistent copy of the committed state as a byte stream (pending writes are committed
   * first), in the format of FORMAT.md §1, the same for every implementation; `restore` takes it
   * back. Consume it to the end (or break out of the loop): the copy holds resources until then.
   */
  snapshot(): AsyncIterable<Uint8Array>
  /**
   * Optional: every pair of `bucket` in key order, each value cut to its `head`, handed over in
   * chunks; a big bucket is read on another thread while the caller works on the previous
   * chunks (at most a few MB ahead of it). Pending writes are committed first; the pairs are
   * those committed when the scan starts. Breaking out of the loop stops the scan. A start-up's
   * full scan (mvcc's index rebuild) overlaps its reading with its own work this way. Fails
   * with ERR_BACKEND_SCAN when the thread fails.
   */
  scanHeads?(bucket: BucketName, head: ValueHead): AsyncIterable<HeadChunk>
  stats(): BackendStats
  /**
   * Rewrites the store compactly, reclaiming free space. Writes wait until it is done.
   * `onProgress(done, total)` counts pairs copied (an in-memory backend has nothing to copy and
   * does not call it).
   */
  defragment(options?: DefragmentOptions): Promise<void>
  /**
   * Replaces the whole committed state with a stream from {@link snapshot} (of either
   * implementation: the format is shared). The pending batch is discarded first. The stream is
   * verified in full before anything changes: a corrupt or truncated one fails with
   * ERR_BACKEND_CORRUPT and leaves the state as it was. Resolves when the new state is durable.
   */
  restore(snapshot: AsyncIterable<Uint8Array>): Promise<void>
  /**
   * Commits what is pending and releases the medium. If that commit fails, the medium is
   * released all the same and the error is rethrown. Further calls fail with ERR_BACKEND_CLOSED.
   */
  close(): Promise<void>
}

/**
 * Options every implementation takes. Each is checked when the backend is made: a value of the
 * wrong type or out of bounds, or an unknown key (such as the old names `batchInterval` and
 * `fileSystem`), fails with ERR_BACKEND_INVALID_OPTION.
 */
export interface BackendOptions {
  /**
   * Milliseconds from a batch's first write to its commit (etcd's batch interval). Default 100;
   * bounds [0, 86,400,000]. A process that exits before then, without `commit()`, loses the batch.
   */
  readonly batchIntervalMs?: number
  /**
   * Writes (puts + deletes) after which a batch commits, at the end of the `write()` that reaches
   * it. Default 10,000; an integer in [1, 10,000,000]. The batch lives in memory until it commits.
   */
  readonly batchLimit?: number
  /** Arms the batch-interval timer. Default `systemClock` (@strata/seams); tests pass a simulated clock. */
  readonly clock?: Clock
  /**
   * Called with `backendBeforeCommit` just before a batch's transaction commits and with
   * `backendAfterCommit` once it is durable. A test's failpoint may throw to simulate a crash
   * there: the batch is then committed entirely or not at all, and the backend refuses further
   * writes with ERR_BACKEND_COMMIT. Default `noFailpoint` (does nothing).
   */
  readonly failpoint?: Failpoint
}

/** Options of {@link Backend.defragment}. */
export interface DefragmentOptions {
  /**
   * Called as the copy advances: `done` of `total` pairs copied (total: every bucket's pairs).
   * What it throws is ignored.
   */
  readonly onProgress?: (done: number, total: number) => void
}
