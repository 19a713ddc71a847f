import assert from 'node:assert'
import type { Entry, HardState, SnapshotMetadata } from '@strata/raft'
import { CONF_STATE_FIXED_BYTES, confStateBytes, putConfState } from './conf-state.js'
import { chainStep, crc32Range } from './crc.js'
import { setU64 } from './u64.js'

export { getU64, setU64 } from './u64.js'

/**
 * A snapshot point as the WAL records it: `{ index, term, confState }`, the index and term of
 * the last entry the snapshot covers and the configuration in force at that index. It is raft's
 * `SnapshotMetadata` (one type for the WAL marker, the snapshot file and raft); readers match a
 * marker by index and term only.
 */
export type WalSnapshot = SnapshotMetadata

/** The part of a snapshot point a reader matches on: `open` and `verify` need no conf state. */
export type SnapshotPoint = Pick<WalSnapshot, 'index' | 'term'>

/**
 * The on-disk format version, carried by the crc record that opens every segment (FORMAT.md).
 * Version 1 wrote zero there; its entries had no type and its snapshot records no conf state.
 */
export const FORMAT_VERSION = 2

/** Record type codes, as stored in byte 4 of every frame (see FORMAT.md). */
export const RECORD_TYPE = { metadata: 1, entry: 2, hardState: 3, crc: 4, snapshot: 5 } as const
export type RecordTypeCode = (typeof RECORD_TYPE)[keyof typeof RECORD_TYPE]

/** Bytes of the frame header that precedes every payload. */
export const FRAME_HEADER_BYTES = 24
/**
 * The largest payload a record may carry: 16 MiB. An entry's data may be at most this minus
 * the 17 bytes of index, term and type. Bigger input is refused with ERR_WAL_RECORD_TOO_LARGE, and a
 * reader treats a larger length word as damage.
 */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024
/** An entry payload: u64 index, u64 term, u8 entry type, then the data. */
export const ENTRY_FIXED_BYTES = 17
export const HARD_STATE_BYTES = 24
/** A snapshot payload: u64 index, u64 term, then the conf state (at least its fixed part). */
export const SNAPSHOT_FIXED_BYTES = 16 + CONF_STATE_FIXED_BYTES
/** The raft entry types a record may carry (EntryType: Normal, ConfChange, ConfChangeV2). */
export const MAX_ENTRY_TYPE = 2
export const CRC_RECORD_BYTES = 24

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 })

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0
}

/** Bytes a frame with a payload of `payloadLength` bytes occupies: header + payload, rounded up to 8. */
export function frameBytes(payloadLength: number): number {
  return (FRAME_HEADER_BYTES + payloadLength + 7) & ~7
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
  view.setUint8(at + 16, e.type)
  buf.set(e.data, at + ENTRY_FIXED_BYTES)
}

export function putHardState(view: DataView, at: number, hs: HardState): void {
  setU64(view, at, hs.term)
  setU64(view, at + 8, hs.vote)
  setU64(view, at + 16, hs.commit)
}

/** Payload bytes of a snapshot record. */
export function snapshotBytes(s: WalSnapshot): number {
  return 16 + confStateBytes(s.confState)
}

export function putSnapshot(view: DataView, at: number, s: WalSnapshot): void {
  setU64(view, at, s.index)
  setU64(view, at + 8, s.term)
  putConfState(view, at + 16, s.confState)
}

export function putCrcRecord(view: DataView, at: number, prevChain: number, seq: number, firstIndex: number): void {
  view.setUint32(at, prevChain, true)
  view.setUint32(at + 4, FORMAT_VERSION, true)
  setU64(view, at + 8, seq)
  setU64(view, at + 16, firstIndex)
}
