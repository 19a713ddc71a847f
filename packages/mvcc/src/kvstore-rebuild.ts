import assert from 'node:assert'
import type { Backend, ReadTx, ValueHead } from '@strata/backend'
import { forEachHead } from '@strata/backend/internal'
import { lowerBound } from './btree-count.js'
import { KeyIndex } from './key-index.js'
import { KV_HEADER_BYTES } from './kv.js'
import { REVISION_BYTES, type Revision, TOMBSTONE_REVISION_BYTES, decodeRevision, readU32, readU64 } from './revision.js'
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
 * The one pass over the key bucket (revision order) that rebuilds the index, fed one stored
 * pair at a time, as offsets into a buffer: a view of the backend's own (a synchronous scan) or
 * a chunk of a backend's head scan ({@link rebuildIndexFromScan}). It reads the fixed-layout
 * bytes (FORMAT.md) in place: per pair it allocates only what the index keeps (the Revision,
 * the key string once per key).
 */
class Rebuild {
  readonly #collector = new KeyCollector()
  readonly keyLeases = new Map<string, number>()
  lastMain = 1

  /** The revision key at kb[ko, ko + kLength); the stored KeyValue (at least its header and key) at vb[vo, vo + vLength). */
  add(kb: Uint8Array, ko: number, kLength: number, vb: Uint8Array, vo: number, vLength: number): void {
    // Checks as `if`s: node:assert's ok() costs ~40 ms over a 1M-key rebuild.
    if (!((kLength === REVISION_BYTES || kLength === TOMBSTONE_REVISION_BYTES) && kb[ko + 8] === 0x5f)) assert.fail('bad revision key')
    if (!(vLength >= KV_HEADER_BYTES && vb[vo] === 1)) assert.fail('bad stored KeyValue')
    const rev: Revision = { main: readU64(kb, ko), sub: readU64(kb, ko + 9) }
    if (rev.main < this.lastMain && this.lastMain !== 1) assert.fail('key bucket out of revision order')
    this.lastMain = rev.main
    const keyLength = readU32(vb, vo + 1)
    if (KV_HEADER_BYTES + keyLength > vLength) assert.fail('stored KeyValue shorter than its key')
    const key = latin1Slice.call(vb, vo + KV_HEADER_BYTES, vo + KV_HEADER_BYTES + keyLength)
    const ki = this.#collector.get(key)
    if (kLength === TOMBSTONE_REVISION_BYTES) {
      // The tombstone kept at a compaction revision may be all that is left of a key.
      if (ki.isEmpty()) ki.restoreTombstone(rev)
      else ki.tombstone(rev)
      this.keyLeases.delete(key)
      return
    }
    // The first surviving put of a generation takes created/version from the stored value:
    // older revisions of the generation may have been compacted away.
    if (!ki.aliveAt(Number.MAX_SAFE_INTEGER)) {
      const created = readU64(vb, vo + 5)
      ki.restorePut(created === rev.main ? rev : { main: created, sub: 0 }, rev, readU64(vb, vo + 21))
    } else {
      ki.put(rev)
    }
    const lease = readU64(vb, vo + 29)
    if (lease !== 0) this.keyLeases.set(key, lease)
    else if (this.keyLeases.size > 0) this.keyLeases.delete(key)
  }

  /** The index and what the meta bucket records, once every pair was added. */
  finish(tx: ReadTx): Rebuilt {
    return {
      index: this.#collector.toTree(this.lastMain),
      lastMain: this.lastMain,
      finishedCompactRev: metaRevision(tx, FINISHED_COMPACT_KEY),
      scheduledCompactRev: metaRevision(tx, SCHEDULED_COMPACT_KEY),
      keyLeases: this.keyLeases,
    }
  }
}

/** Rebuilds the index in one synchronous pass over the key bucket, then bulk-loads the B+ tree in O(n). */
export function rebuildIndex(tx: ReadTx): Rebuilt {
  const rebuild = new Rebuild()
  // Views suffice: add() keeps nothing of k or v but what it decodes (a string, numbers).
  const scan = tx.forEachView ?? tx.forEach
  scan.call(tx, 'key', FROM_START, undefined, (k, v) => rebuild.add(k, 0, k.length, v, 0, v.length))
  return rebuild.finish(tx)
}

/** What of a stored KeyValue the rebuild reads: the header, and the key whose length is at byte 1. */
const KEY_VALUE_HEAD: ValueHead = { fixed: KV_HEADER_BYTES, lengthAt: 1 }

/**
 * The same rebuild with the key bucket read through {@link Backend.scanHeads}, which reads a
 * big bucket on a thread of its own, so LMDB's reading overlaps the index build: a 1M-key
 * restart takes 0.69–0.92 of the one-thread pass (README). Backends without that scan get
 * {@link rebuildIndex}.
 */
export async function rebuildIndexFromScan(backend: Backend): Promise<Rebuilt> {
  if (backend.scanHeads === undefined) return backend.read((tx) => rebuildIndex(tx))
  const rebuild = new Rebuild()
  const add = rebuild.add.bind(rebuild)
  for await (const chunk of backend.scanHeads('key', KEY_VALUE_HEAD)) {
    forEachHead(chunk, (bytes, keyAt, keyLength, headAt, headLength) => add(bytes, keyAt, keyLength, bytes, headAt, headLength))
  }
  return backend.read((tx) => rebuild.finish(tx))
}
