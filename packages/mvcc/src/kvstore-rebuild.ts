import type { Backend, ReadTx, ValueHead } from '@strata/backend'
import { forEachHead } from '@strata/backend/internal'
import { StrataError } from '@strata/seams'
import { MvccError } from './errors.js'
import { Totals, benchIntegrityChecks, corruptError, describeRevisionKey, readTotals } from './integrity.js'
import { KeyIndex } from './key-index.js'
import { BODY_LENGTH_AT, KV_HEADER_BYTES, LEGACY_FORMAT_VERSION, checkRecord, describeRecordKey, storedChecksum } from './kv.js'
import { type Revision, TOMBSTONE_REVISION_BYTES, decodeRevision, readU32, readU64 } from './revision.js'
import { CompactKeys, type Entry, SortedBlocks, type Steps, TreeIndex, runPaused, runSync } from './tree-index.js'

const encoder = new TextEncoder()
export const SCHEDULED_COMPACT_KEY = encoder.encode('scheduledCompactRev')
export const FINISHED_COMPACT_KEY = encoder.encode('finishedCompactRev')
const FROM_START = new Uint8Array(0)
const TWO_32 = 2 ** 32
/** The default pause of {@link rebuildIndexFromScan}: the next turn of the event loop, after pending I/O. */
const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))

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


/**
 * Finds or adds the entry of each key met by the scan, without a map in the common case.
 * Keys that first appear in increasing order (a store loaded in key order) are appended to
 * sorted arrays, which are already the bulk load's input. A key met below the last sorted key
 * is looked up in a map of the keys met that way before; only on a miss is it binary-searched
 * (once per key: found, it joins the map) or, when absent, added as a side key merged in at the
 * end. So a key rewritten many times costs one search, then a map lookup each time, and the
 * map holds only keys met out of order. A key is added as a slot of {@link CompactKeys} (its
 * first revision is a put of version 1 created there: no object but its string) and becomes a
 * KeyIndex when it is met again or when its first revision is anything else.
 */
/** Side keys sorted, or merged, between two pauses of the rebuild's last step. */
const SORT_SLICE = 1 << 15

/** What {@link KeyCollector.find} returns for a key not met before. */
const NEW_KEY = Number.MIN_SAFE_INTEGER

class KeyCollector {
  /** Invariant: the keys met in increasing order, and their entries. */
  readonly #sorted = new SortedBlocks<Entry>()
  /** Invariant: the keys that first appeared below the last sorted key, in that order; disjoint from #sorted. */
  readonly #sideKeys: string[] = []
  /** Invariant: #sideEntries[j] is the entry of #sideKeys[j]. */
  readonly #sideEntries: Entry[] = []
  /** Invariant: every side key, and the sorted keys met again below the last sorted key, with their position (see {@link find}). */
  readonly #revisited = new Map<string, number>()
  readonly slots: CompactKeys

  /** `records`: the number of records the scan will bring, when known (slots reserved for as many keys). */
  constructor(records: number | undefined) {
    this.slots = new CompactKeys(records)
  }

  /**
   * The position of `key`: i >= 0 for the sorted key at i, -(j + 1) for the side key
   * #sideKeys[j], or {@link NEW_KEY} when the key is new — then {@link add} must be called with
   * its first entry. One map lookup per key met out of order; a binary search only the first time.
   */
  find(key: string): number {
    const sorted = this.#sorted
    const last = sorted.last
    if (last === undefined || key > last) return NEW_KEY
    if (key === last) return sorted.size - 1
    const hit = this.#revisited.get(key)
    if (hit !== undefined) return hit
    const i = sorted.lowerBound(key)
    if (i === sorted.size || sorted.keyAt(i) !== key) return NEW_KEY
    this.#revisited.set(key, i)
    return i
  }

  /** Adds the new `key` (find returned NEW_KEY) with its first entry. */
  add(key: string, e: Entry): void {
    const last = this.#sorted.last
    if (last === undefined || key > last) {
      this.#sorted.push(key, e)
      return
    }
    this.#sideKeys.push(key)
    this.#sideEntries.push(e)
    this.#revisited.set(key, -this.#sideKeys.length)
  }

  /** The KeyIndex at `at` (a position find returned), made of a slot (released) when the key is held as one. */
  keyIndex(key: string, at: number): KeyIndex {
    const e = at >= 0 ? this.#sorted.valueAt(at) : this.#sideEntries[-at - 1]!
    if (typeof e !== 'number') return e
    const ki = this.slots.keyIndex(key, e)
    this.slots.release(e)
    if (at >= 0) this.#sorted.setValue(at, ki)
    else this.#sideEntries[-at - 1] = ki
    return ki
  }

  /**
   * The collected keys and entries in key order: when keys came out of order, the side keys
   * sorted and merged in, as steps that may pause every ~{@link SORT_SLICE} keys (a merge sort:
   * runs of SORT_SLICE sorted each, then merged pairwise), so no step holds the event loop for
   * long however many keys came out of order (a store written in random key order: nearly all).
   */
  *sorted(): Steps<SortedBlocks<Entry>> {
    const sideKeys = this.#sideKeys
    const main = this.#sorted
    if (sideKeys.length === 0) return main
    const n = sideKeys.length
    const less = (x: number, y: number): boolean => sideKeys[x]! < sideKeys[y]!
    let order = new Int32Array(n)
    for (let j = 0; j < n; j++) order[j] = j
    for (let from = 0; from < n; from += SORT_SLICE) {
      // Keys are distinct: no tie to break.
      order.subarray(from, Math.min(n, from + SORT_SLICE)).sort((x, y) => (less(x, y) ? -1 : 1))
      yield
    }
    let other = new Int32Array(n)
    let done = 0
    for (let width = SORT_SLICE; width < n; width *= 2) {
      for (let lo = 0; lo < n; lo += 2 * width) {
        const mid = Math.min(n, lo + width)
        const hi = Math.min(n, lo + 2 * width)
        let i = lo
        let j = mid
        let k = lo
        while (i < mid && j < hi) {
          other[k++] = less(order[j]!, order[i]!) ? order[j++]! : order[i++]!
          if (++done % SORT_SLICE === 0) yield
        }
        while (i < mid) other[k++] = order[i++]!
        while (j < hi) other[k++] = order[j++]!
      }
      const swap = order
      order = other
      other = swap
    }
    const merged = new SortedBlocks<Entry>()
    let i = 0
    for (let o = 0; o < n; o++) {
      const j = order[o]!
      const key = sideKeys[j]!
      for (; i < main.size && main.keyAt(i) < key; i++) merged.push(main.keyAt(i), main.valueAt(i))
      merged.push(key, this.#sideEntries[j]!)
      if (o % SORT_SLICE === SORT_SLICE - 1) yield
    }
    for (; i < main.size; i++) merged.push(main.keyAt(i), main.valueAt(i))
    return merged
  }
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

  /** The revision key at kb[ko, ko + kLength); the whole stored record at vb[vo, vo + vLength). */
  add(kb: Uint8Array, ko: number, kLength: number, vb: Uint8Array, vo: number, vLength: number): void {
    // Checks as `if`s: node:assert's ok() costs ~40 ms over a 1M-key rebuild.
    let layout = LAYOUT_2
    if (this.#legacy) {
      layout = LAYOUT_1
      if (!(vLength >= LAYOUT_1.header && vb[vo] === LEGACY_FORMAT_VERSION && (kLength === 17 || kLength === 18) && kb[ko + 8] === 0x5f)) {
        throw this.#corrupt('a record of format 2, or a damaged one, in a store without record totals', kb, ko, kLength, vb, vo, vLength)
      }
      this.totals.add(0)
    } else {
      const bad = checkRecord(kb, ko, kLength, vb, vo, vLength)
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
    const key = latin1Slice.call(vb, vo + header, vo + header + keyLength)
    const collector = this.#collector
    const at = collector.find(key)
    const tombstone = kLength === TOMBSTONE_REVISION_BYTES
    const lease = tombstone ? 0 : readU64(vb, vo + layout.leaseAt)
    if (lease !== 0) this.keyLeases.set(key, lease)
    else if (this.keyLeases.size > 0) this.keyLeases.delete(key)
    if (at === NEW_KEY && !tombstone) {
      // A key met for the first time with a put that created it at version 1: a slot, no object.
      const created = readU64(vb, vo + layout.createdAt)
      const version = readU64(vb, vo + layout.versionAt)
      if (created === main && version === 1) {
        collector.add(key, collector.slots.alloc(main, sub))
        return
      }
    }
    const rev: Revision = { main, sub }
    if (at === NEW_KEY) {
      const ki = new KeyIndex(key)
      // The tombstone kept at a compaction revision may be all that is left of a key; a put
      // whose older revisions were compacted away takes created/version from the stored value.
      if (tombstone) ki.restoreTombstone(rev)
      else {
        const created = readU64(vb, vo + layout.createdAt)
        ki.restorePut(created === main ? rev : { main: created, sub: 0 }, rev, readU64(vb, vo + layout.versionAt))
      }
      collector.add(key, ki)
      return
    }
    const ki = collector.keyIndex(key, at)
    if (tombstone) {
      ki.tombstone(rev)
      return
    }
    // The first surviving put of a generation takes created/version from the stored value:
    // older revisions of the generation may have been compacted away.
    if (!ki.aliveAt(Number.MAX_SAFE_INTEGER)) {
      const created = readU64(vb, vo + layout.createdAt)
      ki.restorePut(created === rev.main ? rev : { main: created, sub: 0 }, rev, readU64(vb, vo + layout.versionAt))
    } else {
      ki.put(rev)
    }
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
    scan.call(tx, 'key', FROM_START, undefined, (k, v) => rebuild.add(k, 0, k.length, v, 0, v.length))
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
  try {
    for await (const chunk of backend.scanHeads('key', RECORD_HEAD)) {
      forEachHead(chunk, (bytes, keyAt, keyLength, headAt, headLength) => add(bytes, keyAt, keyLength, bytes, headAt, headLength))
      // Chunks the scan thread sent meanwhile are already queued: without this the loop would
      // take them one after another in microtasks and hold the event loop for the whole scan.
      await pause()
    }
    const found = backend.read((tx) => rebuild.check(tx, expected.totals))
    return { ...found, index: await rebuild.build(pause) }
  } catch (err) {
    throw asCorrupt(err, location)
  }
}
