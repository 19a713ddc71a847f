import assert from 'node:assert'
import { join } from 'node:path'
import { nextTurn } from '@strata/seams'
import type { FileHandle, FileSystem } from '@strata/seams'
import type { DecodedRecord, ScanNeed, SegmentScan, SegmentWindow } from './decoder.js'
import { SCAN_STEP_BYTES, scanSegmentSteps } from './decoder.js'
import { WalError } from './errors.js'
import type { Entry, HardState } from '@strata/raft'
import type { SnapshotPoint, WalSnapshot } from './record.js'
import { EMPTY_HARD_STATE, FRAME_HEADER_BYTES } from './record.js'
import type { SegmentName } from './wal-name.js'

/**
 * The whole file's bytes, read through the seam, in a plain Uint8Array (not a Buffer, whose
 * `slice` would not copy) over memory that is not zero-filled first: every byte returned was read.
 */
export async function readSegment(fs: FileSystem, dir: string, seg: SegmentName): Promise<Uint8Array> {
  const handle = await fs.open(join(dir, seg.name), 'read')
  try {
    const size = await handle.size()
    const buf = freshBuffer(size)
    const n = await handle.read(buf, 0)
    return n === size ? buf : buf.subarray(0, n)
  } finally {
    await handle.close()
  }
}

/**
 * Told each record of a walk with its segment and offset. An entry's data is a view into the
 * walk's read buffer, valid only during the call: a visitor that keeps it copies it.
 */
export type RecordVisitor = (rec: DecodedRecord, seg: SegmentName, offset: number) => void

/**
 * Bytes of the buffer {@link walkSegments} reads a segment through, reused from piece to piece
 * (a frame that does not fit gets a buffer of its own while it is read). Measured on this
 * machine: a 64 MiB segment read into one fresh buffer took ~180 ms plus ~100 ms for the first
 * pass over it (first touches of fresh memory); through a reused 1 MiB buffer, ~20 ms.
 */
export const READ_PIECE_BYTES = 1 << 20

/**
 * Decodes `segs` in order with one chain running through them, calling `visit` for every
 * record. The first segment's opening crc record seeds the chain, so reading may start at any
 * segment (#11918). Returns the scan of the last segment.
 *
 * Each segment is read in pieces through one buffer of {@link READ_PIECE_BYTES}: the scan
 * ({@link scanSegmentSteps}) asks for the bytes it needs next, a frame cut by the end of a
 * piece is carried over to the start of the next, and a frame larger than the buffer is read
 * into one of its own size. So a walk holds ~1 MiB whatever the log's size, and entry data are
 * valid only during `visit`. Between pieces the walk awaits a read; after every
 * ~{@link SCAN_STEP_BYTES} of frames checked without one it awaits `pause`. A file found
 * shorter than its size at open reads as zeros past its end (an end of the log, as a zero
 * frame is). `pieceBytes` (a multiple of 8, at least a frame header) is for tests.
 */
export async function walkSegments(
  fs: FileSystem, dir: string, segs: readonly SegmentName[], visit: RecordVisitor,
  pause: () => Promise<void> = nextTurn, pieceBytes = READ_PIECE_BYTES,
): Promise<SegmentScan> {
  assert(segs.length > 0, 'walkSegments needs at least one segment')
  assert(pieceBytes >= FRAME_HEADER_BYTES && pieceBytes % 8 === 0, 'pieces hold a frame header and keep frames 8-aligned')
  const piece = freshBuffer(pieceBytes)
  let chain: number | undefined
  let scan: SegmentScan | undefined
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!
    const opts = { name: seg.name, seq: seg.seq, firstIndex: seg.firstIndex, chain, last: i === segs.length - 1 }
    const handle = await fs.open(join(dir, seg.name), 'read')
    try {
      const size = await handle.size()
      const win: SegmentWindow = { buf: piece.subarray(0, 0), view: new DataView(piece.buffer, piece.byteOffset, 0), base: 0, size }
      const steps = scanSegmentSteps(win, opts, (rec, offset) => visit(rec, seg, offset))
      for (;;) {
        const r = steps.next()
        if (r.done === true) {
          scan = r.value
          break
        }
        if (r.value === undefined) await pause()
        else await moveWindow(win, r.value, handle, piece)
      }
    } finally {
      await handle.close()
    }
    chain = scan.chain
  }
  return scan!
}

/**
 * Moves `win` to start at `need.from`: the bytes it already holds from there on are carried to
 * the start of the buffer, and the rest is read from the file, as much as the buffer holds.
 * The buffer is `piece`, or a fresh one (rounded up to 8 bytes) when the need is larger.
 */
async function moveWindow(win: SegmentWindow, need: ScanNeed, handle: FileHandle, piece: Uint8Array): Promise<void> {
  const end = win.base + win.buf.length
  assert(need.from >= win.base && need.from <= end && need.to > end && need.to <= win.size, 'a scan asks for bytes past its window, never behind it')
  const into = need.to - need.from <= piece.length ? piece : freshBuffer((need.to - need.from + 7) & ~7)
  const carried = end - need.from
  if (into.buffer === win.buf.buffer) into.copyWithin(0, need.from - win.base, win.buf.length)
  else into.set(win.buf.subarray(need.from - win.base))
  const length = Math.min(into.length, win.size - need.from)
  const wanted = into.subarray(carried, length)
  const n = await handle.read(wanted, end)
  if (n < wanted.length) wanted.fill(0, n)
  win.buf = into.subarray(0, length)
  win.view = new DataView(into.buffer, into.byteOffset, length)
  win.base = need.from
}

/** A buffer over memory that is not zero-filled first (every byte is written before it is read). */
function freshBuffer(size: number): Uint8Array {
  const raw = Buffer.allocUnsafeSlow(size)
  return new Uint8Array(raw.buffer, raw.byteOffset, size)
}

/** How a {@link Replay} keeps entries. */
export interface ReplayOptions {
  /**
   * With it (verify without a snapshot), a snapshot record beyond the last entry moves the base
   * up to it, as a restart from that snapshot would: the log legitimately continues after it
   * without the entries it covers. Only without kept entries. Default: false.
   */
  readonly followSnapshots?: boolean
  /**
   * Kept entries at or below this index get empty data; those after it a copy of theirs.
   * Default: the snapshot index (every kept entry with its data).
   */
  readonly dataAfter?: number
}

/** The data of every entry kept without it. */
const NO_DATA = new Uint8Array(0)

/**
 * What replaying records from a snapshot point yields, following Raft's log rules: entries at
 * or below the snapshot are skipped (but, being rewrites, drop what was written after the
 * snapshot before them); a later entry with an index already seen replaces it and
 * drops everything after it (Raft §5.3, Fig. 7 rewrites); an index beyond the next one is a gap.
 * Kept entries own their data (a copy each, the walk's buffer being reused), or have none.
 */
export class Replay {
  readonly snapshot: SnapshotPoint
  /** Invariant: every metadata record seen so far was byte-equal to this one. */
  metadata: Uint8Array | undefined
  /** The last hard state record seen. */
  hardState: HardState = EMPTY_HARD_STATE
  /** Invariant: entries[i].index === #base + 1 + i (kept only when asked). */
  readonly entries: Entry[] | undefined
  /** Every snapshot record seen, in log order. */
  readonly snapshots: WalSnapshot[] = []
  /** Invariant: number of entries after the snapshot, equal to entries.length when kept. */
  count = 0
  snapshotMatched = false
  /** Invariant: entries at or below #base are skipped; starts at the snapshot index. */
  #base: number
  readonly #followSnapshots: boolean
  /** Invariant: kept entries at or below it have NO_DATA; the others a copy of their data. */
  readonly #dataAfter: number

  constructor(snapshot: SnapshotPoint, keepEntries: boolean, options: ReplayOptions = {}) {
    this.snapshot = snapshot
    this.entries = keepEntries ? [] : undefined
    this.#base = snapshot.index
    this.#followSnapshots = options.followSnapshots === true
    assert(!this.#followSnapshots || !keepEntries, 'following snapshots is for checks that keep no entries')
    this.#dataAfter = options.dataAfter ?? snapshot.index
  }

  /** The index of the last entry (or the snapshot index when there is none after it). */
  get lastIndex(): number {
    return this.#base + this.count
  }

  readonly visit: RecordVisitor = (rec, seg, offset) => {
    switch (rec.type) {
      case 'entry': return this.#entry(rec.entry, seg, offset)
      case 'hardState': this.hardState = rec.hardState; return
      case 'metadata': return this.#metadata(rec.data, seg, offset)
      case 'snapshot': return this.#snapshot(rec.snapshot, seg, offset)
      case 'crc': return
    }
  }

  #entry(e: Entry, seg: SegmentName, offset: number): void {
    if (e.index <= this.#base) {
      // A rewrite at or below the snapshot still drops every entry after it that an earlier
      // save had written (etcd keeps those stale entries; a writer never re-sends them).
      this.count = 0
      if (this.entries !== undefined) this.entries.length = 0
      return
    }
    const up = e.index - this.#base - 1
    if (up > this.count) {
      throw new WalError('ERR_WAL_GAP', `wal: entry ${e.index} follows entry ${this.lastIndex} (gap) in ${seg.name} at offset ${offset}`, { segment: seg.name, offset, index: e.index, lastIndex: this.lastIndex })
    }
    this.count = up + 1
    if (this.entries !== undefined) {
      if (this.entries.length > up) this.entries.length = up
      const data = e.index <= this.#dataAfter || e.data.length === 0 ? NO_DATA : e.data.slice()
      this.entries.push({ index: e.index, term: e.term, type: e.type, data })
    }
  }

  #metadata(data: Uint8Array, seg: SegmentName, offset: number): void {
    if (this.metadata === undefined) { this.metadata = data; return }
    if (Buffer.compare(this.metadata, data) !== 0) {
      throw new WalError('ERR_WAL_METADATA_CONFLICT', `wal: metadata in ${seg.name} at offset ${offset} differs from earlier metadata`, { segment: seg.name, offset })
    }
  }

  #snapshot(s: WalSnapshot, seg: SegmentName, offset: number): void {
    this.snapshots.push(s)
    if (this.#followSnapshots && s.index > this.lastIndex) {
      this.#base = s.index
      this.count = 0
    }
    if (s.index !== this.snapshot.index) return
    if (s.term !== this.snapshot.term) {
      throw new WalError('ERR_WAL_SNAPSHOT_MISMATCH', `wal: snapshot record at index ${s.index} has term ${s.term}, expected ${this.snapshot.term}`, { segment: seg.name, offset, index: s.index, term: s.term, expectedTerm: this.snapshot.term })
    }
    this.snapshotMatched = true
  }
}
