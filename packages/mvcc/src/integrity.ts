import type { ReadTx, WriteTx } from '@strata/backend'
import { MvccError } from './errors.js'
import { readU32, readU64, writeU64 } from './revision.js'

// Integrity at rest (FORMAT.md, "Checksums and totals"): every stored record carries an xxh32
// checksum seeded by its revision key, and the meta bucket holds the count and the sum of those
// checksums, updated in the transaction of every write and compaction batch.

/**
 * Benchmarks only (mvcc/bench/integrity.bench.ts measures the cost of the checks side by side):
 * with `enabled` false, records are written with checksum 0, their checksums are not checked,
 * and the totals are neither written by a write txn nor compared at open. Never set in a store
 * that keeps its data.
 */
export const benchIntegrityChecks = { enabled: true }

/** Where a record keeps what {@link recordIntegrity}'s `soundRecords` checks (kv.ts owns the format). */
export interface RecordLayout {
  /** The format byte's value (at offset 0). */
  readonly format: number
  readonly header: number
  /** Where the u32 body length is (the record's length minus the header). */
  readonly bodyLengthAt: number
  /** Where the u32 checksum is. */
  readonly sumAt: number
  /** Where the checksummed bytes begin (they run to the record's end). */
  readonly checkedFrom: number
}

/**
 * xxh32 and the record seed, and the check of a whole record, as one self-contained function:
 * it names nothing from outside its body, because its source text is evaluated again inside the
 * backend's scan thread (kv.ts's RECORD_CHECK_SOURCE). One implementation for both threads;
 * this module takes its functions from one call at load.
 */
export function recordIntegrity() {
  const P1 = 0x9e3779b1
  const P2 = 0x85ebca77
  const P3 = 0xc2b2ae3d
  const P4 = 0x27d4eb2f
  const P5 = 0x165667b1
  /** What recordSeed mixes in for a tombstone's key. */
  const TOMBSTONE_SEED = 0xc2b2ae3d

  /** The big-endian u32 at b[o]. */
  function u32be(b: Uint8Array, o: number): number {
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
  }

  /** The little-endian u32 at b[i] (as a signed int32: Math.imul takes either). */
  function u32le(b: Uint8Array, i: number): number {
    return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)
  }

  // xxh32's steps: small enough for V8 to inline.
  function round(acc: number, lane: number): number {
    const x = (acc + Math.imul(lane, P2)) | 0
    return Math.imul((x << 13) | (x >>> 19), P1)
  }

  /** The four lanes' accumulators folded into one. */
  function converge(v1: number, v2: number, v3: number, v4: number): number {
    return (((v1 << 1) | (v1 >>> 31)) + ((v2 << 7) | (v2 >>> 25)) + ((v3 << 12) | (v3 >>> 20)) + ((v4 << 18) | (v4 >>> 14))) | 0
  }

  /** One remaining 4-byte word. */
  function tailWord(acc: number, word: number): number {
    const x = (acc + Math.imul(word, P3)) | 0
    return Math.imul((x << 17) | (x >>> 15), P4)
  }

  /** One remaining byte. */
  function tailByte(acc: number, byte: number): number {
    const x = (acc + Math.imul(byte, P5)) | 0
    return Math.imul((x << 11) | (x >>> 21), P1)
  }

  function avalanche(acc: number): number {
    acc ^= acc >>> 15
    acc = Math.imul(acc, P2)
    acc ^= acc >>> 13
    acc = Math.imul(acc, P3)
    acc ^= acc >>> 16
    return acc >>> 0
  }

  /**
   * xxh32 of b[from, to) with `seed` (the reference algorithm, tested against xxhash-wasm's).
   * Plain JavaScript rather than xxhash-wasm's h32Raw: that one needs the bytes as an array of
   * their own, and the view made per record (a million at a 1M-key restart) cost more in young
   * garbage collections than the hash itself; this allocates nothing and is ~25% faster on a
   * 90-byte record. xxh32 rather than xxh64: a number rather than a BigInt; a random change of
   * one record escapes a 32-bit check with probability 2^-32, and the count and the sum catch a
   * lost record.
   */
  function checksum(b: Uint8Array, from: number, to: number, seed: number): number {
    let i = from
    let acc: number
    if (to - from >= 16) {
      let v1 = (seed + P1 + P2) | 0
      let v2 = (seed + P2) | 0
      let v3 = seed | 0
      let v4 = (seed - P1) | 0
      const limit = to - 16
      while (i <= limit) {
        v1 = round(v1, u32le(b, i))
        v2 = round(v2, u32le(b, i + 4))
        v3 = round(v3, u32le(b, i + 8))
        v4 = round(v4, u32le(b, i + 12))
        i += 16
      }
      acc = converge(v1, v2, v3, v4)
    } else {
      acc = (seed + P5) | 0
    }
    acc = (acc + (to - from)) | 0
    for (; i + 4 <= to; i += 4) acc = tailWord(acc, u32le(b, i))
    for (; i < to; i++) acc = tailByte(acc, b[i]!)
    return avalanche(acc)
  }

  /**
   * The checksum's seed, made of the 17- or 18-byte revision key at kb[ko, ko + kLength): a
   * record moved under another revision (a page of an older file version, a damaged key) fails
   * its check.
   */
  function recordSeed(kb: Uint8Array, ko: number, kLength: number): number {
    let s = Math.imul(u32be(kb, ko) ^ u32be(kb, ko + 4), 0x85ebca77) ^ Math.imul(u32be(kb, ko + 9) ^ u32be(kb, ko + 13), 0x9e3779b1)
    if (kLength === 18) s ^= TOMBSTONE_SEED
    return s >>> 0
  }

  /**
   * The check of records laid out as `layout`: whether the whole record at vb[vo, vo + vLength),
   * stored under the revision key at kb[ko, ko + kLength), has the format, the body length and
   * the checksum it should (the part of kv.ts's checkRecord that needs the value's bytes).
   */
  function soundRecords(layout: RecordLayout): (kb: Uint8Array, ko: number, kLength: number, vb: Uint8Array, vo: number, vLength: number) => boolean {
    const { format, header, bodyLengthAt, sumAt, checkedFrom } = layout
    return (kb, ko, kLength, vb, vo, vLength) => (kLength === 17 || kLength === 18) && vLength >= header && vb[vo] === format &&
      u32be(vb, vo + bodyLengthAt) === vLength - header && checksum(vb, vo + checkedFrom, vo + vLength, recordSeed(kb, ko, kLength)) === u32be(vb, vo + sumAt)
  }

  return { checksum, recordSeed, soundRecords }
}

const integrity = recordIntegrity()
export const { checksum, recordSeed } = integrity
export const soundRecords = integrity.soundRecords

const TWO_32 = 2 ** 32

/**
 * The record count and the sum of the records' checksums mod 2^64 (as two u32 halves): what
 * the rebuild at open proves it saw. Order-independent, so a compaction batch subtracts what it
 * deletes without reading anything else.
 */
export class Totals {
  count = 0
  hi = 0
  lo = 0

  copy(): Totals {
    const t = new Totals()
    t.count = this.count
    t.hi = this.hi
    t.lo = this.lo
    return t
  }

  set(t: Totals): void {
    this.count = t.count
    this.hi = t.hi
    this.lo = t.lo
  }

  add(sum: number): void {
    this.count++
    this.lo += sum
    if (this.lo >= TWO_32) {
      this.lo -= TWO_32
      this.hi = (this.hi + 1) >>> 0
    }
  }

  /** {@link add} of `count` records whose checksums sum to `sum` (a safe integer). */
  addMany(count: number, sum: number): void {
    this.count += count
    const lo = this.lo + (sum % TWO_32)
    this.lo = lo % TWO_32
    this.hi = (this.hi + Math.floor(sum / TWO_32) + Math.floor(lo / TWO_32)) >>> 0
  }

  remove(sum: number): void {
    this.count--
    this.lo -= sum
    if (this.lo < 0) {
      this.lo += TWO_32
      this.hi = (this.hi + TWO_32 - 1) >>> 0
    }
  }

  equals(t: Totals): boolean {
    return this.count === t.count && this.hi === t.hi && this.lo === t.lo
  }

  toString(): string {
    return `${this.count} records, checksum sum ${this.hi.toString(16).padStart(8, '0')}${this.lo.toString(16).padStart(8, '0')}`
  }
}

/** The meta key of the totals; its presence also marks a store of record format 2. */
export const TOTALS_KEY = new TextEncoder().encode('integrity')
const TOTALS_VERSION = 2
const TOTALS_BYTES = 21

export function encodeTotals(t: Totals): Uint8Array {
  return writeTotalsInto(new Uint8Array(TOTALS_BYTES), t)
}

function writeTotalsInto(b: Uint8Array, t: Totals): Uint8Array {
  b[0] = TOTALS_VERSION
  writeU64(b, 1, t.count)
  writeU32be(b, 9, t.hi)
  writeU32be(b, 13, t.lo)
  writeU32be(b, 17, checksum(b, 0, 17, 0))
  return b
}

function writeU32be(b: Uint8Array, o: number, n: number): void {
  b[o] = n >>> 24
  b[o + 1] = n >>> 16
  b[o + 2] = n >>> 8
  b[o + 3] = n
}

/** The totals recorded in `meta` (undefined: none, a new store or one written before format 2). */
export function readTotals(tx: ReadTx, location: string): Totals | undefined {
  const b = tx.get('meta', TOTALS_KEY)
  if (b === undefined) return undefined
  if (!(b.length === TOTALS_BYTES && b[0] === TOTALS_VERSION && readU32(b, 17) === checksum(b, 0, 17, 0) && readU32(b, 1) < 0x200000)) {
    throw corruptError(location, 'the record totals in the meta bucket fail their checksum', {})
  }
  const t = new Totals()
  t.count = readU64(b, 1)
  t.hi = readU32(b, 9)
  t.lo = readU32(b, 13)
  return t
}

/** Reused by {@link writeTotals} (once per write txn): the backend copies what it is given. */
const totalsScratch = new Uint8Array(TOTALS_BYTES)

export function writeTotals(tx: WriteTx, t: Totals): void {
  tx.put('meta', TOTALS_KEY, writeTotalsInto(totalsScratch, t))
}

/** What the error of a damaged store tells the operator to do. */
export const CORRUPT_ADVICE =
  'the data is damaged on disk: restore this data directory from a snapshot or backup, or, for a member of a cluster, discard its data directory and let it catch up from the leader\'s snapshot; `verify` on the closed directory reports what is damaged'

/** ERR_MVCC_CORRUPT: `what` was found in `location`; `context` names the revision and key when known. */
export function corruptError(location: string, what: string, context: { revision?: string; key?: string }, cause?: unknown): MvccError {
  const at = [context.revision === undefined ? '' : ` at revision ${context.revision}`, context.key === undefined ? '' : ` (key ${JSON.stringify(context.key)})`].join('')
  return new MvccError('ERR_MVCC_CORRUPT', `mvcc: ${what}${at} in ${location}; ${CORRUPT_ADVICE}`, { location, ...context }, cause === undefined ? undefined : { cause })
}

/** "main.sub" (with "t" for a tombstone) of a revision key, for messages; never throws. */
export function describeRevisionKey(kb: Uint8Array, ko: number, kLength: number): string {
  if (kLength !== 17 && kLength !== 18) return `<a ${kLength}-byte revision key>`
  const n = (o: number): number => readU32(kb, o) * TWO_32 + readU32(kb, o + 4)
  return `${n(ko)}.${n(ko + 9)}${kLength === 18 ? 't' : ''}`
}
