import assert from 'node:assert'
import type { Entry, EntryType, HardState } from '@strata/raft'
import { getConfState } from './conf-state.js'
import { chainStep } from './crc.js'
import { WalCorruptError, WalError } from './errors.js'
import type { WalSnapshot } from './record.js'
import {
  CRC_RECORD_BYTES, ENTRY_FIXED_BYTES, FORMAT_VERSION, FRAME_HEADER_BYTES, HARD_STATE_BYTES, MAX_ENTRY_TYPE,
  MAX_RECORD_BYTES, RECORD_TYPE, SNAPSHOT_FIXED_BYTES, frameBytes, frameChecksum, frameSeed, getU64,
} from './record.js'

/**
 * One decoded record. Entry data is a view into the buffer the segment was read into (no copy:
 * replay allocates one buffer per segment, not one per entry); metadata is a copy.
 */
export type DecodedRecord =
  | { readonly type: 'metadata'; readonly data: Uint8Array }
  | { readonly type: 'entry'; readonly entry: Entry }
  | { readonly type: 'hardState'; readonly hardState: HardState }
  | { readonly type: 'snapshot'; readonly snapshot: WalSnapshot }
  | { readonly type: 'crc'; readonly prevChain: number; readonly version: number; readonly seq: number; readonly firstIndex: number }

/**
 * Why reading a segment stopped:
 * - `eof`: the file ended exactly after the last record;
 * - `zero`: an all-zero frame header (preallocated, never written space);
 * - `stale`: a frame of another segment life (other seed: a recycled file's old contents);
 * - `torn`: a frame of this segment that is incomplete or fails its checks, and nothing proves it
 *   was ever durable (see FORMAT.md, "Torn tail or corruption").
 */
export type StopKind = 'eof' | 'zero' | 'stale' | 'torn'

export interface SegmentScan {
  /** The segment's seed, from its opening record. */
  readonly seed: number
  /** The chain value after the last valid record. */
  readonly chain: number
  /** Offset just past the last valid frame. */
  readonly end: number
  /** Sync generation of the last valid frame. */
  readonly lastGen: number
  readonly stop: StopKind
  readonly stopReason: string
  /** Offset just past the last non-zero byte at or after `end` (`end` when the rest is zeros). */
  readonly dirtyEnd: number
}

export interface ScanOptions {
  /** The file name, for error context. */
  readonly name: string
  /** Sequence number and first index the file name promises. */
  readonly seq: number
  readonly firstIndex: number
  /** The chain value the previous segment ended with; `undefined` when this is the first segment read. */
  readonly chain: number | undefined
  /** True for the newest segment: only there may a write be torn. */
  readonly last: boolean
}

type FrameCheck = { ok: true; length: number; type: number; gen: number; chain: number } | { ok: false; kind: StopKind; reason: string }

/**
 * The part of a segment file a scan sees: the file's bytes [base, base + buf.length) sit in
 * `buf`. A scan of a file held whole in memory has one window over all of it; a streaming scan
 * asks its reader to move the window on ({@link ScanNeed}). Invariant: `base` and
 * `base + buf.length` are multiples of 8, or the latter is `size` (so a frame in the window has
 * its padding there too).
 */
export interface SegmentWindow {
  buf: Uint8Array
  view: DataView
  /** File offset of buf[0]. */
  base: number
  /** The file's size when it was opened: where the scan's end of file is. */
  readonly size: number
}

/**
 * What a scan step asks of its reader: the file's bytes [from, to) in the window (`to` at
 * most the size, `from` within the current window or at its end); bytes before `from` are
 * never looked at again.
 */
export interface ScanNeed {
  readonly from: number
  readonly to: number
}

/**
 * The end of the bytes the frame at `at` needs that the window lacks, 0 when it has them: its
 * header, then its payload when the header names this segment (`seed`, when known) and a
 * length within the maximum (a frame that fails those checks is judged on its header alone).
 */
function frameNeed(win: SegmentWindow, at: number, seed: number | undefined): number {
  const end = win.base + win.buf.length
  if (at + FRAME_HEADER_BYTES > win.size) return win.size > end ? win.size : 0
  if (at + FRAME_HEADER_BYTES > end) return at + FRAME_HEADER_BYTES
  const p = at - win.base
  if (seed !== undefined && frameSeed(win.view, p) !== seed) return 0
  const length = win.view.getUint32(p + 8, true)
  if (length > MAX_RECORD_BYTES) return 0
  const to = Math.min(at + FRAME_HEADER_BYTES + length, win.size)
  return to > end ? to : 0
}

/**
 * Checks the frame at file offset `at` on its own: bounds, seed, checksum. The chain is the
 * caller's. The window holds what {@link frameNeed} asks for.
 */
function checkFrame(win: SegmentWindow, at: number, seed: number | undefined): FrameCheck {
  const { buf, view, size } = win
  const p = at - win.base
  if (at === size) return { ok: false, kind: 'eof', reason: 'end of file' }
  if (at + FRAME_HEADER_BYTES > size) {
    for (let i = p; i < size - win.base; i++) if (buf[i] !== 0) return { ok: false, kind: 'torn', reason: 'frame header cut short by the end of the file' }
    return { ok: false, kind: 'eof', reason: 'zero bytes to end of file' }
  }
  const crc = view.getUint32(p, true)
  const chain = view.getUint32(p + 4, true)
  const length = view.getUint32(p + 8, true)
  const typeWord = view.getUint32(p + 12, true)
  const seedWord = view.getUint32(p + 16, true)
  const gen = view.getUint32(p + 20, true)
  if ((crc | chain | length | typeWord | seedWord | gen) === 0) return { ok: false, kind: 'zero', reason: 'zero frame header' }
  if (seed !== undefined && seedWord !== seed) return { ok: false, kind: 'stale', reason: 'frame of another segment life' }
  if (length > MAX_RECORD_BYTES) return { ok: false, kind: 'torn', reason: `length ${length} over the maximum` }
  if (typeWord > 0xff) return { ok: false, kind: 'torn', reason: 'reserved header bytes are not zero' }
  if (at + FRAME_HEADER_BYTES + length > size) return { ok: false, kind: 'torn', reason: 'frame extends past the end of the file' }
  if (frameChecksum(buf, p, length) !== crc) return { ok: false, kind: 'torn', reason: 'frame checksum mismatch' }
  return { ok: true, length, type: typeWord, gen, chain }
}

/** A u64 payload field of the frame at file offset `at`; damage when it is beyond 2^53 (no writer produces that). */
function u64(win: SegmentWindow, at: number, off: number, name: string): number {
  const n = getU64(win.view, at - win.base + FRAME_HEADER_BYTES + off)
  if (n === undefined) throw new WalCorruptError(name, at, 'integer field beyond 2^53')
  return n
}

/**
 * Decodes a checked frame's payload; throws WalCorruptError on a payload no writer produces.
 * No closures here: this runs once per record on replay.
 */
function decodePayload(win: SegmentWindow, at: number, type: number, length: number, name: string): DecodedRecord {
  const p = at - win.base + FRAME_HEADER_BYTES
  switch (type) {
    case RECORD_TYPE.entry:
      if (length < ENTRY_FIXED_BYTES) break
      return { type: 'entry', entry: decodeEntry(win, at, length, name) }
    case RECORD_TYPE.hardState:
      if (length !== HARD_STATE_BYTES) break
      return { type: 'hardState', hardState: { term: u64(win, at, 0, name), vote: u64(win, at, 8, name), commit: u64(win, at, 16, name) } }
    case RECORD_TYPE.metadata:
      return { type: 'metadata', data: win.buf.slice(p, p + length) }
    case RECORD_TYPE.snapshot:
      if (length < SNAPSHOT_FIXED_BYTES) break
      return { type: 'snapshot', snapshot: decodeSnapshot(win, at, length, name) }
    case RECORD_TYPE.crc:
      if (length !== CRC_RECORD_BYTES) break
      return { type: 'crc', prevChain: win.view.getUint32(p, true), version: win.view.getUint32(p + 4, true), seq: u64(win, at, 8, name), firstIndex: u64(win, at, 16, name) }
    default:
      throw new WalCorruptError(name, at, `unknown record type ${type}`)
  }
  throw new WalCorruptError(name, at, `record of type ${type} has a payload of the wrong size (${length} bytes)`)
}

function decodeEntry(win: SegmentWindow, at: number, length: number, name: string): Entry {
  const p = at - win.base + FRAME_HEADER_BYTES
  const type = win.view.getUint8(p + 16)
  if (type > MAX_ENTRY_TYPE) throw new WalCorruptError(name, at, `entry of unknown raft entry type ${type}`)
  return { index: u64(win, at, 0, name), term: u64(win, at, 8, name), type: type as EntryType, data: win.buf.subarray(p + ENTRY_FIXED_BYTES, p + length) }
}

function decodeSnapshot(win: SegmentWindow, at: number, length: number, name: string): WalSnapshot {
  const p = at - win.base + FRAME_HEADER_BYTES
  const confState = getConfState(win.view, p + 16, p + length)
  if (typeof confState === 'string') throw new WalCorruptError(name, at, `snapshot record: ${confState}`)
  return { index: u64(win, at, 0, name), term: u64(win, at, 8, name), confState }
}

/** Reads and checks the record that opens every segment; returns the seed and chain after it. */
function scanOpening(win: SegmentWindow, opts: ScanOptions): { seed: number; chain: number; rec: DecodedRecord } {
  assert(win.base === 0, 'a segment is read from its start')
  const bad = (reason: string): never => { throw new WalCorruptError(opts.name, 0, reason) }
  const f = checkFrame(win, 0, undefined)
  if (!f.ok) return bad(`segment does not open with a valid crc record (${f.reason})`)
  if (f.type !== RECORD_TYPE.crc || f.gen !== 0) return bad('segment does not open with a crc record')
  const rec = decodePayload(win, 0, f.type, f.length, opts.name)
  if (rec.type !== 'crc') return bad('segment does not open with a crc record')
  if (rec.version !== FORMAT_VERSION) throw unsupportedVersion(opts.name, rec.version)
  if (rec.seq !== opts.seq || rec.firstIndex !== opts.firstIndex) bad(`crc record names segment ${rec.seq}/${rec.firstIndex}, file name says ${opts.seq}/${opts.firstIndex}`)
  // #11918: a reader that starts here (older segments purged or recycled) adopts the carried
  // value; a reader that came through the previous segment must have arrived at exactly it.
  if (opts.chain !== undefined && rec.prevChain !== opts.chain) bad('crc record does not continue the previous segment\'s chain')
  if (f.chain !== chainStep(win.view.getUint32(0, true), rec.prevChain)) bad('chain mismatch in the crc record')
  return { seed: frameSeed(win.view, 0), chain: f.chain, rec }
}

/** A segment of another format version: version 1 wrote 0 where the version now is. */
function unsupportedVersion(segment: string, found: number): WalError {
  const version = found === 0 ? 1 : found
  return new WalError('ERR_WAL_UNSUPPORTED_VERSION', `wal: segment ${segment} is in format version ${version}; this reader reads version ${FORMAT_VERSION} only and nothing converts it: recreate the log (or read it with the release that wrote it)`, { segment, version })
}

/**
 * Decodes one segment held whole in `buf`, calling `onRecord` for every valid record in order
 * (including the opening crc record), and reports where and why it stopped. Entry data are
 * views into `buf`.
 * Throws WalCorruptError for damage that cannot be a torn write: any damage in a segment that
 * is not the last, a bad opening record, a payload no writer produces, or a damaged frame
 * followed by frames of a later sync generation (proof it had been synced).
 */
export function scanSegment(buf: Uint8Array, opts: ScanOptions, onRecord: (rec: DecodedRecord, offset: number) => void): SegmentScan {
  const win: SegmentWindow = { buf, view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), base: 0, size: buf.length }
  const steps = scanSegmentSteps(win, opts, onRecord)
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
    assert(r.value === undefined, 'a window over the whole file never needs more bytes')
  }
}

/** Bytes of frames {@link scanSegmentSteps} checks between two of its pauses, at the most (a frame is never cut). */
export const SCAN_STEP_BYTES = 4 << 20

/**
 * {@link scanSegment} as steps over a window on the file (see {@link SegmentWindow}): the
 * generator yields a {@link ScanNeed} when the next bytes it must look at are not in the window
 * (its reader moves the window, then resumes it), and `undefined` after ~{@link SCAN_STEP_BYTES}
 * of frames checked (a pause, so a caller can let the event loop run). `onRecord` sees each
 * record while its bytes are in the window: entry data are views into `win.buf`, valid only
 * during the call when the window moves. The records and the result are those of scanSegment
 * over the whole file, whatever the window's size and wherever it moves.
 */
export function* scanSegmentSteps(win: SegmentWindow, opts: ScanOptions, onRecord: (rec: DecodedRecord, offset: number) => void): Generator<ScanNeed | undefined, SegmentScan, void> {
  for (let to; (to = frameNeed(win, 0, undefined)) !== 0;) yield { from: 0, to }
  const opening = scanOpening(win, opts)
  onRecord(opening.rec, 0)
  const seed = opening.seed
  let chain = opening.chain
  let gen = 0
  let at = frameBytes(CRC_RECORD_BYTES)
  let stop: StopKind
  let reason: string
  let stepFrom = at
  for (;;) {
    if (at - stepFrom >= SCAN_STEP_BYTES) {
      stepFrom = at
      yield
    }
    for (let to; (to = frameNeed(win, at, seed)) !== 0;) yield { from: at, to }
    const f = checkFrame(win, at, seed)
    if (!f.ok) { stop = f.kind; reason = f.reason; break }
    if (f.chain !== chainStep(win.view.getUint32(at - win.base, true), chain)) { stop = 'torn'; reason = 'chain mismatch'; break }
    if (f.gen < gen) { stop = 'torn'; reason = 'sync generation went backwards'; break }
    const rec = decodePayload(win, at, f.type, f.length, opts.name)
    if (rec.type === 'crc') throw new WalCorruptError(opts.name, at, 'crc record inside a segment')
    onRecord(rec, at)
    chain = f.chain
    gen = f.gen
    at += frameBytes(f.length)
  }
  if (stop === 'eof') return { seed, chain, end: at, lastGen: gen, stop, stopReason: reason, dirtyEnd: at }
  if (!opts.last) throw new WalCorruptError(opts.name, at, `segment that is not the last ends early (${reason})`)
  const tail = yield* scanTail(win, at, seed, opts.name, reason)
  return { seed, chain, end: at, lastGen: gen, stop: tail.torn ? 'torn' : stop, stopReason: reason, dirtyEnd: tail.dirtyEnd }
}

/**
 * Zeros that a segment's unwritten tail is compared with, a stretch this long at a time, by one
 * native comparison: a preallocated segment's tail is tens of MiB of zeros, which a word-by-word
 * loop took ~5 ns per 8 bytes to read (~350 ms of a small store's restart, twice: the search
 * for frames and the dirty end).
 */
const ZEROS = new Uint8Array(4096)

/** True when the window's bytes [i, i + ZEROS.length) are all zero. */
function zeroBlock(buf: Uint8Array, i: number): boolean {
  return Buffer.compare(buf.subarray(i, i + ZEROS.length), ZEROS) === 0
}

/** The file offset of the first non-zero byte of the window's bytes [from, to), or `to` when they are all zero. */
function firstNonZero(win: SegmentWindow, from: number, to: number): number {
  const { buf } = win
  let i = from - win.base
  const end = to - win.base
  while (end - i >= ZEROS.length && zeroBlock(buf, i)) i += ZEROS.length
  while (i < end && buf[i] === 0) i++
  return win.base + i
}

/** The offset just past the last non-zero byte of the file's bytes [from, to) (in the window), or `dirty` when they are all zero. */
function nonZeroEnd(win: SegmentWindow, from: number, to: number, dirty: number): number {
  const { buf, view } = win
  const lo = from - win.base
  let i = to - win.base
  while (i - ZEROS.length >= lo && zeroBlock(buf, i - ZEROS.length)) i -= ZEROS.length
  while (i - 8 >= lo && (view.getUint32(i - 8, true) | view.getUint32(i - 4, true)) === 0) i -= 8
  while (i > lo && buf[i - 1] === 0) i--
  return i > lo ? win.base + i : dirty
}

/**
 * Decides whether reading the last segment stopped at a torn write or at damage, and finds
 * where its non-zero bytes end, in one pass over what follows the stop at `at`. A frame of
 * sync generation y is written only after every frame of a lower generation was fsynced, so a
 * valid frame after `at` whose generation exceeds that of the first valid frame after `at`
 * proves the bytes at `at` were durable: that is corruption, not a torn write. Any valid frame
 * of this segment after `at` at all means the stop is not a clean end but a torn batch.
 */
function* scanTail(win: SegmentWindow, at: number, seed: number, name: string, reason: string): Generator<ScanNeed, { torn: boolean; dirtyEnd: number }, void> {
  // The damaged frame's header, read before the window moves past it.
  const header = at + FRAME_HEADER_BYTES <= win.size
  const atSeed = header ? frameSeed(win.view, at - win.base) : undefined
  const atGen = header ? win.view.getUint32(at - win.base + 20, true) : 0
  let first: number | undefined
  // Invariant: `dirty` is the end of the last non-zero byte in [at, checked).
  let dirty = at
  let checked = at
  const moveTo = (from: number): void => {
    assert(from >= checked && from <= win.base + win.buf.length, 'the tail is checked for non-zero bytes without gaps')
    dirty = nonZeroEnd(win, checked, from, dirty)
    checked = from
  }
  let pos = at + 8
  while (pos + FRAME_HEADER_BYTES <= win.size) {
    // A seed is never 0, so no frame starts where its whole header is zeros: the positions
    // before the next non-zero byte in the window that leave room for a header are skipped.
    const inWindow = win.base + win.buf.length
    if (pos + FRAME_HEADER_BYTES <= inWindow) {
      const nonZero = firstNonZero(win, pos, inWindow)
      if (nonZero - pos >= FRAME_HEADER_BYTES) {
        pos += 8 * (Math.floor((nonZero - pos - FRAME_HEADER_BYTES) / 8) + 1)
        continue
      }
    }
    for (let to; (to = frameNeed(win, pos, seed)) !== 0;) {
      moveTo(pos)
      yield { from: pos, to }
    }
    if (frameSeed(win.view, pos - win.base) !== seed) { pos += 8; continue }
    const f = checkFrame(win, pos, seed)
    if (!f.ok) { pos += 8; continue }
    if (first === undefined) first = f.gen
    else if (f.gen > first) throw new WalCorruptError(name, at, `damaged record (${reason}) followed by records of a later sync`)
    pos += frameBytes(f.length)
  }
  // The rest of the file, up to its last bytes (too few for a header).
  moveTo(Math.min(win.base + win.buf.length, win.size))
  if (checked < win.size) {
    yield { from: checked, to: win.size }
    moveTo(win.size)
  }
  // A damaged frame that still names this segment and an older generation than the records
  // after it cannot be a torn write either: torn bytes are never older than their batch.
  if (first !== undefined && atSeed === seed && atGen < first) {
    throw new WalCorruptError(name, at, `damaged record (${reason}) of an already synced batch`)
  }
  return { torn: first !== undefined, dirtyEnd: dirty }
}
