import type { FileSystem } from '@strata/seams'
import type { DecodedRecord, StopKind } from './decoder.js'
import { scanSegment } from './decoder.js'
import { WalError } from './errors.js'
import { Replay, readSegment, walkSegments } from './reader.js'
import type { HardState } from '@strata/raft'
import type { SnapshotPoint, WalSnapshot } from './record.js'
import { EMPTY_HARD_STATE } from './record.js'
import { checkDir, checkOptionsObject, checkSnapshotPoint, existingSegments, requireContiguous, resolveFs, selectSegments } from './util.js'

export interface VerifyOptions {
  /** The file system every byte goes through. Default: `nodeFileSystem`. */
  readonly fs?: FileSystem
  /**
   * Check from this snapshot point on, and require its snapshot record (matched by index and
   * term; ERR_WAL_SNAPSHOT_NOT_FOUND). A full `WalSnapshot` will do; its conf state is not
   * compared. Default: from the oldest segment on disk, without a snapshot requirement.
   */
  readonly snapshot?: SnapshotPoint
}

/** Options of `validSnapshotEntries` and `dump`. */
export interface ToolOptions {
  /** The file system every byte goes through. Default: `nodeFileSystem`. */
  readonly fs?: FileSystem
}

function toolFs(dir: unknown, options: ToolOptions): FileSystem {
  checkDir(dir)
  checkOptionsObject(options)
  return resolveFs(options.fs)
}

/** What `verify` found. */
export interface VerifyResult {
  /** The last hard state in the log. */
  readonly hardState: HardState
  /** Index of the last entry after the starting point. */
  readonly lastIndex: number
  /** Number of segments checked. */
  readonly segments: number
  /** How the newest segment ends: `torn` means `repair` would cut a torn write. */
  readonly tail: StopKind
}

/**
 * Reads the log without locking it and checks everything a reader checks: frame checksums, the
 * chain across segments (carried by each segment's opening crc record), metadata equality,
 * entry gaps, and the snapshot record's term. A torn tail is reported, not an error; any other
 * damage throws the typed error readAll would.
 */
export async function verify(dir: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  checkDir(dir)
  checkOptionsObject(options)
  const fs = resolveFs(options.fs)
  const snapshot = options.snapshot
  if (snapshot !== undefined) checkSnapshotPoint(snapshot)
  const segs = await existingSegments(fs, dir)
  const from = snapshot === undefined ? 0 : selectSegments(segs, snapshot, dir)
  const chosen = segs.slice(from)
  requireContiguous(chosen, dir)
  // Without a snapshot, entries are checked from the first index the oldest segment may hold.
  const base = snapshot ?? { index: Math.max(0, chosen[0]!.firstIndex - 1), term: 0 }
  const replay = new Replay(base, false, { followSnapshots: snapshot === undefined })
  const scan = await walkSegments(fs, dir, chosen, replay.visit)
  if (snapshot !== undefined && !replay.snapshotMatched) {
    throw new WalError('ERR_WAL_SNAPSHOT_NOT_FOUND', `wal: no snapshot record for index ${snapshot.index} term ${snapshot.term}`, { index: snapshot.index, term: snapshot.term })
  }
  return { hardState: replay.hardState, lastIndex: replay.lastIndex, segments: chosen.length, tail: scan.stop }
}

/** What `snapshotMarkers` found. */
export interface SnapshotMarkers {
  /** The snapshot records with an index at most the last commit, in log order (validSnapshotEntries). */
  readonly valid: WalSnapshot[]
  /** The last hard state in the log (all zero when there is none). */
  readonly hardState: HardState
}

/**
 * The snapshot records a restart may use (those whose index is at most the last hard state's
 * commit) and that last hard state, read from the oldest segment on disk through a small
 * buffer. The reader adopts the chain value carried by that segment's opening crc record — the
 * check whose absence was etcd #11918.
 */
export async function snapshotMarkers(dir: string, options: ToolOptions = {}): Promise<SnapshotMarkers> {
  const fs = toolFs(dir, options)
  const segs = await existingSegments(fs, dir)
  requireContiguous(segs, dir)
  // Entries are not replayed here: a log whose oldest segment starts mid-way is still valid.
  const snapshots: WalSnapshot[] = []
  let hardState = EMPTY_HARD_STATE
  await walkSegments(fs, dir, segs, (rec) => {
    if (rec.type === 'snapshot') snapshots.push(rec.snapshot)
    else if (rec.type === 'hardState') hardState = rec.hardState
  })
  return { valid: snapshots.filter((s) => s.index <= hardState.commit), hardState }
}

/** The snapshot records a restart may use: {@link snapshotMarkers}' `valid`. */
export async function validSnapshotEntries(dir: string, options: ToolOptions = {}): Promise<WalSnapshot[]> {
  return (await snapshotMarkers(dir, options)).valid
}

/** One record as `dump` reports it. */
export interface DumpItem {
  readonly segment: string
  readonly offset: number
  readonly record: DecodedRecord
}

/**
 * Every record of every segment, oldest first, for a CLI or a debugger. Segments are decoded
 * one at a time; the chain is checked across them. Ends after the newest segment's last valid
 * record (a torn tail is not an error here); damage throws the typed error.
 */
export async function* dump(dir: string, options: ToolOptions = {}): AsyncGenerator<DumpItem, void, undefined> {
  const fs = toolFs(dir, options)
  const segs = await existingSegments(fs, dir)
  requireContiguous(segs, dir)
  let chain: number | undefined
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!
    const buf = await readSegment(fs, dir, seg)
    const items: DumpItem[] = []
    const scan = scanSegment(buf, { name: seg.name, seq: seg.seq, firstIndex: seg.firstIndex, chain, last: i === segs.length - 1 }, (record, offset) => {
      items.push({ segment: seg.name, offset, record })
    })
    chain = scan.chain
    yield* items
  }
}
