import type { Backend, ReadTx, ValueHead } from '@strata/backend'
import { forEachHead } from '@strata/backend/internal'
import { nextTurn, StrataError } from '@strata/seams'
import { MvccError } from './errors.js'
import { Totals, benchIntegrityChecks, corruptError, describeRevisionKey, readTotals } from './integrity.js'
import { KeyIndex } from './key-index.js'
import { BODY_LENGTH_AT, KEY_LENGTH_AT, KV_HEADER_BYTES, LEGACY_FORMAT_VERSION, RECORD_CHECK_SOURCE, checkRecord, describeRecordKey, storedChecksum } from './kv.js'
import { type Revision, TOMBSTONE_REVISION_BYTES, decodeRevision, readU32, readU64 } from './revision.js'
import { CompactKeys, type Entry, SortedBlocks, type Steps, TreeIndex, runPaused, runSync } from './tree-index.js'

const encoder = new TextEncoder()
export const SCHEDULED_COMPACT_KEY = encoder.encode('scheduledCompactRev')
export const FINISHED_COMPACT_KEY = encoder.encode('finishedCompactRev')
const FROM_START = new Uint8Array(0)
const TWO_32 = 2 ** 32

/** What one pass over the key bucket recovers. */
export interface Rebuilt {
  readonly index: TreeIndex
  /** The largest main revision found in the key bucket (1 when it is empty). */
  readonly lastMain: number
  /** 0 when no compaction ever finished. */
  readonly finishedCompactRev: number
  /** 0 when no compaction was ever scheduled. */
  readonly scheduledCompactRev: number
  /** key (latin1) → lease of its newest alive put, for leases != 0. */
  readonly keyLeases: Map<string, number>
  /** The count and checksum sum of the records seen (equal to what `meta` records, or the rebuild failed). */
  readonly totals: Totals
  /** True when the records are of format 1 (written before checksums): the store migrates them. */
  readonly legacy: boolean
}

/** The stored-record layouts the rebuild reads: format 2, and format 1 to migrate it. */
interface Layout {
  readonly header: number
  readonly keyLengthAt: number
  readonly createdAt: number
  readonly versionAt: number
  readonly leaseAt: number
}
const LAYOUT_2: Layout = { header: KV_HEADER_BYTES, keyLengthAt: 5, createdAt: 13, versionAt: 29, leaseAt: 37 }
const LAYOUT_1: Layout = { header: 37, keyLengthAt: 1, createdAt: 5, versionAt: 21, leaseAt: 29 }

function metaRevision(tx: ReadTx, key: Uint8Array): number {
  const bytes = tx.get('meta', key)
  return bytes === undefined ? 0 : decodeRevision(bytes).main
}

// Buffer's latin1 decoder works on any Uint8Array and, unlike Buffer.from(...).toString(),
// allocates nothing but the string: the rebuild calls it once per stored revision.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice


/** Side records sorted, or merged, between two pauses of a fold. */
const SORT_SLICE = 1 << 15
/**
 * Side records kept before a fold mid-scan, at the least (else twice the sorted keys): bounds
 * the log of a store of rewritten keys (~60 bytes a record) while a store of up to ~1M records
 * is folded once, at the end (a fold re-merges every sorted key). Tests lower it.
 */
export const foldPolicy = { minRecords: 1 << 20 }
/** A run of side records with an equal 8-byte prefix shorter than this is sorted by comparison, not radix. */
const SMALL_RUN = 48

/** A side record's kind: a tombstone, a put that created its key at version 1, any other put. */
const TOMBSTONE = 0
const PUT_CREATED = 1
const PUT_OTHER = 2

/**
 * The entry of `key` after one more of its records, in revision order: `e` undefined for a key
 * not met before. A key met for the first time with a put that created it at version 1 becomes
 * a slot of `slots` (no object); any other, or a slot met again, a KeyIndex.
 */
function applyRecord(slots: CompactKeys, key: string, e: Entry | undefined, kind: number, main: number, sub: number, created: number, version: number): Entry {
  if (e === undefined) {
    if (kind === PUT_CREATED) return slots.alloc(main, sub)
    const ki = new KeyIndex(key)
    const rev: Revision = { main, sub }
    // The tombstone kept at a compaction revision may be all that is left of a key; a put
    // whose older revisions were compacted away takes created/version from the stored value.
    if (kind === TOMBSTONE) ki.restoreTombstone(rev)
    else ki.restorePut(created === main ? rev : { main: created, sub: 0 }, rev, version)
    return ki
  }
  let ki: KeyIndex
  if (typeof e === 'number') {
    ki = slots.keyIndex(key, e)
    slots.release(e)
  } else ki = e
  const rev: Revision = { main, sub }
  if (kind === TOMBSTONE) ki.tombstone(rev)
  // The first surviving put of a generation takes created/version from the stored value:
  // older revisions of the generation may have been compacted away.
  else if (!ki.aliveAt(Number.MAX_SAFE_INTEGER)) ki.restorePut(created === main ? rev : { main: created, sub: 0 }, rev, version)
  else ki.put(rev)
  return ki
}

/** Big-endian bytes [at, at + 4) of `b`, zero at and past `end`. */
function byteWord(b: Uint8Array, at: number, end: number): number {
  if (at + 4 <= end) return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
  let w = 0
  for (let i = 0; i < 4; i++) w = (w << 8) | (at + i < end ? b[at + i]! : 0)
  return w >>> 0
}

/** Big-endian bytes [at, at + 4) of the latin1 string `k`, zero past its end. */
function word(k: string, at: number): number {
  // charCodeAt past the end is NaN, which the shifts and | turn into 0.
  return ((k.charCodeAt(at) << 24) | (k.charCodeAt(at + 1) << 16) | (k.charCodeAt(at + 2) << 8) | k.charCodeAt(at + 3)) >>> 0
}

/**
 * Collects the entry of each key met by the scan (revision order) without a map or a search.
 * Keys that first appear in increasing order (a store loaded in key order) are appended to
 * sorted arrays, which are already the bulk load's input, and a record of the last of them
 * applies to its entry at once. Any other record — a key below the last sorted key, met for
 * the first time (a store written by concurrent writers, or in random key order: strata
 * bench's varint keys) or again (a rewrite) — is appended to a *side log* (its key string and
 * what the index needs of it in typed arrays). A {@link fold} sorts the log by key, stably
 * (revision order kept within a key: a radix sort over the keys' bytes, 8 at a time), and
 * merges it into the sorted keys, applying each key's side records after its earlier ones.
 * The last fold happens at the end ({@link sorted}); one happens earlier whenever the log
 * outgrows max({@link foldPolicy}'s 1M records, twice the sorted keys), so a store whose keys were rewritten
 * many times does not keep a string per revision.
 */
class KeyCollector {
  /** Invariant: the keys collected in increasing order, and their entries: every record of them up to the last fold applied, and of the last key every record so far. */
  #sorted = new SortedBlocks<Entry>()
  /** Invariant: the first 8 bytes of the last sorted key (zero-padded), big-endian, as two words. */
  #lastHi = 0
  #lastLo = 0
  /** Invariant: the side log's records in revision order, [0, #sideCount): key, its first 8 bytes (as #lastHi/#lastLo), kind, main, sub. */
  #sideKeys: string[] = []
  #sideHi = new Uint32Array(1 << 12)
  #sideLo = new Uint32Array(1 << 12)
  #sideKinds = new Uint8Array(1 << 12)
  #sideMains = new Float64Array(1 << 12)
  #sideSubs = new Float64Array(1 << 12)
  #sideCount = 0
  /** Invariant: created and version of each PUT_OTHER side record, by its position in the log. */
  #sideOther = new Map<number, readonly [created: number, version: number]>()
  readonly slots: CompactKeys
  /** The number of records the scan brings (0 when not known). */
  readonly #records: number

  /** `records`: the number of records the scan will bring, when known (slots reserved for as many keys). */
  constructor(records: number | undefined) {
    this.slots = new CompactKeys(records)
    this.#records = records ?? 0
  }

  /**
   * One record of `key`, in revision order; `hi` and `lo` are its first 8 bytes, zero-padded,
   * big-endian (what orders most keys without a string comparison). `created` and `version`
   * matter for puts only.
   */
  add(key: string, hi: number, lo: number, kind: number, main: number, sub: number, created: number, version: number): void {
    const sorted = this.#sorted
    const last = sorted.last
    // Keys whose first 8 bytes differ compare as those bytes do; else as strings.
    const above = last === undefined || hi > this.#lastHi || (hi === this.#lastHi && (lo > this.#lastLo || (lo === this.#lastLo && key > last)))
    if (above) {
      sorted.push(key, applyRecord(this.slots, key, undefined, kind, main, sub, created, version))
      this.#lastHi = hi
      this.#lastLo = lo
      return
    }
    if (hi === this.#lastHi && lo === this.#lastLo && key === last) {
      const at = sorted.size - 1
      sorted.setValue(at, applyRecord(this.slots, key, sorted.valueAt(at), kind, main, sub, created, version))
      return
    }
    const j = this.#sideCount++
    // The first side record since a fold: room for as many as the scan may bring before the next.
    const room = j === 0 ? Math.min(this.#records, Math.max(foldPolicy.minRecords, 2 * sorted.size)) : 0
    if (room > this.#sideMains.length) {
      this.#sideKeys = new Array<string>(room)
      this.#sideHi = new Uint32Array(room)
      this.#sideLo = new Uint32Array(room)
      this.#sideKinds = new Uint8Array(room)
      this.#sideMains = new Float64Array(room)
      this.#sideSubs = new Float64Array(room)
    }
    if (j === this.#sideMains.length) {
      const grow = <T extends Uint8Array | Uint32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2)
        b.set(a)
        return b
      }
      this.#sideHi = grow(this.#sideHi)
      this.#sideLo = grow(this.#sideLo)
      this.#sideKinds = grow(this.#sideKinds)
      this.#sideMains = grow(this.#sideMains)
      this.#sideSubs = grow(this.#sideSubs)
    }
    // By index into an array made at its size (no copying as it grows; the rest of it holey).
    this.#sideKeys[j] = key
    this.#sideHi[j] = hi
    this.#sideLo[j] = lo
    this.#sideKinds[j] = kind
    this.#sideMains[j] = main
    this.#sideSubs[j] = sub
    if (kind === PUT_OTHER) this.#sideOther.set(j, [created, version])
  }

  /** True when the side log should be folded in before the pass goes on (see the class). */
  get wantsFold(): boolean {
    return this.#sideCount >= foldPolicy.minRecords && this.#sideCount >= 2 * this.#sorted.size
  }

  /**
   * Sorts the side log and merges it into the sorted keys (see the class), as steps that may
   * pause every ~{@link SORT_SLICE} records, so no step holds the event loop for long.
   */
  *fold(): Steps<void> {
    const n = this.#sideCount
    if (n === 0) return
    const keys = this.#sideKeys
    const { order, starts } = yield* sortByKey(keys, n, this.#sideHi, this.#sideLo)
    // A store written in random key order brings ~every key as one side record that created
    // it. Their revisions become slots as they are, in log order, so the walk below in key
    // order does not fetch each one's main and sub from a random place of two arrays of n
    // numbers (~30 ms of a 1M-key restart); records used otherwise give their slot back, so
    // only when they are few.
    const kinds = this.#sideKinds
    let created = 0
    for (let j = 0; j < n; j++) if (kinds[j] === PUT_CREATED) created++
    // The slot of side record 0 (record j's is adopted + j), or -1.
    const adopted = created * 4 >= n * 3 ? this.slots.adopt(this.#sideMains, this.#sideSubs, n) : -1
    const main = this.#sorted
    const merged = new SortedBlocks<Entry>()
    let i = 0
    let o = 0
    let done = 0
    // A key's side records are consecutive in the order (until the next start), in revision order.
    while (i < main.size || o < n) {
      const mainKey = i < main.size ? main.keyAt(i) : undefined
      // The side keys below the next sorted key are keys of their own. Found by galloping: a few
      // comparisons per sorted key rather than one per side key, which read two strings at
      // random places (a store written out of key order has few sorted keys and ~all on the side).
      const below = mainKey === undefined ? n : firstNotBelow(keys, order, o, n, mainKey)
      while (o < below) {
        const key = keys[order[o]!]!
        let e: Entry | undefined
        do {
          e = this.#applySide(key, e, order[o]!, adopted)
          if (++done % SORT_SLICE === 0) yield
        } while (++o < below && starts[o] === 0)
        merged.push(key, e)
      }
      if (mainKey === undefined) break
      let e = main.valueAt(i++)
      if (o < n && keys[order[o]!] === mainKey) {
        do {
          e = this.#applySide(mainKey, e, order[o]!, adopted)
          if (++done % SORT_SLICE === 0) yield
        } while (++o < n && starts[o] === 0)
      }
      merged.push(mainKey, e)
    }
    this.#sorted = merged
    this.#sideKeys = []
    this.#sideCount = 0
    this.#sideOther = new Map()
  }

  /**
   * The entry of `key` after its side record `j`, `e` its entry before (undefined: none yet);
   * `adopted`: the slot of side record 0 when the fold adopted the log's revisions, else -1.
   */
  #applySide(key: string, e: Entry | undefined, j: number, adopted: number): Entry {
    const kind = this.#sideKinds[j]!
    if (adopted >= 0) {
      if (kind === PUT_CREATED && e === undefined) return adopted + j
      this.slots.release(adopted + j)
    }
    const main = this.#sideMains[j]!
    const cv = kind === PUT_OTHER ? this.#sideOther.get(j)! : undefined
    return applyRecord(this.slots, key, e, kind, main, this.#sideSubs[j]!, cv?.[0] ?? main, cv?.[1] ?? 1)
  }

  /** The collected keys and entries in key order: the side log folded in (see {@link fold}). */
  *sorted(): Steps<SortedBlocks<Entry>> {
    yield* this.fold()
    return this.#sorted
  }
}

/**
 * The first position p in [from, n] of `order` whose key keys[order[p]] is not below `key` (n
 * when none), the keys being in order from `from` on: probes from, from + 1, from + 3, ...
 * (galloping), then a binary search within the last step.
 */
function firstNotBelow(keys: readonly string[], order: Int32Array, from: number, n: number, key: string): number {
  // Invariant: every position in [from, lo) is below `key`; position hi is not, or hi === n.
  let lo = from
  let hi = from
  let step = 1
  while (hi < n && keys[order[hi]!]! < key) {
    lo = hi + 1
    hi = Math.min(n, hi + step)
    step *= 2
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[order[mid]!]! < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** What {@link sortByKey} returns. */
export interface KeyOrder {
  /** The positions [0, n) of the keys in key order, equal keys in position order. */
  readonly order: Int32Array
  /**
   * starts[p] is 1 when keys[order[p]] differs from keys[order[p - 1]] (and at p = 0), else 0:
   * where each distinct key begins in `order`, found by the sort's own word comparisons, so a
   * caller walking the order needs no string comparison (each one a random read of two strings).
   */
  readonly starts: Uint8Array
}

/**
 * The keys (latin1 strings) in key order ({@link KeyOrder}): an LSD radix sort (16-bit digits)
 * over the keys' first 8 bytes (`firstHi`/`firstLo` when the caller has them, as
 * {@link KeyCollector.add} takes them; overwritten), then the same over the next 8 bytes within
 * each run of equal prefixes, and so on; runs under {@link SMALL_RUN} by comparison. Steps pause
 * every ~{@link SORT_SLICE} positions handled.
 */
export function* sortByKey(keys: readonly string[], n: number, firstHi?: Uint32Array, firstLo?: Uint32Array): Steps<KeyOrder> {
  const order = new Int32Array(n)
  // A run's first position begins a key: runs are the groups of a parent level's distinct words.
  const starts = new Uint8Array(n)
  for (let j = 0; j < n; j++) order[j] = j
  // The prefix words of the run being sorted, by position in `keys` (overwritten run by run).
  const given = firstHi !== undefined && firstLo !== undefined
  const hi = given ? firstHi : new Uint32Array(n)
  const lo = given ? firstLo : new Uint32Array(n)
  const tmp = new Int32Array(n)
  const counts = new Int32Array(1 << 16)
  let work = 0
  const compare = (x: number, y: number): number => {
    const kx = keys[x]!
    const ky = keys[y]!
    return kx < ky ? -1 : kx > ky ? 1 : x - y
  }
  // Runs still to sort: [from, to) of order, whose keys agree on their first `at` bytes.
  const runs: number[] = [0, n, 0]
  while (runs.length > 0) {
    const at = runs.pop()!
    const to = runs.pop()!
    const from = runs.pop()!
    if (to - from < SMALL_RUN) {
      // Stable: equal keys by position.
      order.subarray(from, to).sort(compare)
      starts[from] = 1
      for (let p = from + 1; p < to; p++) starts[p] = keys[order[p]!] === keys[order[p - 1]!] ? 0 : 1
      work += to - from
      continue
    }
    if (!(given && at === 0)) {
      for (let p = from; p < to; p++) {
        const j = order[p]!
        const k = keys[j]!
        hi[j] = word(k, at)
        lo[j] = word(k, at + 4)
      }
    }
    // Four stable passes, least significant digit first; a pass whose digit is the same for the whole run is skipped.
    for (let d = 0; d < 4; d++) {
      const src = d < 2 ? lo : hi
      const shift = d % 2 === 0 ? 0 : 16
      counts.fill(0)
      for (let p = from; p < to; p++) counts[(src[order[p]!]! >>> shift) & 0xffff]!++
      const first = (src[order[from]!]! >>> shift) & 0xffff
      work += to - from
      if (counts[first] === to - from) continue
      let sum = from
      for (let b = 0; b < 1 << 16; b++) {
        const c = counts[b]!
        counts[b] = sum
        sum += c
      }
      for (let p = from; p < to; p++) {
        const j = order[p]!
        tmp[counts[(src[j]! >>> shift) & 0xffff]!++] = j
      }
      order.set(tmp.subarray(from, to), from)
      work += to - from
      if (work >= SORT_SLICE) {
        work = 0
        yield
      }
    }
    // Runs of equal prefixes: keys longer than at + 8 bytes sorted further; else equal padded
    // prefixes differ only by length (the shorter first) and equal keys stay in position order.
    for (let p = from; p < to; ) {
      const j = order[p]!
      starts[p] = 1
      let q = p + 1
      while (q < to && hi[order[q]!] === hi[j] && lo[order[q]!] === lo[j]) q++
      if (q - p > 1) {
        let longer = false
        for (let r = p; r < q && !longer; r++) longer = keys[order[r]!]!.length > at + 8
        if (longer) runs.push(p, q, at + 8)
        else {
          order.subarray(p, q).sort((x, y) => keys[x]!.length - keys[y]!.length || x - y)
          for (let r = p + 1; r < q; r++) if (keys[order[r]!]!.length !== keys[order[r - 1]!]!.length) starts[r] = 1
        }
      }
      p = q
    }
    if (work >= SORT_SLICE) {
      work = 0
      yield
    }
  }
  return { order, starts }
}

/**
 * The one pass over the key bucket (revision order) that rebuilds the index, fed one stored
 * pair at a time, as offsets into a buffer: a view of the backend's own (a synchronous scan) or
 * a chunk of a backend's head scan ({@link rebuildIndexFromScan}). It reads the fixed-layout
 * bytes (FORMAT.md) in place: per pair it allocates only what the index keeps (the Revision,
 * the key string once per key).
 */
class Rebuild {
  readonly #collector: KeyCollector
  readonly keyLeases = new Map<string, number>()
  readonly totals = new Totals()
  lastMain = 1
  readonly #location: string
  /** Invariant: true when the store has no totals in `meta`: its records must all be of format 1. */
  readonly #legacy: boolean

  constructor(location: string, legacy: boolean, records?: number) {
    this.#collector = new KeyCollector(records)
    this.#location = location
    this.#legacy = legacy
  }

  #corrupt(what: string, kb: Uint8Array, ko: number, kLength: number, vb: Uint8Array, vo: number, vLength: number): MvccError {
    return corruptError(this.#location, what, { revision: describeRevisionKey(kb, ko, kLength), key: describeRecordKey(vb, vo, vLength) })
  }

  /**
   * The revision key at kb[ko, ko + kLength); the whole stored record at vb[vo, vo + vLength),
   * or, when `sound` (it passed RECORD_CHECK_SOURCE's check where the scan read it), its header
   * and key only.
   */
  add(kb: Uint8Array, ko: number, kLength: number, vb: Uint8Array, vo: number, vLength: number, sound = false): void {
    // Checks as `if`s: node:assert's ok() costs ~40 ms over a 1M-key rebuild.
    let layout = LAYOUT_2
    if (this.#legacy) {
      layout = LAYOUT_1
      if (!(vLength >= LAYOUT_1.header && vb[vo] === LEGACY_FORMAT_VERSION && (kLength === 17 || kLength === 18) && kb[ko + 8] === 0x5f)) {
        throw this.#corrupt('a record of format 2, or a damaged one, in a store without record totals', kb, ko, kLength, vb, vo, vLength)
      }
      this.totals.add(0)
    } else {
      const bad = checkRecord(kb, ko, kLength, vb, vo, vLength, sound)
      if (bad !== undefined) throw this.#corrupt(bad, kb, ko, kLength, vb, vo, vLength)
      this.totals.add(storedChecksum(vb, vo))
    }
    const mainHigh = readU32(kb, ko)
    const subHigh = readU32(kb, ko + 9)
    if (mainHigh >= 0x200000 || subHigh >= 0x200000) throw this.#corrupt('a revision above 2^53', kb, ko, kLength, vb, vo, vLength)
    const main = mainHigh * TWO_32 + readU32(kb, ko + 4)
    const sub = subHigh * TWO_32 + readU32(kb, ko + 13)
    if (main < this.lastMain && this.lastMain !== 1) throw this.#corrupt('the key bucket out of revision order', kb, ko, kLength, vb, vo, vLength)
    this.lastMain = main
    const header = layout.header
    const keyLength = readU32(vb, vo + layout.keyLengthAt)
    if (header + keyLength > vLength) throw this.#corrupt('a record shorter than its key', kb, ko, kLength, vb, vo, vLength)
    const keyAt = vo + header
    const keyEnd = keyAt + keyLength
    const key = latin1Slice.call(vb, keyAt, keyEnd)
    const tombstone = kLength === TOMBSTONE_REVISION_BYTES
    const lease = tombstone ? 0 : readU64(vb, vo + layout.leaseAt)
    if (lease !== 0) this.keyLeases.set(key, lease)
    else if (this.keyLeases.size > 0) this.keyLeases.delete(key)
    if (tombstone) {
      this.#collector.add(key, byteWord(vb, keyAt, keyEnd), byteWord(vb, keyAt + 4, keyEnd), TOMBSTONE, main, sub, main, 0)
      return
    }
    const created = readU64(vb, vo + layout.createdAt)
    const version = readU64(vb, vo + layout.versionAt)
    this.#collector.add(key, byteWord(vb, keyAt, keyEnd), byteWord(vb, keyAt + 4, keyEnd), created === main && version === 1 ? PUT_CREATED : PUT_OTHER, main, sub, created, version)
  }

  /** True when the collected records should be folded before the pass goes on: then run {@link fold}. */
  get wantsFold(): boolean {
    return this.#collector.wantsFold
  }

  fold(): Steps<void> {
    return this.#collector.fold()
  }

  /**
   * What the meta bucket records, once every pair was added: fails with ERR_MVCC_CORRUPT when
   * the records seen do not add up to the totals `meta` records. Then {@link build} the index.
   */
  check(tx: ReadTx, expected: Totals | undefined): Omit<Rebuilt, 'index'> {
    if (benchIntegrityChecks.enabled && (expected === undefined ? this.totals.count > 0 && !this.#legacy : !expected.equals(this.totals))) {
      throw corruptError(this.#location, `the key bucket holds ${this.totals} where the meta bucket records ${expected ?? 'none'}: records are missing, added or altered`, {})
    }
    return {
      lastMain: this.lastMain,
      finishedCompactRev: metaRevision(tx, FINISHED_COMPACT_KEY),
      scheduledCompactRev: metaRevision(tx, SCHEDULED_COMPACT_KEY),
      keyLeases: this.keyLeases,
      totals: this.totals,
      legacy: this.#legacy && this.totals.count > 0,
    }
  }

  /** The index of the pairs added, bulk-loaded in one go or with `pause` between slices. */
  async build(pause: () => Promise<void>): Promise<TreeIndex> {
    const blocks = await runPaused(this.#collector.sorted(), pause)
    this.#collector.slots.trim()
    return TreeIndex.build(blocks, this.lastMain, this.#collector.slots, pause)
  }

  /** {@link build} in one go. */
  buildSync(): TreeIndex {
    const blocks = runSync(this.#collector.sorted())
    this.#collector.slots.trim()
    return TreeIndex.fromBlocks(blocks, this.lastMain, this.#collector.slots)
  }
}

/**
 * A failure of the backend while the rebuild reads (LMDB's own MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
 * a scan thread that died on a damaged page) as ERR_MVCC_CORRUPT; other errors as they are.
 */
function asCorrupt(err: unknown, location: string): unknown {
  if (err instanceof MvccError) return err
  const message = err instanceof Error ? err.message : String(err)
  const backendFailure = !(err instanceof StrataError) || (err.code === 'ERR_BACKEND_SCAN' && /MDB_|corrupt|page/i.test(message))
  return backendFailure ? corruptError(location, `the backend failed while reading the key bucket (${message})`, {}, err) : err
}

/**
 * Rebuilds the index in one synchronous pass over the key bucket, checking every record, then
 * bulk-loads the B+ tree in O(n). `location` names the file in errors.
 */
export function rebuildIndex(tx: ReadTx, location = 'the backend'): Rebuilt {
  try {
    const expected = readTotals(tx, location)
    const rebuild = new Rebuild(location, expected === undefined && isLegacy(tx), expected?.count)
    // Views suffice: add() keeps nothing of k or v but what it decodes (a string, numbers).
    const scan = tx.forEachView ?? tx.forEach
    scan.call(tx, 'key', FROM_START, undefined, (k, v) => {
      rebuild.add(k, 0, k.length, v, 0, v.length)
      if (rebuild.wantsFold) runSync(rebuild.fold())
    })
    return { ...rebuild.check(tx, expected), index: rebuild.buildSync() }
  } catch (err) {
    throw asCorrupt(err, location)
  }
}

/** True when the first record of the key bucket is of format 1 (a store written before checksums). */
function isLegacy(tx: ReadTx): boolean {
  const first = tx.range('key', FROM_START, undefined, { limit: 1 })[0]
  return first !== undefined && first.value[0] === LEGACY_FORMAT_VERSION
}

/** What of a stored record the rebuild reads: all of it (the header, then key + value, whose length is at BODY_LENGTH_AT). */
const RECORD_HEAD: ValueHead = { fixed: KV_HEADER_BYTES, lengthAt: BODY_LENGTH_AT }
/**
 * Each record's header and key, its checksum over the whole record verified where the scan reads
 * it (the scan thread): the rebuild's thread neither hashes nor touches the values. A record that
 * fails comes whole, and the full check here names what is wrong with it.
 */
const CHECKED_RECORD_HEAD: ValueHead = { fixed: KV_HEADER_BYTES, lengthAt: KEY_LENGTH_AT, check: RECORD_CHECK_SOURCE }

/**
 * The same rebuild with the key bucket read through {@link Backend.scanHeads}, which reads a
 * big bucket on a thread of its own, so LMDB's reading overlaps the index build: a 1M-key
 * restart takes 0.69–0.92 of the one-thread pass (README). `pause` is awaited after each chunk
 * (~1 MiB of records: a few ms of work) and between slices of the bulk load, so the host's
 * event loop runs between them. Backends without that scan, and a store of format 1 (whose
 * records the head would cut), get {@link rebuildIndex}.
 */
export async function rebuildIndexFromScan(backend: Backend, location = 'the backend', pause: () => Promise<void> = nextTurn): Promise<Rebuilt> {
  const expected = backend.read((tx) => {
    try {
      return { totals: readTotals(tx, location), legacy: isLegacy(tx) }
    } catch (err) {
      throw asCorrupt(err, location)
    }
  })
  if (backend.scanHeads === undefined || (expected.totals === undefined && expected.legacy)) return backend.read((tx) => rebuildIndex(tx, location))
  const rebuild = new Rebuild(location, false, expected.totals?.count)
  const add = rebuild.add.bind(rebuild)
  // Benchmarks that turn the checks off read whole records as before (nothing to verify).
  const checked = benchIntegrityChecks.enabled
  try {
    for await (const chunk of backend.scanHeads('key', checked ? CHECKED_RECORD_HEAD : RECORD_HEAD)) {
      forEachHead(chunk, (bytes, keyAt, keyLength, headAt, headLength, failed) => add(bytes, keyAt, keyLength, bytes, headAt, headLength, checked && !failed))
      // Chunks the scan thread sent meanwhile are already queued: without this the loop would
      // take them one after another in microtasks and hold the event loop for the whole scan.
      await pause()
      if (rebuild.wantsFold) await runPaused(rebuild.fold(), pause)
    }
    const found = backend.read((tx) => rebuild.check(tx, expected.totals))
    return { ...found, index: await rebuild.build(pause) }
  } catch (err) {
    throw asCorrupt(err, location)
  }
}

/** {@link sortByKey} in one go (tests). */
export function runSortByKey(keys: readonly string[], n: number): KeyOrder {
  return runSync(sortByKey(keys, n))
}
