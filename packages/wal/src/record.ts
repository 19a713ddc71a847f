import assert from 'node:assert'
import { chainStep, crc32Range } from './crc.js'

/** One Raft log entry as the WAL stores it. `index` ≥ 1 and `term` ≥ 0 are safe integers. */
export interface Entry {
  readonly index: number
  readonly term: number
  readonly data: Uint8Array
}

/** Raft's persistent state. All three are safe integers ≥ 0; all zero means "empty". */
export interface HardState {
  readonly term: number
  readonly vote: number
  readonly commit: number
}

/** A snapshot point: the index and term of the last entry the snapshot covers. */
export interface WalSnapshot {
  readonly index: number
  readonly term: number
}

/** Record type codes, as stored in byte 4 of every frame (see FORMAT.md). */
export const RECORD_TYPE = { metadata: 1, entry: 2, hardState: 3, crc: 4, snapshot: 5 } as const
export type RecordTypeCode = (typeof RECORD_TYPE)[keyof typeof RECORD_TYPE]

/** Bytes of the frame header that precedes every payload. */
export const FRAME_HEADER_BYTES = 24
/**
 * The largest payload a record may carry: 16 MiB. An entry's data may be at most this minus
 * the 16 bytes of index and term. Bigger input is refused with ERR_WAL_RECORD_TOO_LARGE, and a
 * reader treats a larger length word as damage.
 */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024
export const ENTRY_FIXED_BYTES = 16
export const HARD_STATE_BYTES = 24
export const SNAPSHOT_BYTES = 16
export const CRC_RECORD_BYTES = 24

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 })

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0
}

/** Bytes a frame with a payload of `payloadLength` bytes occupies: header + payload, rounded up to 8. */
export function frameBytes(payloadLength: number): number {
  return (FRAME_HEADER_BYTES + payloadLength + 7) & ~7
}

/** Writes a u64 as two little-endian u32 words; `n` must be a safe integer ≥ 0. */
export function setU64(view: DataView, at: number, n: number): void {
  // Not assert(cond, `...${n}`): that would build the message on every call of the append path.
  if (!(Number.isSafeInteger(n) && n >= 0)) assert.fail(`u64 field must be a safe integer >= 0, got ${n}`)
  view.setUint32(at, n >>> 0, true)
  view.setUint32(at + 4, Math.floor(n / 2 ** 32), true)
}

/** Reads a u64 written by setU64; `undefined` when it is not a safe integer (only damage does that). */
export function getU64(view: DataView, at: number): number | undefined {
  const hi = view.getUint32(at + 4, true)
  if (hi > 0x1fffff) return undefined
  return hi * 2 ** 32 + view.getUint32(at, true)
}

/** The seed in the header of the frame at `at` (bytes 16..20): which segment life wrote it. */
export function frameSeed(view: DataView, at: number): number {
  return view.getUint32(at + 16, true)
}

/** The frame checksum: CRC-32 of header bytes 8..24 (length, type, seed, generation) and the payload. */
export function frameChecksum(buf: Uint8Array, at: number, payloadLength: number): number {
  return crc32Range(buf, at + 8, at + FRAME_HEADER_BYTES + payloadLength)
}

/**
 * Completes the frame whose payload already sits at `at + FRAME_HEADER_BYTES`: writes the
 * header, zeroes the padding, and returns the new chain value. Header (little-endian u32s):
 * checksum, chain, payload length, type, seed, sync generation. The checksum covers bytes 8..24
 * and the payload, which are contiguous, so one native CRC call per frame suffices; the chain
 * value continues the previous one over the checksum, so it depends on every record since the
 * log was created.
 */
export function sealFrame(
  buf: Uint8Array, view: DataView, at: number, type: RecordTypeCode, payloadLength: number,
  seed: number, gen: number, prevChain: number,
): number {
  assert(payloadLength >= 0 && payloadLength <= MAX_RECORD_BYTES)
  view.setUint32(at + 8, payloadLength, true)
  view.setUint32(at + 12, type, true)
  view.setUint32(at + 16, seed, true)
  view.setUint32(at + 20, gen, true)
  buf.fill(0, at + FRAME_HEADER_BYTES + payloadLength, at + frameBytes(payloadLength))
  const crc = frameChecksum(buf, at, payloadLength)
  view.setUint32(at, crc, true)
  const chain = chainStep(crc, prevChain)
  view.setUint32(at + 4, chain, true)
  return chain
}

export function putEntry(buf: Uint8Array, view: DataView, at: number, e: Entry): void {
  setU64(view, at, e.index)
  setU64(view, at + 8, e.term)
  buf.set(e.data, at + ENTRY_FIXED_BYTES)
}

export function putHardState(view: DataView, at: number, hs: HardState): void {
  setU64(view, at, hs.term)
  setU64(view, at + 8, hs.vote)
  setU64(view, at + 16, hs.commit)
}

export function putSnapshot(view: DataView, at: number, s: WalSnapshot): void {
  setU64(view, at, s.index)
  setU64(view, at + 8, s.term)
}

export function putCrcRecord(view: DataView, at: number, prevChain: number, seq: number, firstIndex: number): void {
  view.setUint32(at, prevChain, true)
  view.setUint32(at + 4, 0, true)
  setU64(view, at + 8, seq)
  setU64(view, at + 16, firstIndex)
}
