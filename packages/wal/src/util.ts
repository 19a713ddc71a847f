import { dirname, join } from 'node:path'
import type { Entry, HardState } from '@strata/raft'
import type { Failpoint, FileLock, FileSystem, Rng } from '@strata/seams'
import { cryptoRng, hasCode, noFailpoint, nodeFileSystem } from '@strata/seams'
import { checkConfState } from './conf-state.js'
import { WalError, invalidArgument, invalidOption } from './errors.js'
import type { SnapshotPoint, WalSnapshot } from './record.js'
import { ENTRY_FIXED_BYTES, MAX_ENTRY_TYPE, MAX_RECORD_BYTES } from './record.js'
import type { SegmentName } from './wal-name.js'
import { isContiguous, listSegments, searchIndex } from './wal-name.js'

/**
 * Options of `Wal.create`, `Wal.open` and `Wal.openForRead`. A value out of its bounds or of the
 * wrong type fails with ERR_WAL_INVALID_OPTION.
 */
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
  /** Most bytes one group-commit batch writes before its fsync (one save may exceed it). At least 1. Default: 4 MiB. */
  readonly maxBatchBytes?: number
  /**
   * Most bytes of saves accepted but not yet written; a save that would exceed it fails at once
   * with ERR_WAL_QUEUE_FULL (nothing is written). At least 1. Default: 256 MiB.
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

/** ERR_WAL_INVALID_OPTION unless `options` is an object (or undefined, meaning all defaults). */
export function checkOptionsObject(options: unknown): void {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new WalError('ERR_WAL_INVALID_OPTION', `wal: options must be an object, got ${String(options)}`)
  }
}

/** The `fs` option checked by shape (an object with the FileSystem's methods), or the default. */
export function resolveFs(fs: unknown): FileSystem {
  if (fs === undefined) return nodeFileSystem
  const f = fs as Partial<Record<keyof FileSystem, unknown>>
  if (typeof fs !== 'object' || fs === null || typeof f.open !== 'function' || typeof f.rename !== 'function' || typeof f.fsyncDir !== 'function') {
    throw invalidOption('fs', 'must be a FileSystem (see @strata/seams)')
  }
  return fs as FileSystem
}

/** The `failpoint` option checked by shape, or the default. */
export function resolveFailpoint(failpoint: unknown): Failpoint {
  if (failpoint === undefined) return noFailpoint
  if (typeof failpoint !== 'function') throw invalidOption('failpoint', `must be a function, got ${String(failpoint)}`)
  return failpoint as Failpoint
}

/** A positive safe integer option within [min, max], or its default. */
export function intOption(name: string, value: unknown, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return dflt
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, `must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

export function resolveOptions(o: WalOptions = {}): ResolvedOptions {
  checkOptionsObject(o)
  const segmentSizeBytes = intOption('segmentSizeBytes', o.segmentSizeBytes, DEFAULT_SEGMENT_SIZE_BYTES, 64, MAX_SEGMENT_SIZE_BYTES)
  if (segmentSizeBytes % 8 !== 0) throw invalidOption('segmentSizeBytes', `must be a multiple of 8, got ${segmentSizeBytes}`)
  const maxBatchBytes = intOption('maxBatchBytes', o.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES, 1)
  const maxQueuedBytes = intOption('maxQueuedBytes', o.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES, 1)
  if (o.recycle !== undefined && typeof o.recycle !== 'boolean') throw invalidOption('recycle', `must be a boolean, got ${String(o.recycle)}`)
  const rng = o.rng as Partial<Rng> | undefined
  if (rng !== undefined && (typeof rng !== 'object' || rng === null || typeof rng.nextU32 !== 'function')) throw invalidOption('rng', 'must be an Rng (an object with nextU32())')
  return {
    fs: resolveFs(o.fs), failpoint: resolveFailpoint(o.failpoint), segmentSizeBytes,
    rng: o.rng ?? cryptoRng(), recycle: o.recycle ?? true, maxBatchBytes, maxQueuedBytes,
  }
}

/** ERR_WAL_INVALID_ARGUMENT unless `dir` is a non-empty string. */
export function checkDir(dir: unknown): asserts dir is string {
  if (typeof dir !== 'string' || dir.length === 0) throw invalidArgument(`dir must be a non-empty string, got ${String(dir)}`)
}

export function checkU64(what: string, n: unknown): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${what} must be a safe integer >= 0, got ${String(n)}`)
}

function checkObject(what: string, o: unknown): asserts o is Record<string, unknown> {
  if (typeof o !== 'object' || o === null) throw invalidArgument(`${what} must be an object, got ${String(o)}`)
}

/** The point `open`/`verify` match a snapshot record by; a conf state, if given, is not checked. */
export function checkSnapshotPoint(s: unknown, what = 'snapshot'): asserts s is SnapshotPoint {
  checkObject(what, s)
  checkU64(`${what}.index`, s['index'])
  checkU64(`${what}.term`, s['term'])
}

/** A snapshot marker or snapshot file's metadata to write: index, term and a valid conf state. */
export function checkSnapshot(s: unknown, what = 'snapshot'): asserts s is WalSnapshot {
  checkSnapshotPoint(s, what)
  checkConfState(`${what}.confState`, (s as { confState?: unknown }).confState)
}

export function checkHardState(hs: unknown): asserts hs is HardState {
  checkObject('hardState', hs)
  checkU64('hardState.term', hs['term'])
  checkU64('hardState.vote', hs['vote'])
  checkU64('hardState.commit', hs['commit'])
}

/** Checks a batch of entries against the log's last index; the first bad one fails the whole call. */
export function checkEntries(entries: unknown, lastIndex: number): asserts entries is readonly Entry[] {
  if (!Array.isArray(entries)) throw invalidArgument('entries must be an array of raft entries')
  for (let i = 0; i < entries.length; i++) {
    const e: unknown = entries[i]
    checkObject(`entries[${i}]`, e)
    checkEntry(e)
    if (i > 0 && e['index'] !== (entries[0] as Entry).index + i) throw invalidArgument(`entries must have consecutive indexes; ${String(e['index'])} follows ${(entries[i - 1] as Entry).index}`)
  }
  const first = entries[0] as Entry | undefined
  if (first === undefined) return
  if (first.index < 1) throw invalidArgument('entry indexes start at 1')
  if (first.index > lastIndex + 1) throw new WalError('ERR_WAL_GAP', `wal: entry ${first.index} would leave a gap after ${lastIndex}`, { index: first.index, lastIndex })
}

function checkEntry(e: Record<string, unknown>): void {
  checkU64('entry.index', e['index'])
  checkU64('entry.term', e['term'])
  const type = e['type']
  if (typeof type !== 'number' || !Number.isInteger(type) || type < 0 || type > MAX_ENTRY_TYPE) {
    throw invalidArgument(`entry ${e['index']}: type must be an EntryType (0 Normal, 1 ConfChange, 2 ConfChangeV2), got ${String(type)}`)
  }
  const data = e['data']
  if (!(data instanceof Uint8Array)) throw invalidArgument(`entry ${e['index']}: data must be a Uint8Array`)
  if (data.length > MAX_RECORD_BYTES - ENTRY_FIXED_BYTES) {
    throw new WalError('ERR_WAL_RECORD_TOO_LARGE', `wal: entry ${e['index']} has ${data.length} bytes of data; the maximum is ${MAX_RECORD_BYTES - ENTRY_FIXED_BYTES}`, { index: e['index'], bytes: data.length })
  }
}

export async function takeLock(fs: FileSystem, dir: string): Promise<FileLock> {
  try {
    return await fs.lock(join(dir, LOCK_NAME))
  } catch (err) {
    if (hasCode(err, 'ERR_SEAMS_LOCKED')) throw new WalError('ERR_WAL_LOCKED', `wal: ${dir} is locked by another writer`, { dir }, { cause: err })
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
export function selectSegments(segs: readonly SegmentName[], snapshot: SnapshotPoint, dir: string): number {
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

/**
 * Creates `dir` and its missing parents so that they survive a crash: a new directory's entry
 * is durable only once its parent is fsynced, and a file inside a directory that vanishes with
 * the crash is lost however well it was synced itself.
 */
export async function mkdirDurable(fs: FileSystem, dir: string): Promise<void> {
  const created: string[] = []
  for (let d = dir; (await fs.stat(d)) === undefined; d = dirname(d)) {
    created.push(d)
    if (dirname(d) === d) break
  }
  await fs.mkdir(dir)
  for (const d of created) await fs.fsyncDir(dirname(d))
}
