import { join } from 'node:path'
import type { Failpoint, FileLock, FileSystem, Rng } from '@strata/seams'
import { cryptoRng, hasCode, noFailpoint, nodeFileSystem } from '@strata/seams'
import { WalError } from './errors.js'
import type { Entry, HardState, WalSnapshot } from './record.js'
import { ENTRY_FIXED_BYTES, MAX_RECORD_BYTES } from './record.js'
import type { SegmentName } from './wal-name.js'
import { isContiguous, listSegments, searchIndex } from './wal-name.js'

/** Options of `Wal.create`, `Wal.open`, `Wal.openForRead` and the standalone tools. */
export interface WalOptions {
  /** The file system every byte goes through. Default: `nodeFileSystem`. */
  readonly fs?: FileSystem
  /** Called with `walBeforeCut` and `walAfterRename`; may throw to simulate a crash. Default: no-op. */
  readonly failpoint?: Failpoint
  /**
   * Bytes after which the tail segment is cut and a new one started; also the size segments
   * are preallocated to. A multiple of 8, from 64 to 1 GiB. Default: 64,000,000 (64 MB, as etcd).
   */
  readonly segmentSizeBytes?: number
  /** Source of the per-segment seeds. Default: `cryptoRng()`. */
  readonly rng?: Rng
  /** Reuse released segments as new segments instead of allocating files. Default: true. */
  readonly recycle?: boolean
  /** Most bytes one group-commit batch writes before its fsync (one save may exceed it). Default: 4 MiB. */
  readonly maxBatchBytes?: number
  /**
   * Most bytes of saves accepted but not yet written; a save that would exceed it fails at once
   * with ERR_WAL_QUEUE_FULL (nothing is written). Default: 256 MiB.
   */
  readonly maxQueuedBytes?: number
}

export interface ResolvedOptions {
  readonly fs: FileSystem
  readonly failpoint: Failpoint
  readonly segmentSizeBytes: number
  readonly rng: Rng
  readonly recycle: boolean
  readonly maxBatchBytes: number
  readonly maxQueuedBytes: number
}

export const DEFAULT_SEGMENT_SIZE_BYTES = 64_000_000
/** Readers hold a whole segment in memory: 1 GiB keeps that bounded. */
export const MAX_SEGMENT_SIZE_BYTES = 1024 * 1024 * 1024
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024
const DEFAULT_MAX_QUEUED_BYTES = 256 * 1024 * 1024
const LOCK_NAME = 'LOCK'
const TMP_NAME = /^\d+\.tmp$/

export function resolveOptions(o: WalOptions): ResolvedOptions {
  const segmentSizeBytes = o.segmentSizeBytes ?? DEFAULT_SEGMENT_SIZE_BYTES
  if (!Number.isSafeInteger(segmentSizeBytes) || segmentSizeBytes < 64 || segmentSizeBytes > MAX_SEGMENT_SIZE_BYTES || segmentSizeBytes % 8 !== 0) {
    throw new WalError('ERR_WAL_BAD_INPUT', `segmentSizeBytes must be a multiple of 8 from 64 to ${MAX_SEGMENT_SIZE_BYTES}, got ${segmentSizeBytes}`)
  }
  const maxBatchBytes = o.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES
  if (!Number.isSafeInteger(maxBatchBytes) || maxBatchBytes < 1) throw new WalError('ERR_WAL_BAD_INPUT', `maxBatchBytes must be a positive integer, got ${maxBatchBytes}`)
  const maxQueuedBytes = o.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
  if (!Number.isSafeInteger(maxQueuedBytes) || maxQueuedBytes < 1) throw new WalError('ERR_WAL_BAD_INPUT', `maxQueuedBytes must be a positive integer, got ${maxQueuedBytes}`)
  return {
    fs: o.fs ?? nodeFileSystem, failpoint: o.failpoint ?? noFailpoint, segmentSizeBytes,
    rng: o.rng ?? cryptoRng(), recycle: o.recycle ?? true, maxBatchBytes, maxQueuedBytes,
  }
}

export function badInput(message: string, context?: Record<string, unknown>): WalError {
  return new WalError('ERR_WAL_BAD_INPUT', `wal: ${message}`, context)
}

export function checkU64(what: string, n: unknown): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw badInput(`${what} must be a safe integer >= 0, got ${String(n)}`)
}

export function checkSnapshot(s: WalSnapshot): void {
  checkU64('snapshot.index', s.index)
  checkU64('snapshot.term', s.term)
}

export function checkHardState(hs: HardState): void {
  checkU64('hardState.term', hs.term)
  checkU64('hardState.vote', hs.vote)
  checkU64('hardState.commit', hs.commit)
}

/** Checks a batch of entries against the log's last index; the first bad one fails the whole call. */
export function checkEntries(entries: readonly Entry[], lastIndex: number): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    checkU64('entry.index', e.index)
    checkU64('entry.term', e.term)
    if (!(e.data instanceof Uint8Array)) throw badInput(`entry ${e.index}: data must be a Uint8Array`)
    if (e.data.length > MAX_RECORD_BYTES - ENTRY_FIXED_BYTES) {
      throw new WalError('ERR_WAL_RECORD_TOO_LARGE', `wal: entry ${e.index} has ${e.data.length} bytes of data; the maximum is ${MAX_RECORD_BYTES - ENTRY_FIXED_BYTES}`, { index: e.index, bytes: e.data.length })
    }
    if (i > 0 && e.index !== entries[0]!.index + i) throw badInput(`entries must have consecutive indexes; ${e.index} follows ${entries[i - 1]!.index}`)
  }
  const first = entries[0]
  if (first === undefined) return
  if (first.index < 1) throw badInput('entry indexes start at 1')
  if (first.index > lastIndex + 1) throw new WalError('ERR_WAL_GAP', `wal: entry ${first.index} would leave a gap after ${lastIndex}`, { index: first.index, lastIndex })
}

export async function takeLock(fs: FileSystem, dir: string): Promise<FileLock> {
  try {
    return await fs.lock(join(dir, LOCK_NAME))
  } catch (err) {
    if (hasCode(err, 'ERR_LOCKED')) throw new WalError('ERR_WAL_LOCKED', `wal: ${dir} is locked by another writer`, { dir }, { cause: err })
    throw err
  }
}

export async function removeTmpFiles(fs: FileSystem, dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) if (TMP_NAME.test(name)) await fs.unlink(join(dir, name))
}

/** The segments of a WAL directory; ERR_WAL_NOT_FOUND when there is none. */
export async function existingSegments(fs: FileSystem, dir: string): Promise<SegmentName[]> {
  const st = await fs.stat(dir)
  if (st === undefined || !st.isDirectory) throw new WalError('ERR_WAL_NOT_FOUND', `wal: ${dir} is not a directory`, { dir })
  const segs = await listSegments(fs, dir)
  if (segs.length === 0) throw new WalError('ERR_WAL_NOT_FOUND', `wal: ${dir} holds no WAL segment`, { dir })
  return segs
}

/** ERR_WAL_NOT_FOUND unless the segments' sequence numbers increase by one. */
export function requireContiguous(segs: readonly SegmentName[], dir: string): void {
  if (!isContiguous(segs)) throw new WalError('ERR_WAL_NOT_FOUND', `wal: segment sequence numbers in ${dir} do not increase continuously`, { dir })
}

/** The segments to read for a snapshot: from the last one starting at or before it, contiguous. */
export function selectSegments(segs: readonly SegmentName[], snapshot: WalSnapshot, dir: string): number {
  const i = searchIndex(segs, snapshot.index)
  if (i < 0) throw new WalError('ERR_WAL_NOT_FOUND', `wal: no segment in ${dir} covers index ${snapshot.index}`, { dir, index: snapshot.index })
  requireContiguous(segs.slice(i), dir)
  return i
}

/** The last segment of a non-empty list. */
export function lastSegment(segs: readonly SegmentName[]): SegmentName {
  const last = segs.at(-1)
  if (last === undefined) throw new WalError('ERR_WAL_NOT_FOUND', 'wal: no segment')
  return last
}
