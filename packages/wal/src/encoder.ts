import assert from 'node:assert'
import type { Rng } from '@strata/seams'
import type { Entry, HardState } from '@strata/raft'
import type { RecordTypeCode, WalSnapshot } from './record.js'
import {
  CRC_RECORD_BYTES, ENTRY_FIXED_BYTES, FRAME_HEADER_BYTES, HARD_STATE_BYTES, RECORD_TYPE,
  frameBytes, putCrcRecord, putEntry, putHardState, putSnapshot, sealFrame, snapshotBytes,
} from './record.js'

/** What one save or saveSnapshot call asks to append. */
export interface BatchItem {
  readonly entries: readonly Entry[]
  readonly hardState: HardState | undefined
  readonly snapshot: WalSnapshot | undefined
}

/** Where a frame sequence continues from: segment seed, sync generation, chain value. */
export interface FrameCursor {
  readonly seed: number
  readonly gen: number
  readonly chain: number
}

/**
 * A reusable encode buffer: the append path encodes into it and awaits the write before the
 * next batch, so one buffer serves every batch (no allocation per save). It only grows, up to
 * the largest batch seen (bounded by maxBatchBytes or one save's size).
 */
export class Scratch {
  #buf: Uint8Array = new Uint8Array(0)

  /** A view of exactly `size` bytes; its previous contents are overwritten by the caller. */
  take(size: number): Uint8Array {
    // A plain Uint8Array, not a Buffer: a FileSystem may copy with `.slice()`, which on a Buffer
    // returns a view of this reused memory instead of a copy.
    if (this.#buf.length < size) this.#buf = new Uint8Array(Math.max(size, 2 * this.#buf.length, 64 * 1024))
    return this.#buf.subarray(0, size)
  }
}

/** Bytes an item occupies on disk. */
export function itemBytes(item: BatchItem): number {
  let n = 0
  for (const e of item.entries) n += frameBytes(ENTRY_FIXED_BYTES + e.data.length)
  if (item.hardState !== undefined) n += frameBytes(HARD_STATE_BYTES)
  if (item.snapshot !== undefined) n += frameBytes(snapshotBytes(item.snapshot))
  return n
}

/**
 * Lays frames out one after another in a buffer sized in advance. Each record kind has its own
 * method (no per-frame closure): this loop runs once per entry on the append path.
 */
class FrameWriter {
  readonly buf: Uint8Array
  readonly #view: DataView
  readonly #seed: number
  readonly #gen: number
  at = 0
  chain: number

  constructor(buf: Uint8Array, cursor: FrameCursor) {
    this.buf = buf
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.#seed = cursor.seed
    this.#gen = cursor.gen
    this.chain = cursor.chain
  }

  #seal(type: RecordTypeCode, length: number): void {
    assert(this.at + frameBytes(length) <= this.buf.length, 'frame writer overflow')
    this.chain = sealFrame(this.buf, this.#view, this.at, type, length, this.#seed, this.#gen, this.chain)
    this.at += frameBytes(length)
  }

  entry(e: Entry): void {
    putEntry(this.buf, this.#view, this.at + FRAME_HEADER_BYTES, e)
    this.#seal(RECORD_TYPE.entry, ENTRY_FIXED_BYTES + e.data.length)
  }

  hardState(hs: HardState): void {
    putHardState(this.#view, this.at + FRAME_HEADER_BYTES, hs)
    this.#seal(RECORD_TYPE.hardState, HARD_STATE_BYTES)
  }

  snapshot(s: WalSnapshot): void {
    putSnapshot(this.#view, this.at + FRAME_HEADER_BYTES, s)
    this.#seal(RECORD_TYPE.snapshot, snapshotBytes(s))
  }

  crc(prevChain: number, seq: number, firstIndex: number): void {
    putCrcRecord(this.#view, this.at + FRAME_HEADER_BYTES, prevChain, seq, firstIndex)
    this.#seal(RECORD_TYPE.crc, CRC_RECORD_BYTES)
  }

  metadata(data: Uint8Array): void {
    this.buf.set(data, this.at + FRAME_HEADER_BYTES)
    this.#seal(RECORD_TYPE.metadata, data.length)
  }

  done(): Uint8Array {
    assert(this.at === this.buf.length, 'frame writer did not fill its buffer')
    return this.buf
  }
}

/** Encodes the items of one group-commit batch in order: entries, then hard state, then snapshot. */
export function encodeBatch(items: readonly BatchItem[], cursor: FrameCursor, scratch: Scratch): { bytes: Uint8Array; chain: number } {
  let size = 0
  for (const item of items) size += itemBytes(item)
  const w = new FrameWriter(scratch.take(size), cursor)
  for (const item of items) {
    for (const e of item.entries) w.entry(e)
    if (item.hardState !== undefined) w.hardState(item.hardState)
    if (item.snapshot !== undefined) w.snapshot(item.snapshot)
  }
  return { bytes: w.done(), chain: w.chain }
}

export interface HeadOptions {
  readonly seq: number
  readonly firstIndex: number
  /** The chain value the previous segment ended with (0 for the first segment). */
  readonly prevChain: number
  readonly metadata: Uint8Array
  readonly hardState: HardState | undefined
  readonly snapshot: WalSnapshot | undefined
}

/**
 * The records that open a segment, all of sync generation 0: the crc record carrying the
 * previous chain value, the metadata, and the current hard state (so a reader that starts at
 * this segment still learns it), or the initial snapshot record of a new log.
 */
export function encodeHead(seed: number, opts: HeadOptions): { bytes: Uint8Array; chain: number } {
  let size = frameBytes(CRC_RECORD_BYTES) + frameBytes(opts.metadata.length)
  if (opts.hardState !== undefined) size += frameBytes(HARD_STATE_BYTES)
  if (opts.snapshot !== undefined) size += frameBytes(snapshotBytes(opts.snapshot))
  const w = new FrameWriter(new Uint8Array(size), { seed, gen: 0, chain: opts.prevChain })
  w.crc(opts.prevChain, opts.seq, opts.firstIndex)
  w.metadata(opts.metadata)
  if (opts.hardState !== undefined) w.hardState(opts.hardState)
  if (opts.snapshot !== undefined) w.snapshot(opts.snapshot)
  return { bytes: w.done(), chain: w.chain }
}

/**
 * A seed for a new segment life: never 0 (so a zeroed header can never match it) and never the
 * seed of the recycled file's previous life.
 */
export function pickSeed(rng: Rng, avoid: number | undefined): number {
  for (;;) {
    const seed = rng.nextU32() >>> 0
    if (seed !== 0 && seed !== avoid) return seed
  }
}
