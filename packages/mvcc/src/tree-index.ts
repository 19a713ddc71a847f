import assert from 'node:assert'
import btreeModule from 'sorted-btree'
import { bulkLoad } from 'sorted-btree/extended/bulkLoad.js'
import { countBelow, supportsRank } from './btree-count.js'
import { KeyIndex, type KeyIndexGet } from './key-index.js'
import type { Revision } from './revision.js'

// sorted-btree is CommonJS with `exports.default = BTree`: Node's ESM loader hands over the
// whole `module.exports` as the default import (the class is its `default`), while a bundler
// honouring `__esModule` hands over the class itself; both are accepted. No declaration this
// file exports mentions the tree's type: a default import's type differs between NodeNext and
// bundler resolution, and the emitted .d.ts must type-check for consumers of either.
type BTreeClass = typeof btreeModule.default
const BTree: BTreeClass = typeof btreeModule === 'function' ? (btreeModule as unknown as BTreeClass) : btreeModule.default
type Tree = InstanceType<typeof BTree<string, KeyIndex>>
type KeySet = InstanceType<typeof BTree<string, undefined>>

/** Node size of the B+ tree: wide nodes make range walks mostly sequential array reads. */
const MAX_NODE_SIZE = 64
/** Greater than every key: keys are latin1 strings, whose chars are all <= U+00FF. */
const INFINITY_KEY = '\u0100'

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** What {@link TreeIndex.revisions} returns. */
export interface IndexRevisions {
  /** The keys found, in order; at most `limit` of them. */
  readonly keys: string[]
  /** The revision to read for each key in `keys`. */
  readonly revs: Revision[]
  /** Every key alive in the range at the revision, however many `limit` let through. */
  readonly total: number
}

/**
 * The in-memory index from key to {@link KeyIndex} (etcd's treeIndex), on a B+ tree.
 *
 * Keys are latin1 strings (one char per byte) so the tree compares them with the engine's
 * string comparison, which then equals bytewise order. A range is `[key, end)`; `end`
 * undefined means the single key `key`, and `end === ''` means every key from `key` on.
 */
export class TreeIndex {
  /** Invariant: no KeyIndex in the tree is empty (compaction removes those). */
  #tree: Tree
  /**
   * Invariant: exactly the keys alive now (last generation non-empty). Its B+ tree keeps
   * subtree sizes, so counting the keys alive now in a range is a rank query: O(log n).
   */
  #live: KeySet
  /** Invariant: >= every revision recorded; at or above it, "alive at atRev" = "alive now". */
  #maxRev = 0

  /** An empty index. */
  constructor() {
    this.#tree = new BTree<string, KeyIndex>(undefined, compareKeys, MAX_NODE_SIZE)
    this.#live = new BTree<string, undefined>(undefined, compareKeys, MAX_NODE_SIZE)
  }

  /**
   * Builds an index from key indexes sorted by key in strictly ascending order in O(n), the
   * last step of the start-up rebuild; `maxRev` is the newest revision among them.
   */
  static fromSorted(keys: string[], indexes: KeyIndex[], maxRev = Number.MAX_SAFE_INTEGER): TreeIndex {
    assert(keys.length === indexes.length)
    const liveKeys = keys.filter((_k, i) => indexes[i]!.aliveAt(Number.MAX_SAFE_INTEGER))
    const live = bulkLoad(liveKeys, new Array<undefined>(liveKeys.length).fill(undefined), MAX_NODE_SIZE, compareKeys) as KeySet
    const index = new TreeIndex()
    index.#tree = bulkLoad(keys, indexes, MAX_NODE_SIZE, compareKeys) as Tree
    index.#live = live
    index.#maxRev = maxRev
    return index
  }

  #noteRevision(ki: KeyIndex, rev: Revision): void {
    if (rev.main > this.#maxRev) this.#maxRev = rev.main
    if (ki.aliveAt(Number.MAX_SAFE_INTEGER)) this.#live.set(ki.key, undefined)
    else this.#live.delete(ki.key)
  }

  /** Number of keys with history (alive or not). */
  get size(): number {
    return this.#tree.size
  }

  keyIndex(key: string): KeyIndex | undefined {
    return this.#tree.get(key)
  }

  get(key: string, atRev: number): KeyIndexGet | undefined {
    return this.#tree.get(key)?.get(atRev)
  }

  put(key: string, rev: Revision): void {
    let ki = this.#tree.get(key)
    if (ki === undefined) {
      ki = new KeyIndex(key)
      this.#tree.set(key, ki)
    }
    const wasAlive = ki.aliveAt(Number.MAX_SAFE_INTEGER)
    ki.put(rev)
    if (wasAlive) this.#maxRev = Math.max(this.#maxRev, rev.main)
    else this.#noteRevision(ki, rev)
  }

  /** Deletes `key` at `rev`; the key must be alive (asserted). */
  tombstone(key: string, rev: Revision): void {
    const ki = this.#tree.get(key)
    assert(ki !== undefined, 'tombstone of unknown key')
    ki.tombstone(rev)
    this.#noteRevision(ki, rev)
  }

  /** Takes back the newest change of `key` (see {@link KeyIndex.revert}); drops a key left empty. */
  revert(key: string, rev: Revision, tombstone: boolean): void {
    const ki = this.#tree.get(key)
    assert(ki !== undefined, 'revert of an unknown key')
    ki.revert(rev, tombstone)
    this.#noteRevision(ki, rev)
    if (ki.isEmpty()) this.#tree.delete(key)
  }

  /** Calls `fn` for each key index in the range, in key order, until it returns false. */
  visit(key: string, end: string | undefined, fn: (ki: KeyIndex) => boolean | void): void {
    if (end === undefined) {
      const ki = this.#tree.get(key)
      if (ki !== undefined) fn(ki)
      return
    }
    const high = end === '' ? INFINITY_KEY : end
    if (high <= key) return
    const stop = { break: true }
    const walk = this.#tree.forRange as (low: string, high: string, inc: boolean, f: (k: string, v: KeyIndex) => { break: boolean } | void) => unknown
    walk.call(this.#tree, key, high, false, (_k, ki) => (fn(ki) === false ? stop : undefined))
  }

  /**
   * The revisions of the keys alive at `atRev` in the range, at most `limit` of them (0: no
   * limit), and the total alive. Only `limit` revisions are allocated; when `withTotal` is
   * false the walk stops at the limit and `total` is the number returned.
   */
  revisions(key: string, end: string | undefined, atRev: number, limit = 0, withTotal = true): IndexRevisions {
    assert(Number.isSafeInteger(limit) && limit >= 0)
    const keys: string[] = []
    const revs: Revision[] = []
    // With a limit at the newest revision, the total comes from the rank queries and the walk
    // stops at the limit; otherwise the walk goes on past the limit, counting only.
    const totalByRank = limit > 0 && withTotal && end !== undefined && atRev >= this.#maxRev && supportsRank(this.#live)
    let total = 0
    this.visit(key, end, (ki) => {
      const rev = ki.revisionAt(atRev)
      if (rev === undefined) return true
      if (limit !== 0 && revs.length >= limit) {
        if (!withTotal || totalByRank) return false
        total++
        return true
      }
      total++
      keys.push(ki.key)
      revs.push(rev)
      return true
    })
    if (totalByRank) total = this.countRevisions(key, end, atRev)
    return { keys, revs, total }
  }

  /**
   * The number of keys alive at `atRev` in the range; allocates nothing per key. At or above
   * the newest revision it is two rank queries on the live-key set, O(log n); below, a walk
   * over the range's key indexes.
   */
  countRevisions(key: string, end: string | undefined, atRev: number): number {
    if (end === undefined) return this.#tree.get(key)?.aliveAt(atRev) === true ? 1 : 0
    const high = end === '' ? INFINITY_KEY : end
    if (high <= key) return 0
    if (atRev >= this.#maxRev && supportsRank(this.#live)) return countBelow(this.#live, high) - countBelow(this.#live, key)
    return this.walkCount(key, end, atRev)
  }

  /** {@link countRevisions} by walking every key index in the range (the fallback, and tests' oracle). */
  walkCount(key: string, end: string, atRev: number): number {
    const high = end === '' ? INFINITY_KEY : end
    if (high <= key) return 0
    let n = 0
    this.#tree.forRange(key, high, false, (_k, ki) => {
      if (ki.aliveAt(atRev)) n++
    })
    return n
  }

  /** Revisions with main >= `rev` of every key in the range, sorted (the watch catch-up set). */
  rangeSince(key: string, end: string | undefined, rev: number): Revision[] {
    const out: Revision[] = []
    this.visit(key, end, (ki) => {
      for (const r of ki.since(rev)) out.push(r)
    })
    return out.sort((a, b) => (a.main !== b.main ? a.main - b.main : a.sub - b.sub))
  }

  /**
   * Compacts every key at `rev` and removes keys left with no history. Returns the set of
   * revisions (by `revisionId`) the backend must keep.
   */
  compact(rev: number): Set<string> {
    const available = new Set<string>()
    const empty: string[] = []
    this.#tree.forEach((ki, key) => {
      ki.compact(rev, available)
      if (ki.isEmpty()) empty.push(key)
    })
    for (const key of empty) this.#tree.delete(key)
    return available
  }

  /** The revisions compaction at `rev` would keep, leaving the index unchanged (for hashing). */
  keep(rev: number): Set<string> {
    const available = new Set<string>()
    this.#tree.forEach((ki) => ki.keep(rev, available))
    return available
  }

  /** Checks the trees' structure and this index's invariants (tests only; O(n)). */
  checkValid(): void {
    this.#tree.checkValid()
    this.#live.checkValid()
    let alive = 0
    this.#tree.forEach((ki, key) => {
      if (ki.aliveAt(Number.MAX_SAFE_INTEGER) !== this.#live.has(key)) assert.fail(`live set disagrees on ${key}`)
      if (ki.modified.main > this.#maxRev) assert.fail(`maxRev below ${key}'s revision`)
      if (ki.aliveAt(Number.MAX_SAFE_INTEGER)) alive++
    })
    assert.equal(alive, this.#live.size)
    this.#tree.forEach((ki, key) => {
      if (ki.key !== key || ki.isEmpty()) assert.fail(`bad key index ${key}`)
    })
  }
}
