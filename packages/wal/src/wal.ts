import assert from 'node:assert'
import { dirname, join } from 'node:path'
import type { FileHandle, FileLock } from '@strata/seams'
import type { SegmentScan } from './decoder.js'
import type { BatchItem } from './encoder.js'
import { Scratch, encodeBatch, encodeHead, itemBytes, pickSeed } from './encoder.js'
import { WalError, WalTornTailError } from './errors.js'
import type { PreparedFile } from './file-pipeline.js'
import { FilePipeline } from './file-pipeline.js'
import { Replay, walkSegments } from './reader.js'
import type { Entry, HardState } from '@strata/raft'
import { EMPTY_CONF_STATE } from './conf-state.js'
import { callOrder, invalidArgument } from './errors.js'
import type { SnapshotPoint, WalSnapshot } from './record.js'
import { EMPTY_HARD_STATE, MAX_RECORD_BYTES, isEmptyHardState } from './record.js'
import type { ResolvedOptions, WalOptions } from './util.js'
import {
  checkDir, checkEntries, checkHardState, checkOptionsObject, checkSnapshot, checkSnapshotPoint, checkU64, existingSegments,
  mkdirDurable, removeTmpFiles, resolveOptions, selectSegments, takeLock,
} from './util.js'
import type { SegmentName } from './wal-name.js'
import { listSegments, walName } from './wal-name.js'

export type { WalOptions } from './util.js'

/** What `readAll` returns. */
export interface ReadAllResult {
  readonly metadata: Uint8Array
  readonly hardState: HardState
  /** Entries after the snapshot the WAL was opened at, consecutive, as last written. */
  readonly entries: Entry[]
}

/** Options of `readAll`. */
export interface ReadAllOptions {
  /**
   * Entries at or below this index come back with empty data: index, term and type only, so
   * raft's storage still has the term of every entry (a sole member that restarts its log at its
   * backend's applied index reads no data it will not apply). Entries after it come with a copy
   * of their data each. An index, ≥ 0; default: the snapshot index (every entry with its data).
   */
  readonly dataAfter?: number
}

/** A save or saveSnapshot waiting for the group-commit loop. */
interface Pending extends BatchItem {
  readonly sync: boolean
  readonly bytes: number
  readonly resolve: () => void
  readonly reject: (err: Error) => void
}

interface WalInit {
  readonly dir: string
  readonly opts: ResolvedOptions
  readonly lock: FileLock | undefined
  readonly snapshot: SnapshotPoint
  readonly segments: SegmentName[]
  readonly released: SegmentName[]
}

const INTERNAL = Symbol('Wal.internal')

/**
 * A segmented write-ahead log. Writers get it from `Wal.create` or `Wal.open` (which lock the
 * directory) and must `readAll()` before appending; `Wal.openForRead` reads alongside a writer.
 * Appends go through one group-commit loop: concurrent `save` calls share a write and an
 * fdatasync, and each resolves only when its records are durable (or, for a save that changes
 * only the commit index, written).
 */
export class Wal {
  readonly #dir: string
  readonly #opts: ResolvedOptions
  readonly #readOnly: boolean
  /** Invariant: held from open until close in write mode; undefined in read mode. */
  #lock: FileLock | undefined
  /** The snapshot point the log was opened at (index 0, term 0 for a new log). */
  readonly #snapshot: SnapshotPoint
  /** Invariant: contiguous sequence numbers; the last one is the tail. */
  readonly #segments: SegmentName[]
  /** Invariant: segments older than #segments[0], oldest first; only these are ever recycled. */
  readonly #released: SegmentName[]
  /** Invariant: 'ready' only after readAll (or create) prepared the tail in write mode. */
  #phase: 'unread' | 'ready' | 'closed' = 'unread'
  /** Invariant: open read-write at #segments.at(-1) while ready in write mode. */
  #tail: FileHandle | undefined
  /** Invariant: bytes of valid frames in the tail; everything after it is zero or foreign. */
  #offset = 0
  #seed = 0
  /** Invariant: one more than the generation of any frame in the tail that was already synced. */
  #gen = 0
  /** Invariant: the chain value after the last frame written. */
  #chain = 0
  #metadata: Uint8Array = new Uint8Array(0)
  /** The last hard state and index encoded into the log (what a cut repeats in its header). */
  #writtenState: HardState = EMPTY_HARD_STATE
  #writtenLastIndex = 0
  /** The last hard state and index accepted by save (ahead of the written ones while queued). */
  #acceptedState: HardState = EMPTY_HARD_STATE
  #acceptedLastIndex = 0
  /** Invariant: every element was accepted and neither resolved nor rejected. */
  #queue: Pending[] = []
  /** Invariant: the sum of `bytes` over #queue, at most maxQueuedBytes. */
  #queuedBytes = 0
  #loop: Promise<void> | undefined
  /** Calls accepted by save and saveSnapshot, ever. */
  #enqueued = 0
  /** Invariant: <= #enqueued; calls whose batch was written and its fsync started (or that failed). */
  #started = 0
  /** Callers of written(), each waiting for #started to reach `upto`; `upto` ascending. */
  #startWaiters: { readonly upto: number; readonly resolve: () => void }[] = []
  /** Invariant: once set, never cleared; every write is refused with ERR_WAL_FAILED. */
  #failure: Error | undefined
  #pipeline: FilePipeline | undefined
  /** Invariant: not in use between batches (each batch's write is awaited before the next). */
  readonly #scratch = new Scratch()

  /** Internal: use `Wal.create`, `Wal.open` or `Wal.openForRead`. */
  constructor(token: symbol, init: WalInit) {
    assert(token === INTERNAL, 'use Wal.create, Wal.open or Wal.openForRead')
    this.#dir = init.dir
    this.#opts = init.opts
    this.#lock = init.lock
    this.#readOnly = init.lock === undefined
    this.#snapshot = init.snapshot
    this.#segments = init.segments
    this.#released = init.released
  }

  /**
   * Creates a new log in `dir` (made if missing) holding `metadata`, locked for writing and
   * ready to append. Fails with ERR_WAL_EXISTS when `dir` already holds segments. The first
   * segment appears under its final name only once its head records are durable, so a crash
   * leaves either no log or a complete empty one.
   */
  static async create(dir: string, metadata: Uint8Array, options: WalOptions = {}): Promise<Wal> {
    checkDir(dir)
    const opts = resolveOptions(options)
    if (!(metadata instanceof Uint8Array)) throw invalidArgument('metadata must be a Uint8Array')
    if (metadata.length > MAX_RECORD_BYTES) throw new WalError('ERR_WAL_RECORD_TOO_LARGE', `wal: metadata of ${metadata.length} bytes is over the maximum ${MAX_RECORD_BYTES}`)
    const { fs } = opts
    await mkdirDurable(fs, dir)
    const lock = await takeLock(fs, dir)
    try {
      if ((await listSegments(fs, dir)).length > 0) throw new WalError('ERR_WAL_EXISTS', `wal: ${dir} already holds a WAL`, { dir })
      await removeTmpFiles(fs, dir)
      const tmp = join(dir, '0.tmp')
      const handle = await fs.open(tmp, 'create')
      await handle.truncate(0)
      await handle.allocate(opts.segmentSizeBytes)
      const seed = pickSeed(opts.rng, undefined)
      const head = encodeHead(seed, { seq: 0, firstIndex: 0, prevChain: 0, metadata, hardState: undefined, snapshot: { index: 0, term: 0, confState: EMPTY_CONF_STATE } })
      await handle.write(head.bytes, 0)
      await handle.sync()
      await handle.close()
      const seg: SegmentName = { name: walName(0, 0), seq: 0, firstIndex: 0 }
      await fs.rename(tmp, join(dir, seg.name))
      await fs.fsyncDir(dir)
      // Also when `dir` existed before: whoever made it may not have synced its entry.
      await fs.fsyncDir(dirname(dir))
      const wal = new Wal(INTERNAL, { dir, opts, lock, snapshot: { index: 0, term: 0 }, segments: [seg], released: [] })
      await wal.#startTail({ seed, chain: head.chain, end: head.bytes.length, lastGen: 0, dirtyEnd: head.bytes.length }, metadata, EMPTY_HARD_STATE, 0)
      return wal
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  /**
   * Opens the log in `dir` for appending, positioned at `snapshot` (reading starts at the last
   * segment whose first index is ≤ snapshot.index): a `WalSnapshot`, such as the metadata of
   * the snapshot file loaded, or just `{ index, term }` (`{ index: 0, term: 0 }` without a
   * snapshot). Its snapshot record is matched by index and term; the conf state is not
   * compared. Locks the directory: a second writer fails at once with ERR_WAL_LOCKED. Call
   * `readAll()` before any write.
   */
  static async open(dir: string, snapshot: SnapshotPoint, options: WalOptions = {}): Promise<Wal> {
    return Wal.#open(dir, snapshot, options, true)
  }

  /** Opens the log for reading only, without the lock, alongside a writer. */
  static async openForRead(dir: string, snapshot: SnapshotPoint, options: WalOptions = {}): Promise<Wal> {
    return Wal.#open(dir, snapshot, options, false)
  }

  static async #open(dir: string, snapshot: SnapshotPoint, options: WalOptions, write: boolean): Promise<Wal> {
    checkDir(dir)
    const opts = resolveOptions(options)
    checkSnapshotPoint(snapshot)
    // Only the point is kept: a caller's conf state is not needed, and must not be held.
    snapshot = { index: snapshot.index, term: snapshot.term }
    const { fs } = opts
    await existingSegments(fs, dir)
    const lock = write ? await takeLock(fs, dir) : undefined
    try {
      // Listed again under the lock: a writer that just closed may have cut or recycled.
      const segs = await existingSegments(fs, dir)
      const i = selectSegments(segs, snapshot, dir)
      if (write) await removeTmpFiles(fs, dir)
      return new Wal(INTERNAL, { dir, opts, lock, snapshot, segments: segs.slice(i), released: segs.slice(0, i) })
    } catch (err) {
      await lock?.release()
      throw err
    }
  }

  /** The directory this log lives in. */
  get dir(): string { return this.#dir }

  /** Index of the last entry accepted by `save` (or of the snapshot, if later). */
  get lastIndex(): number { return this.#acceptedLastIndex }

  /** File names of the segments this log holds open, oldest first (the last is the tail). */
  get segmentNames(): string[] { return this.#segments.map((s) => s.name) }

  /** File names of released segments still on disk, waiting to be recycled. */
  get releasedNames(): string[] { return this.#released.map((s) => s.name) }

  /**
   * Reads every record from the opening snapshot on and returns the metadata, the last hard
   * state and the entries after the snapshot. Once per open. In write mode a torn tail fails
   * with ERR_WAL_TORN_TAIL (run `repair`), and afterwards bytes past the last valid record are
   * zeroed so later appends can never run into stale bytes. The log is read through a small
   * reused buffer; each entry returned owns its data (a copy), or has none (`dataAfter`).
   */
  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    if (this.#phase === 'closed') throw new WalError('ERR_WAL_CLOSED', 'wal: closed')
    checkOptionsObject(options)
    const dataAfter = options.dataAfter ?? this.#snapshot.index
    checkU64('dataAfter', dataAfter)
    if (this.#phase !== 'unread') throw callOrder('readAll may be called once per open; open the log again to reread it')
    const replay = new Replay(this.#snapshot, true, { dataAfter })
    const scan = await walkSegments(this.#opts.fs, this.#dir, this.#segments, replay.visit)
    const tail = this.#segments.at(-1)!
    if (scan.stop === 'torn' && !this.#readOnly) throw new WalTornTailError(tail.name, scan.end, scan.stopReason)
    if (!replay.snapshotMatched) {
      throw new WalError('ERR_WAL_SNAPSHOT_NOT_FOUND', `wal: no snapshot record for index ${this.#snapshot.index} term ${this.#snapshot.term}`, { index: this.#snapshot.index, term: this.#snapshot.term })
    }
    // Every segment opens with metadata, so a successful scan has seen at least one copy.
    assert(replay.metadata !== undefined, 'a scanned segment always carries metadata')
    if (this.#readOnly) this.#phase = 'ready'
    else await this.#startTail(scan, replay.metadata, replay.hardState, replay.lastIndex)
    return { metadata: replay.metadata, hardState: replay.hardState, entries: replay.entries! }
  }

  /** Opens the tail for appending after the last valid frame, zeroing what lies beyond it. */
  async #startTail(scan: Pick<SegmentScan, 'seed' | 'chain' | 'end' | 'lastGen' | 'dirtyEnd'>, metadata: Uint8Array, hs: HardState, lastIndex: number): Promise<void> {
    const { fs } = this.#opts
    const tail = await fs.open(join(this.#dir, this.#segments.at(-1)!.name), 'readWrite')
    try {
      if (scan.end < scan.dirtyEnd) {
        // etcd's ZeroToEnd: bytes past the last valid record may be a torn batch or a recycled
        // file's old records; new appends must never be read together with them. Only the part
        // that is not zero already is rewritten.
        const zeros = new Uint8Array(Math.min(1 << 20, scan.dirtyEnd - scan.end))
        for (let at = scan.end; at < scan.dirtyEnd; at += zeros.length) {
          await tail.write(zeros.subarray(0, Math.min(zeros.length, scan.dirtyEnd - at)), at)
        }
      }
      // Also makes the valid frames durable, which the generation rule relies on (FORMAT.md).
      await tail.sync()
    } catch (err) {
      await tail.close()
      throw err
    }
    this.#tail = tail
    this.#offset = scan.end
    this.#seed = scan.seed
    this.#chain = scan.chain
    this.#gen = scan.lastGen + 1
    this.#metadata = metadata
    this.#writtenState = this.#acceptedState = hs
    this.#writtenLastIndex = this.#acceptedLastIndex = lastIndex
    this.#pipeline = new FilePipeline({
      fs, dir: this.#dir, sizeBytes: this.#opts.segmentSizeBytes,
      takeRecyclable: () => (this.#opts.recycle ? this.#released.shift() : undefined),
    })
    this.#phase = 'ready'
  }

  #checkWritable(): void {
    if (this.#phase === 'closed') throw new WalError('ERR_WAL_CLOSED', 'wal: closed')
    if (this.#readOnly) throw callOrder('the log was opened with openForRead; open it with Wal.open to write')
    if (this.#phase !== 'ready') throw callOrder('readAll must complete before writing')
    if (this.#failure !== undefined) throw this.#failedError()
  }

  #failedError(): WalError {
    return new WalError('ERR_WAL_FAILED', `wal: an earlier write failed (${this.#failure?.message}); the log refuses further writes`, {}, { cause: this.#failure })
  }

  /**
   * Appends `entries` (raft entries with their type; consecutive indexes, the first at most one
   * past the last index; a lower first index rewrites the log from there) and then `hardState`
   * unless it is empty (all zero). Resolves once the records are durable; a call that changes
   * neither entries, term nor vote does not force an fsync and resolves once written, unless
   * `options.sync` asks for one (etcd's WAL.Sync after a snapshot: the commit index that makes a
   * snapshot record valid must be durable before the state it covers is installed). Input
   * errors reject before anything is written: ERR_WAL_INVALID_ARGUMENT, ERR_WAL_GAP,
   * ERR_WAL_RECORD_TOO_LARGE.
   */
  async save(hardState: HardState, entries: readonly Entry[] = [], options: { readonly sync?: boolean } = {}): Promise<void> {
    this.#checkWritable()
    checkHardState(hardState)
    checkEntries(entries, this.#acceptedLastIndex)
    if (typeof options !== 'object' || options === null || (options.sync !== undefined && typeof options.sync !== 'boolean')) throw invalidArgument('save options must be { sync?: boolean }')
    const empty = isEmptyHardState(hardState)
    if (empty && entries.length === 0) return
    const prev = this.#acceptedState
    const sync = options.sync === true || entries.length > 0 || hardState.term !== prev.term || hardState.vote !== prev.vote
    // A copy, so a caller reusing its array cannot change what gets written.
    const item = { entries: entries.slice(), hardState: empty ? undefined : hardState, snapshot: undefined, sync }
    const bytes = this.#checkRoom(item)
    if (entries.length > 0) this.#acceptedLastIndex = entries.at(-1)!.index
    if (!empty) this.#acceptedState = hardState
    return this.#enqueue(item, bytes)
  }

  /**
   * Appends a snapshot record (the point a snapshot file covers: index, term and conf state)
   * and always fsyncs. Save the snapshot file first and this record second (etcd #10219).
   */
  async saveSnapshot(snapshot: WalSnapshot): Promise<void> {
    this.#checkWritable()
    checkSnapshot(snapshot)
    snapshot = copySnapshot(snapshot)
    const item = { entries: [], hardState: undefined, snapshot, sync: true }
    const bytes = this.#checkRoom(item)
    if (snapshot.index > this.#acceptedLastIndex) this.#acceptedLastIndex = snapshot.index
    return this.#enqueue(item, bytes)
  }

  /**
   * Releases the segments wholly below `index`: every segment before the last one whose first
   * index is below `index` (that one may still hold entries ≥ index). The tail is never
   * released. Released segments are recycled as future segments. Call it only once a snapshot
   * at or after `index` is durable.
   */
  releaseTo(index: number): void {
    this.#checkWritable()
    checkU64('index', index)
    let keepFrom = this.#segments.length - 1
    for (let i = 0; i < this.#segments.length; i++) {
      if (this.#segments[i]!.firstIndex >= index) { keepFrom = Math.max(i - 1, 0); break }
    }
    this.#released.push(...this.#segments.splice(0, keepFrom))
    assert(this.#segments.length >= 1, 'the tail is never released')
  }

  /** Throws ERR_WAL_QUEUE_FULL when `item` would not fit the queue. Call before changing state. */
  #checkRoom(item: BatchItem): number {
    const bytes = itemBytes(item)
    if (this.#queuedBytes + bytes > this.#opts.maxQueuedBytes) {
      throw new WalError('ERR_WAL_QUEUE_FULL', `wal: ${this.#queuedBytes} bytes are queued; ${bytes} more would exceed maxQueuedBytes ${this.#opts.maxQueuedBytes}`, { queuedBytes: this.#queuedBytes, bytes })
    }
    return bytes
  }

  #enqueue(item: BatchItem & { sync: boolean }, bytes: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ ...item, bytes, resolve, reject })
      this.#queuedBytes += bytes
      this.#enqueued++
      this.#loop ??= this.#run()
    })
  }

  /**
   * Resolves once every save and saveSnapshot called before it has been written to the file and
   * its fdatasync started; it does not wait for the sync to finish (the saves themselves do).
   * Work the caller does on this thread between a save and its durability (a member applying
   * the entries an earlier save made durable) should wait for this first: the group-commit loop
   * writes and starts the sync in microtasks, which a long synchronous step would otherwise hold
   * back, and the disk would sync after that step instead of during it. Never rejects: after a
   * failure or close it resolves, and the saves report the failure.
   */
  written(): Promise<void> {
    if (this.#started >= this.#enqueued) return Promise.resolve()
    return new Promise<void>((resolve) => this.#startWaiters.push({ upto: this.#enqueued, resolve }))
  }

  #markStarted(n: number): void {
    this.#started += n
    let i = 0
    while (i < this.#startWaiters.length && this.#startWaiters[i]!.upto <= this.#started) this.#startWaiters[i++]!.resolve()
    if (i > 0) this.#startWaiters.splice(0, i)
  }

  /** The group-commit loop: one write and at most one fdatasync per batch of queued calls. */
  async #run(): Promise<void> {
    // Let every call made in the current tick join the first batch.
    await Promise.resolve()
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const batch = this.#takeBatch()
      try {
        await this.#writeBatch(batch)
      } catch (err) {
        this.#failure = err instanceof Error ? err : new Error(String(err))
        for (const p of batch) p.reject(this.#failedError())
      }
    }
    for (const p of this.#queue.splice(0)) p.reject(this.#failedError())
    this.#queuedBytes = 0
    this.#markStarted(this.#enqueued - this.#started)
    this.#loop = undefined
  }

  #takeBatch(): Pending[] {
    let bytes = 0
    let n = 0
    while (n < this.#queue.length && (n === 0 || bytes + this.#queue[n]!.bytes <= this.#opts.maxBatchBytes)) {
      bytes += this.#queue[n]!.bytes
      n++
    }
    this.#queuedBytes -= bytes
    return this.#queue.splice(0, n)
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    const tail = this.#tail!
    const { bytes, chain } = encodeBatch(batch, { seed: this.#seed, gen: this.#gen, chain: this.#chain }, this.#scratch)
    this.#chain = chain
    for (const p of batch) {
      const last = p.entries.at(-1)
      if (last !== undefined) this.#writtenLastIndex = last.index
      if (p.snapshot !== undefined && p.snapshot.index > this.#writtenLastIndex) this.#writtenLastIndex = p.snapshot.index
      if (p.hardState !== undefined) this.#writtenState = p.hardState
    }
    await tail.write(bytes, this.#offset)
    this.#offset += bytes.length
    if (batch.some((p) => p.sync)) {
      const synced = tail.datasync()
      this.#markStarted(batch.length)
      await synced
      // A frame of a later generation is written only after this fsync: a reader uses that to
      // tell a torn write from damage to synced bytes.
      this.#gen++
    } else this.#markStarted(batch.length)
    for (const p of batch) p.resolve()
    if (this.#offset >= this.#opts.segmentSizeBytes) await this.#cut()
  }

  /**
   * Closes the full tail and continues in a new segment: truncate the tail at its end and fsync
   * it; take the prepared file; write the head records (crc record carrying the chain, metadata,
   * current hard state) and fsync; rename it to its final name and fsync the directory. Only
   * then is anything appended to it, so a segment that exists under its final name always has a
   * durable head.
   */
  async #cut(): Promise<void> {
    const { fs, failpoint, rng } = this.#opts
    failpoint('walBeforeCut')
    const old = this.#tail!
    await old.truncate(this.#offset)
    await old.sync()
    const file: PreparedFile = await this.#pipeline!.take()
    const seg: SegmentName = { name: walName(this.#segments.at(-1)!.seq + 1, this.#writtenLastIndex + 1), seq: this.#segments.at(-1)!.seq + 1, firstIndex: this.#writtenLastIndex + 1 }
    const seed = pickSeed(rng, file.oldSeed)
    const hardState = isEmptyHardState(this.#writtenState) ? undefined : this.#writtenState
    const head = encodeHead(seed, { seq: seg.seq, firstIndex: seg.firstIndex, prevChain: this.#chain, metadata: this.#metadata, hardState, snapshot: undefined })
    try {
      await file.handle.write(head.bytes, 0)
      await file.handle.sync()
    } finally {
      await file.handle.close()
    }
    await fs.rename(file.path, join(this.#dir, seg.name))
    failpoint('walAfterRename')
    await fs.fsyncDir(this.#dir)
    // Reopened under the final name rather than kept: a handle's path must name its file.
    const tail = await fs.open(join(this.#dir, seg.name), 'readWrite')
    this.#tail = tail
    await old.close()
    this.#segments.push(seg)
    this.#offset = head.bytes.length
    this.#seed = seed
    this.#chain = head.chain
    this.#gen = 1
  }

  /**
   * Waits for queued saves, fsyncs the tail, deletes the prepared segment and releases the lock.
   * Afterwards every call fails with ERR_WAL_CLOSED. Safe to call twice and on a failed log.
   */
  async close(): Promise<void> {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    try {
      await this.#loop
      if (this.#tail !== undefined && this.#failure === undefined) await this.#tail.sync()
    } finally {
      await this.#pipeline?.close()
      await this.#tail?.close().catch(() => {})
      this.#tail = undefined
      const lock = this.#lock
      this.#lock = undefined
      await lock?.release()
    }
  }
}

/** A copy whose lists a caller cannot change while the record waits in the queue. */
function copySnapshot(s: WalSnapshot): WalSnapshot {
  const c = s.confState
  return {
    index: s.index, term: s.term,
    confState: { voters: [...c.voters], learners: [...c.learners], votersOutgoing: [...c.votersOutgoing], learnersNext: [...c.learnersNext], autoLeave: c.autoLeave },
  }
}
