import assert from 'node:assert'
import { join } from 'node:path'
import { nextTurn } from '@strata/seams'
import type { FileSystem } from '@strata/seams'
import type { DecodedRecord, SegmentScan } from './decoder.js'
import { scanSegmentSteps } from './decoder.js'
import { WalError } from './errors.js'
import type { Entry, HardState } from '@strata/raft'
import type { SnapshotPoint, WalSnapshot } from './record.js'
import { EMPTY_HARD_STATE } from './record.js'
import type { SegmentName } from './wal-name.js'

/**
 * The whole file's bytes, read through the seam, in a plain Uint8Array (not a Buffer, whose
 * `slice` would not copy) over memory that is not zero-filled first: every byte returned was read.
 */
export async function readSegment(fs: FileSystem, dir: string, seg: SegmentName): Promise<Uint8Array> {
  const handle = await fs.open(join(dir, seg.name), 'read')
  try {
    const size = await handle.size()
    const raw = Buffer.allocUnsafeSlow(size)
    const buf = new Uint8Array(raw.buffer, raw.byteOffset, size)
    const n = await handle.read(buf, 0)
    return n === size ? buf : buf.subarray(0, n)
  } finally {
    await handle.close()
  }
}

export type RecordVisitor = (rec: DecodedRecord, seg: SegmentName, offset: number) => void

/** Bytes of a segment read at a time by {@link walkSegments}: the scan checks one piece while the next is read. */
export const READ_PIECE_BYTES = 4 << 20


/**
 * Decodes `segs` in order with one chain running through them, calling `visit` for every
 * record. The first segment's opening crc record seeds the chain, so reading may start at any
 * segment (#11918). Returns the scan of the last segment.
 *
 * Each segment is read into one buffer of its size (entry data stays a view into it, as
 * {@link readSegment}'s) in pieces of {@link READ_PIECE_BYTES}, one read in flight while the
 * scan checks what is read ({@link scanSegmentSteps}); between steps the scan awaits that read
 * or `pause`, so a 64 MiB segment does not hold the event loop for its whole CRC pass (~100-150
 * ms on this machine, where first touching freshly read memory is slow). A file found shorter
 * than its size at open reads as zeros past its end (an end of the log, as a zero frame is).
 */
export async function walkSegments(fs: FileSystem, dir: string, segs: readonly SegmentName[], visit: RecordVisitor, pause: () => Promise<void> = nextTurn): Promise<SegmentScan> {
  assert(segs.length > 0, 'walkSegments needs at least one segment')
  let chain: number | undefined
  let scan: SegmentScan | undefined
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!
    const opts = { name: seg.name, seq: seg.seq, firstIndex: seg.firstIndex, chain, last: i === segs.length - 1 }
    const handle = await fs.open(join(dir, seg.name), 'read')
    let reading: Promise<void> | undefined
    try {
      const size = await handle.size()
      const raw = Buffer.allocUnsafeSlow(size)
      const buf = new Uint8Array(raw.buffer, raw.byteOffset, size)
      let filled = 0
      const readNext = (): void => {
        if (reading !== undefined || filled >= size) return
        const from = filled
        const piece = buf.subarray(from, Math.min(size, from + READ_PIECE_BYTES))
        reading = handle.read(piece, from).then((n) => {
          if (n < piece.length) {
            piece.fill(0, n)
            buf.fill(0, from + piece.length)
            filled = size
          } else filled = from + n
          reading = undefined
        })
      }
      readNext()
      const steps = scanSegmentSteps(buf, () => filled, opts, (rec, offset) => visit(rec, seg, offset))
      for (;;) {
        const r = steps.next()
        if (r.done === true) {
          scan = r.value
          break
        }
        if (reading !== undefined) await reading
        else await pause()
        readNext()
      }
    } finally {
      // A scan that threw may leave a read in flight: it settles before the handle closes.
      await reading?.catch(() => {})
      await handle.close()
    }
    chain = scan.chain
  }
  return scan!
}

/**
 * What replaying records from a snapshot point yields, following Raft's log rules: entries at
 * or below the snapshot are skipped (but, being rewrites, drop what was written after the
 * snapshot before them); a later entry with an index already seen replaces it and
 * drops everything after it (Raft §5.3, Fig. 7 rewrites); an index beyond the next one is a gap.
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

  /**
   * With `followSnapshots` (verify without a snapshot), a snapshot record beyond the last entry
   * moves the base up to it, as a restart from that snapshot would: the log legitimately
   * continues after it without the entries it covers.
   */
  constructor(snapshot: SnapshotPoint, keepEntries: boolean, followSnapshots = false) {
    this.snapshot = snapshot
    this.entries = keepEntries ? [] : undefined
    this.#base = snapshot.index
    this.#followSnapshots = followSnapshots
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
      this.entries.push(e)
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
      assert(this.entries === undefined, 'following snapshots is for checks that keep no entries')
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
