import assert from 'node:assert'
import type { ReadTx } from '@strata/backend'
import { lowerBound } from './btree-count.js'
import { KeyIndex } from './key-index.js'
import { KV_HEADER_BYTES } from './kv.js'
import { REVISION_BYTES, type Revision, TOMBSTONE_REVISION_BYTES, decodeRevision } from './revision.js'
import { TreeIndex } from './tree-index.js'

const encoder = new TextEncoder()
export const SCHEDULED_COMPACT_KEY = encoder.encode('scheduledCompactRev')
export const FINISHED_COMPACT_KEY = encoder.encode('finishedCompactRev')
const FROM_START = new Uint8Array(0)

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
}

function metaRevision(tx: ReadTx, key: Uint8Array): number {
  const bytes = tx.get('meta', key)
  return bytes === undefined ? 0 : decodeRevision(bytes).main
}

// Buffer's latin1 decoder works on any Uint8Array and, unlike Buffer.from(...).toString(),
// allocates nothing but the string: the rebuild calls it once per stored revision.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
}

function u64(b: Uint8Array, o: number): number {
  const hi = u32(b, o)
  assert(hi < 0x200000, 'stored u64 above 2^53')
  return hi * 0x100000000 + u32(b, o + 4)
}

/**
 * Finds or adds the KeyIndex of each key met by the scan, without a map in the common case.
 * Keys that first appear in increasing order (a store loaded in key order) are appended to
 * sorted arrays, which are already the bulk load's input. A key met below the last sorted key
 * is looked up in a map of the keys met that way before; only on a miss is it binary-searched
 * (once per key: found, it joins the map) or, when absent, added as a side key merged in at the
 * end. So a key rewritten many times costs one search, then a map lookup each time, and the
 * map holds only keys met out of order.
 */
class KeyCollector {
  /** Invariant: strictly increasing. */
  readonly #keys: string[] = []
  readonly #indexes: KeyIndex[] = []
  /** Invariant: keys that first appeared below the last sorted key; disjoint from #keys. */
  readonly #side = new Map<string, KeyIndex>()
  /** Invariant: every key of #side, and the keys of #keys met again below the last sorted key. */
  readonly #revisited = new Map<string, KeyIndex>()

  get(key: string): KeyIndex {
    const keys = this.#keys
    const n = keys.length
    if (n === 0 || key > keys[n - 1]!) return this.#append(key)
    if (key === keys[n - 1]) return this.#indexes[n - 1]!
    const hit = this.#revisited.get(key)
    if (hit !== undefined) return hit
    const i = lowerBound(keys, key)
    let ki: KeyIndex
    if (keys[i] === key) ki = this.#indexes[i]!
    else {
      ki = new KeyIndex(key)
      this.#side.set(key, ki)
    }
    this.#revisited.set(key, ki)
    return ki
  }

  #append(key: string): KeyIndex {
    const ki = new KeyIndex(key)
    this.#keys.push(key)
    this.#indexes.push(ki)
    return ki
  }

  /** The collected key indexes as a tree (a linear merge of the side keys when there are any). */
  toTree(maxRev: number): TreeIndex {
    if (this.#side.size === 0) return TreeIndex.fromSorted(this.#keys, this.#indexes, maxRev)
    const side = [...this.#side.keys()].sort()
    const keys: string[] = []
    const indexes: KeyIndex[] = []
    let i = 0
    for (const key of side) {
      while (i < this.#keys.length && this.#keys[i]! < key) {
        keys.push(this.#keys[i]!)
        indexes.push(this.#indexes[i++]!)
      }
      keys.push(key)
      indexes.push(this.#side.get(key)!)
    }
    for (; i < this.#keys.length; i++) {
      keys.push(this.#keys[i]!)
      indexes.push(this.#indexes[i]!)
    }
    return TreeIndex.fromSorted(keys, indexes, maxRev)
  }
}

/**
 * Rebuilds the index in one sequential pass over the key bucket (revision order), then
 * bulk-loads the B+ tree in O(n). The loop reads the fixed-layout bytes (FORMAT.md) in place:
 * per entry it allocates only what the index keeps (the Revision, the key string once per key).
 */
export function rebuildIndex(tx: ReadTx): Rebuilt {
  const collector = new KeyCollector()
  const keyLeases = new Map<string, number>()
  let lastMain = 1
  // Views suffice: the loop keeps nothing of k or v but what it decodes (a string, numbers).
  const scan = tx.forEachView ?? tx.forEach
  scan.call(tx, 'key', FROM_START, undefined, (k, v) => {
    assert((k.length === REVISION_BYTES || k.length === TOMBSTONE_REVISION_BYTES) && k[8] === 0x5f, 'bad revision key')
    assert(v.length >= KV_HEADER_BYTES && v[0] === 1, 'bad stored KeyValue')
    const rev: Revision = { main: u64(k, 0), sub: u64(k, 9) }
    assert(rev.main >= lastMain || lastMain === 1, 'key bucket out of revision order')
    lastMain = rev.main
    const keyLength = u32(v, 1)
    const key = latin1Slice.call(v, KV_HEADER_BYTES, KV_HEADER_BYTES + keyLength)
    const ki = collector.get(key)
    if (k.length === TOMBSTONE_REVISION_BYTES) {
      // The tombstone kept at a compaction revision may be all that is left of a key.
      if (ki.isEmpty()) ki.restoreTombstone(rev)
      else ki.tombstone(rev)
      keyLeases.delete(key)
      return
    }
    // The first surviving put of a generation takes created/version from the stored value:
    // older revisions of the generation may have been compacted away.
    if (!ki.aliveAt(Number.MAX_SAFE_INTEGER)) {
      const created = u64(v, 5)
      ki.restorePut(created === rev.main ? rev : { main: created, sub: 0 }, rev, u64(v, 21))
    } else {
      ki.put(rev)
    }
    const lease = u64(v, 29)
    if (lease !== 0) keyLeases.set(key, lease)
    else if (keyLeases.size > 0) keyLeases.delete(key)
  })
  return {
    index: collector.toTree(lastMain),
    lastMain,
    finishedCompactRev: metaRevision(tx, FINISHED_COMPACT_KEY),
    scheduledCompactRev: metaRevision(tx, SCHEDULED_COMPACT_KEY),
    keyLeases,
  }
}
