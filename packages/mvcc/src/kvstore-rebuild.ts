import assert from 'node:assert'
import type { ReadTx } from '@strata/backend'
import { KeyIndex } from './key-index.js'
import { storedKeyString, storedMeta } from './kv.js'
import { decodeRevision, isTombstoneKey } from './revision.js'
import { TreeIndex } from './tree-index.js'

const encoder = new TextEncoder()
export const SCHEDULED_COMPACT_KEY = encoder.encode('scheduledCompactRev')
export const FINISHED_COMPACT_KEY = encoder.encode('finishedCompactRev')
const FROM_START = new Uint8Array(0)
const NOW = Number.MAX_SAFE_INTEGER

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

/**
 * Rebuilds the index in one sequential pass over the key bucket (revision order). Keys go into
 * a Map first; the B+ tree is then bulk-loaded in O(n), after a sort only when keys were not
 * first written in key order.
 */
export function rebuildIndex(tx: ReadTx): Rebuilt {
  const byKey = new Map<string, KeyIndex>()
  const keyLeases = new Map<string, number>()
  const order: string[] = []
  let sorted = true
  let lastMain = 1
  tx.forEach('key', FROM_START, undefined, (k, v) => {
    const rev = decodeRevision(k)
    assert(rev.main >= lastMain || lastMain === 1, 'key bucket out of revision order')
    lastMain = rev.main
    const key = storedKeyString(v)
    let ki = byKey.get(key)
    if (ki === undefined) {
      ki = new KeyIndex(key)
      byKey.set(key, ki)
      if (order.length > 0 && order[order.length - 1]! >= key) sorted = false
      order.push(key)
    }
    if (isTombstoneKey(k)) {
      // The tombstone kept at a compaction revision may be all that is left of a key.
      if (ki.isEmpty()) ki.restoreTombstone(rev)
      else ki.tombstone(rev)
      keyLeases.delete(key)
      return
    }
    const meta = storedMeta(v)
    // The first surviving put of a generation takes created/version from the stored value:
    // older revisions of the generation may have been compacted away.
    if (!ki.aliveAt(NOW)) ki.restorePut({ main: meta.createRevision, sub: 0 }, rev, meta.version)
    else ki.put(rev)
    if (meta.lease === 0) keyLeases.delete(key)
    else keyLeases.set(key, meta.lease)
  })
  if (!sorted) order.sort()
  const indexes = order.map((key) => byKey.get(key)!)
  return {
    index: TreeIndex.fromSorted(order, indexes),
    lastMain,
    finishedCompactRev: metaRevision(tx, FINISHED_COMPACT_KEY),
    scheduledCompactRev: metaRevision(tx, SCHEDULED_COMPACT_KEY),
    keyLeases,
  }
}
