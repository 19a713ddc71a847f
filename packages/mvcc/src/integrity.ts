import type { ReadTx, WriteTx } from '@strata/backend'
import xxhash from 'xxhash-wasm'
import { MvccError } from './errors.js'
import { readU32, readU64, writeU64 } from './revision.js'

// Integrity at rest (FORMAT.md, "Checksums and totals"): every stored record carries an xxh32
// checksum seeded by its revision key, and the meta bucket holds the count and the sum of those
// checksums, updated in the transaction of every write and compaction batch.

/**
 * The hasher, compiled once when the module loads (top-level await), so encoding and checking a
 * record stay synchronous. xxh32 rather than xxh64: `h32Raw` returns a number (`h64Raw` a BigInt,
 * ~40% slower per 100-byte record here, 132 vs 90 ns), and a random corruption of one record
 * escapes a 32-bit check with probability 2^-32, while the count and the sum catch a lost one.
 */
const hasher = await xxhash()

/**
 * Benchmarks only (mvcc/bench/integrity.bench.ts measures the cost of the checks side by side):
 * with `enabled` false, records are written with checksum 0, their checksums are not checked,
 * and the totals are neither written by a write txn nor compared at open. Never set in a store
 * that keeps its data.
 */
export const benchIntegrityChecks = { enabled: true }

/** What {@link recordSeed} mixes in for a tombstone's key. */
const TOMBSTONE_SEED = 0xc2b2ae3d

/**
 * The checksum's seed, made of the 17- or 18-byte revision key at kb[ko, ko + kLength): a record
 * moved under another revision (a page of an older file version, a damaged key) fails its check.
 */
export function recordSeed(kb: Uint8Array, ko: number, kLength: number): number {
  let s = Math.imul(readU32(kb, ko) ^ readU32(kb, ko + 4), 0x85ebca77) ^ Math.imul(readU32(kb, ko + 9) ^ readU32(kb, ko + 13), 0x9e3779b1)
  if (kLength === 18) s ^= TOMBSTONE_SEED
  return s >>> 0
}

/** xxh32 of b[from, to) with `seed`. */
export function checksum(b: Uint8Array, from: number, to: number, seed: number): number {
  return hasher.h32Raw(from === 0 && to === b.length ? b : b.subarray(from, to), seed)
}

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
  const b = new Uint8Array(TOTALS_BYTES)
  b[0] = TOTALS_VERSION
  writeU64(b, 1, t.count)
  const v = new DataView(b.buffer)
  v.setUint32(9, t.hi)
  v.setUint32(13, t.lo)
  v.setUint32(17, checksum(b, 0, 17, 0))
  return b
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

export function writeTotals(tx: WriteTx, t: Totals): void {
  tx.put('meta', TOTALS_KEY, encodeTotals(t))
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
