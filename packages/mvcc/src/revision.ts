import assert from 'node:assert'

/**
 * A point in the store's history. `main` is the store revision of one atomic write transaction;
 * `sub` numbers the changes inside it (0, 1, 2, ...). Ordered lexicographically on (main, sub).
 */
export interface Revision {
  readonly main: number
  readonly sub: number
}

/** Bytes of an encoded revision key: main (u64 BE), '_', sub (u64 BE). */
export const REVISION_BYTES = 17
/** Bytes of an encoded tombstone revision key: the 17 bytes followed by 't'. */
export const TOMBSTONE_REVISION_BYTES = 18

const SEPARATOR = 0x5f // '_'
const TOMBSTONE_MARK = 0x74 // 't'
const TWO_32 = 2 ** 32

export function revision(main: number, sub = 0): Revision {
  if (!(Number.isSafeInteger(main) && main >= 0)) assert.fail(`revision main must be a safe non-negative integer, got ${main}`)
  if (!(Number.isSafeInteger(sub) && sub >= 0)) assert.fail(`revision sub must be a safe non-negative integer, got ${sub}`)
  return { main, sub }
}

/** Negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareRevision(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub
}

export function revisionGreater(a: Revision, b: Revision): boolean {
  return a.main > b.main || (a.main === b.main && a.sub > b.sub)
}

/**
 * Writes `n` (a safe integer >= 0, asserted) as u64 big-endian at `o`, byte by byte (no
 * DataView): the one u64 writer of every stored field (revision keys, KeyValue headers).
 */
export function writeU64(b: Uint8Array, o: number, n: number): void {
  if (!(Number.isSafeInteger(n) && n >= 0)) assert.fail(`u64 field must be a safe non-negative integer, got ${n}`)
  const hi = Math.floor(n / TWO_32)
  const lo = n >>> 0
  b[o] = hi >>> 24
  b[o + 1] = hi >>> 16
  b[o + 2] = hi >>> 8
  b[o + 3] = hi
  b[o + 4] = lo >>> 24
  b[o + 5] = lo >>> 16
  b[o + 6] = lo >>> 8
  b[o + 7] = lo
}

/** Reads a u32 big-endian at `o`, byte by byte. */
export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
}

/**
 * Reads a u64 written by {@link writeU64}, byte by byte (the start-up rebuild calls it several
 * times per stored revision; no DataView per value); above 2^53 is corruption, not data.
 */
export function readU64(b: Uint8Array, o: number): number {
  const hi = readU32(b, o)
  if (hi >= 0x200000) assert.fail(`stored u64 at ${o} exceeds 2^53`)
  return hi * TWO_32 + readU32(b, o + 4)
}

/** The backend key of a revision (FORMAT.md): 17 bytes, or 18 with the tombstone mark. */
export function encodeRevision(rev: Revision, tombstone = false): Uint8Array {
  return encodeRevisionInto(new Uint8Array(tombstone ? TOMBSTONE_REVISION_BYTES : REVISION_BYTES), rev, tombstone)
}

/** {@link encodeRevision} into `bytes`, which must be exactly the key's length; returns it. */
export function encodeRevisionInto(bytes: Uint8Array, rev: Revision, tombstone = false): Uint8Array {
  if (bytes.length !== (tombstone ? TOMBSTONE_REVISION_BYTES : REVISION_BYTES)) assert.fail('a revision key buffer of the wrong length')
  writeU64(bytes, 0, rev.main)
  bytes[8] = SEPARATOR
  writeU64(bytes, 9, rev.sub)
  if (tombstone) bytes[17] = TOMBSTONE_MARK
  return bytes
}

/** Decodes a backend revision key; asserts its shape, since the key bucket holds nothing else. */
export function decodeRevision(bytes: Uint8Array): Revision {
  if (!(bytes.length === REVISION_BYTES || bytes.length === TOMBSTONE_REVISION_BYTES)) assert.fail(`revision key of ${bytes.length} bytes`)
  assert(bytes[8] === SEPARATOR, 'revision key without its separator')
  return { main: readU64(bytes, 0), sub: readU64(bytes, 9) }
}

/** True when an encoded revision key carries the tombstone mark. */
export function isTombstoneKey(bytes: Uint8Array): boolean {
  return bytes.length === TOMBSTONE_REVISION_BYTES && bytes[17] === TOMBSTONE_MARK
}

/** A compact string identity for a revision, used for keep sets. */
export function revisionId(rev: Revision): string {
  return `${rev.main}_${rev.sub}`
}
