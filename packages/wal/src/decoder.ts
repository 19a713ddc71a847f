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

/** Checks the frame at `at` on its own: bounds, seed, checksum. The chain is the caller's. */
function checkFrame(buf: Uint8Array, view: DataView, at: number, seed: number | undefined): FrameCheck {
  if (at === buf.length) return { ok: false, kind: 'eof', reason: 'end of file' }
  if (at + FRAME_HEADER_BYTES > buf.length) {
    for (let i = at; i < buf.length; i++) if (buf[i] !== 0) return { ok: false, kind: 'torn', reason: 'frame header cut short by the end of the file' }
    return { ok: false, kind: 'eof', reason: 'zero bytes to end of file' }
  }
  const crc = view.getUint32(at, true)
  const chain = view.getUint32(at + 4, true)
  const length = view.getUint32(at + 8, true)
  const typeWord = view.getUint32(at + 12, true)
  const seedWord = view.getUint32(at + 16, true)
  const gen = view.getUint32(at + 20, true)
  if ((crc | chain | length | typeWord | seedWord | gen) === 0) return { ok: false, kind: 'zero', reason: 'zero frame header' }
  if (seed !== undefined && seedWord !== seed) return { ok: false, kind: 'stale', reason: 'frame of another segment life' }
  if (length > MAX_RECORD_BYTES) return { ok: false, kind: 'torn', reason: `length ${length} over the maximum` }
  if (typeWord > 0xff) return { ok: false, kind: 'torn', reason: 'reserved header bytes are not zero' }
  if (at + FRAME_HEADER_BYTES + length > buf.length) return { ok: false, kind: 'torn', reason: 'frame extends past the end of the file' }
  if (frameChecksum(buf, at, length) !== crc) return { ok: false, kind: 'torn', reason: 'frame checksum mismatch' }
  return { ok: true, length, type: typeWord, gen, chain }
}

function chainAfter(view: DataView, at: number, prevChain: number): number {
  return chainStep(view.getUint32(at, true), prevChain)
}

/** A u64 payload field; damage when it is beyond 2^53 (no writer produces that). */
function u64(view: DataView, at: number, off: number, name: string): number {
  const n = getU64(view, at + FRAME_HEADER_BYTES + off)
  if (n === undefined) throw new WalCorruptError(name, at, 'integer field beyond 2^53')
  return n
}

/**
 * Decodes a checked frame's payload; throws WalCorruptError on a payload no writer produces.
 * No closures here: this runs once per record on replay.
 */
function decodePayload(buf: Uint8Array, view: DataView, at: number, type: number, length: number, name: string): DecodedRecord {
  const p = at + FRAME_HEADER_BYTES
  switch (type) {
    case RECORD_TYPE.entry:
      if (length < ENTRY_FIXED_BYTES) break
      return { type: 'entry', entry: decodeEntry(buf, view, at, length, name) }
    case RECORD_TYPE.hardState:
      if (length !== HARD_STATE_BYTES) break
      return { type: 'hardState', hardState: { term: u64(view, at, 0, name), vote: u64(view, at, 8, name), commit: u64(view, at, 16, name) } }
    case RECORD_TYPE.metadata:
      return { type: 'metadata', data: buf.slice(p, p + length) }
    case RECORD_TYPE.snapshot:
      if (length < SNAPSHOT_FIXED_BYTES) break
      return { type: 'snapshot', snapshot: decodeSnapshot(view, at, length, name) }
    case RECORD_TYPE.crc:
      if (length !== CRC_RECORD_BYTES) break
      return { type: 'crc', prevChain: view.getUint32(p, true), version: view.getUint32(p + 4, true), seq: u64(view, at, 8, name), firstIndex: u64(view, at, 16, name) }
    default:
      throw new WalCorruptError(name, at, `unknown record type ${type}`)
  }
  throw new WalCorruptError(name, at, `record of type ${type} has a payload of the wrong size (${length} bytes)`)
}

function decodeEntry(buf: Uint8Array, view: DataView, at: number, length: number, name: string): Entry {
  const p = at + FRAME_HEADER_BYTES
  const type = view.getUint8(p + 16)
  if (type > MAX_ENTRY_TYPE) throw new WalCorruptError(name, at, `entry of unknown raft entry type ${type}`)
  return { index: u64(view, at, 0, name), term: u64(view, at, 8, name), type: type as EntryType, data: buf.subarray(p + ENTRY_FIXED_BYTES, p + length) }
}

function decodeSnapshot(view: DataView, at: number, length: number, name: string): WalSnapshot {
  const p = at + FRAME_HEADER_BYTES
  const confState = getConfState(view, p + 16, p + length)
  if (typeof confState === 'string') throw new WalCorruptError(name, at, `snapshot record: ${confState}`)
  return { index: u64(view, at, 0, name), term: u64(view, at, 8, name), confState }
}

/** Reads and checks the record that opens every segment; returns the seed and chain after it. */
function scanOpening(buf: Uint8Array, view: DataView, opts: ScanOptions): { seed: number; chain: number; rec: DecodedRecord } {
  const bad = (reason: string): never => { throw new WalCorruptError(opts.name, 0, reason) }
  const f = checkFrame(buf, view, 0, undefined)
  if (!f.ok) return bad(`segment does not open with a valid crc record (${f.reason})`)
  if (f.type !== RECORD_TYPE.crc || f.gen !== 0) return bad('segment does not open with a crc record')
  const rec = decodePayload(buf, view, 0, f.type, f.length, opts.name)
  if (rec.type !== 'crc') return bad('segment does not open with a crc record')
  if (rec.version !== FORMAT_VERSION) throw unsupportedVersion(opts.name, rec.version)
  if (rec.seq !== opts.seq || rec.firstIndex !== opts.firstIndex) bad(`crc record names segment ${rec.seq}/${rec.firstIndex}, file name says ${opts.seq}/${opts.firstIndex}`)
  // #11918: a reader that starts here (older segments purged or recycled) adopts the carried
  // value; a reader that came through the previous segment must have arrived at exactly it.
  if (opts.chain !== undefined && rec.prevChain !== opts.chain) bad('crc record does not continue the previous segment\'s chain')
  if (f.chain !== chainAfter(view, 0, rec.prevChain)) bad('chain mismatch in the crc record')
  return { seed: frameSeed(view, 0), chain: f.chain, rec }
}

/** A segment of another format version: version 1 wrote 0 where the version now is. */
function unsupportedVersion(segment: string, found: number): WalError {
  const version = found === 0 ? 1 : found
  return new WalError('ERR_WAL_UNSUPPORTED_VERSION', `wal: segment ${segment} is in format version ${version}; this reader reads version ${FORMAT_VERSION} only and nothing converts it: recreate the log (or read it with the release that wrote it)`, { segment, version })
}

/**
 * Decodes one segment held in `buf`, calling `onRecord` for every valid record in order
 * (including the opening crc record), and reports where and why it stopped.
 * Throws WalCorruptError for damage that cannot be a torn write: any damage in a segment that
 * is not the last, a bad opening record, a payload no writer produces, or a damaged frame
 * followed by frames of a later sync generation (proof it had been synced).
 */
export function scanSegment(buf: Uint8Array, opts: ScanOptions, onRecord: (rec: DecodedRecord, offset: number) => void): SegmentScan {
  const steps = scanSegmentSteps(buf, () => buf.length, opts, onRecord)
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
  }
}

/** Bytes of frames {@link scanSegmentSteps} checks between two of its pauses, at the most (a frame is never cut). */
export const SCAN_STEP_BYTES = 4 << 20

/**
 * {@link scanSegment} as steps, over a buffer being filled from its start: `filled()` tells how
 * many bytes of `buf` hold the file's bytes so far (`buf.length` once it is all read). A step
 * ends (the generator yields) when the next frame lies past what is filled, or after
 * ~{@link SCAN_STEP_BYTES} of frames checked, so a caller reading the file in pieces checks each
 * piece while the next is read and lets the event loop run between pieces. The tail (what
 * follows the last valid frame) is classified once the whole buffer is filled. The records
 * and the result are those of scanSegment over the whole buffer.
 */
export function* scanSegmentSteps(buf: Uint8Array, filled: () => number, opts: ScanOptions, onRecord: (rec: DecodedRecord, offset: number) => void): Generator<void, SegmentScan, void> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  yield* until(buf, filled, SCAN_STEP_BYTES)
  const opening = scanOpening(buf, view, opts)
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
    yield* until(buf, filled, at + FRAME_HEADER_BYTES)
    if (at + FRAME_HEADER_BYTES <= buf.length) yield* until(buf, filled, at + FRAME_HEADER_BYTES + view.getUint32(at + 8, true))
    const f = checkFrame(buf, view, at, seed)
    if (!f.ok) { stop = f.kind; reason = f.reason; break }
    if (f.chain !== chainAfter(view, at, chain)) { stop = 'torn'; reason = 'chain mismatch'; break }
    if (f.gen < gen) { stop = 'torn'; reason = 'sync generation went backwards'; break }
    const rec = decodePayload(buf, view, at, f.type, f.length, opts.name)
    if (rec.type === 'crc') throw new WalCorruptError(opts.name, at, 'crc record inside a segment')
    onRecord(rec, at)
    chain = f.chain
    gen = f.gen
    at += frameBytes(f.length)
  }
  yield* until(buf, filled, buf.length)
  if (stop === 'eof') return { seed, chain, end: at, lastGen: gen, stop, stopReason: reason, dirtyEnd: at }
  if (!opts.last) throw new WalCorruptError(opts.name, at, `segment that is not the last ends early (${reason})`)
  stop = classifyTail(buf, view, at, seed, stop, opts.name, reason)
  return { seed, chain, end: at, lastGen: gen, stop, stopReason: reason, dirtyEnd: dirtyEnd(buf, view, at) }
}

/** Steps until the bytes [0, end) of `buf` are filled (end capped at its length). */
function* until(buf: Uint8Array, filled: () => number, end: number): Generator<void, void, void> {
  const need = Math.min(end, buf.length)
  while (filled() < need) yield
}

/** Offset just past the last non-zero byte at or after `from` (8 bytes per step from the end). */
function dirtyEnd(buf: Uint8Array, view: DataView, from: number): number {
  let i = buf.length
  while (i - 8 >= from && (view.getUint32(i - 8, true) | view.getUint32(i - 4, true)) === 0) i -= 8
  while (i > from && buf[i - 1] === 0) i--
  return i
}

/**
 * Decides whether reading the last segment stopped at a torn write or at damage. A frame of
 * sync generation y is written only after every frame of a lower generation was fsynced, so a
 * valid frame after `at` whose generation exceeds that of the first valid frame after `at`
 * proves the bytes at `at` were durable: that is corruption, not a torn write. Any valid frame
 * of this segment after `at` at all means the stop is not a clean end but a torn batch.
 */
function classifyTail(buf: Uint8Array, view: DataView, at: number, seed: number, stop: StopKind, name: string, reason: string): StopKind {
  let first: number | undefined
  let pos = at + 8
  while (pos + FRAME_HEADER_BYTES <= buf.length) {
    if (frameSeed(view, pos) !== seed) { pos += 8; continue }
    const f = checkFrame(buf, view, pos, seed)
    if (!f.ok) { pos += 8; continue }
    if (first === undefined) first = f.gen
    else if (f.gen > first) throw new WalCorruptError(name, at, `damaged record (${reason}) followed by records of a later sync`)
    pos += frameBytes(f.length)
  }
  // A damaged frame that still names this segment and an older generation than the records
  // after it cannot be a torn write either: torn bytes are never older than their batch.
  if (first !== undefined && at + FRAME_HEADER_BYTES <= buf.length && frameSeed(view, at) === seed && view.getUint32(at + 20, true) < first) {
    throw new WalCorruptError(name, at, `damaged record (${reason}) of an already synced batch`)
  }
  return first === undefined ? stop : 'torn'
}
