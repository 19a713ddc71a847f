import assert from 'node:assert'
import btreeModule from 'sorted-btree'
import { countBelow, lowerBound, supportsRank } from './btree-count.js'
import { KeyIndex, type KeyIndexGet, type KeyState } from './key-index.js'
import { type Revision, revisionId } from './revision.js'

// sorted-btree is CommonJS with `exports.default = BTree`: Node's ESM loader hands over the
// whole `module.exports` as the default import (the class is its `default`), while a bundler
// honouring `__esModule` hands over the class itself; both are accepted. No declaration this
// file exports mentions the tree's type: a default import's type differs between NodeNext and
// bundler resolution, and the emitted .d.ts must type-check for consumers of either.
type BTreeClass = typeof btreeModule.default
const BTree: BTreeClass = typeof btreeModule === 'function' ? (btreeModule as unknown as BTreeClass) : btreeModule.default
type Tree = InstanceType<typeof BTree<string, Entry>>
type KeySet = InstanceType<typeof BTree<string, undefined>>

/**
 * sorted-btree's node classes, which its `bulkLoad` uses and its typings leave out (`@internal`):
 * the chunked bulk load below builds the same nodes, a slice of leaves at a time. Checked at
 * load: a version without them fails here, at once, not in a restart.
 */
interface NodeClasses {
  BNode: new (keys: string[], values?: unknown[]) => BuiltNode
  BNodeInternal: new (children: BuiltNode[], size: number) => BuiltNode
}
/** A node of the tree as {@link TreeIndex.#find} walks it: a leaf has values, an internal node children (keys[i]: the greatest key under children[i]). */
interface TreeNode {
  readonly keys: string[]
  readonly values?: unknown[]
  readonly children?: TreeNode[]
}
interface BuiltNode {
  readonly keys: string[]
  readonly children?: BuiltNode[]
  size(): number
  takeFromLeft(lhs: BuiltNode): void
}
const Nodes = btreeModule as unknown as NodeClasses & { default?: NodeClasses }
const { BNode, BNodeInternal } = typeof Nodes.BNode === 'function' ? Nodes : (Nodes.default as NodeClasses)
assert(typeof BNode === 'function' && typeof BNodeInternal === 'function', 'sorted-btree without its BNode/BNodeInternal classes (a version other than 2.1.0?)')

/**
 * What the tree holds for a key: a {@link KeyIndex}, or — for a key whose whole history is one
 * put at (main, sub), created there, version 1, alive — the number of its slot in
 * {@link CompactKeys}, which keeps the revision in two arrays of numbers. Every key of a fresh
 * load, and most keys of a store whose keys are put once, stay slots: no object per key but
 * its string, so a 1M-key rebuild allocates ~1M objects fewer than with a KeyIndex (and its
 * Revision) each, and the index holds ~72 bytes per such key instead of ~260.
 */
export type Entry = KeyIndex | number

/** Most slots {@link CompactKeys} reserves up front (64 MiB of revisions); beyond, it doubles. */
const MAX_RESERVED_SLOTS = 1 << 22

/**
 * The revisions of the keys held as slots: (main[slot], sub[slot]), in two Float64Arrays (off
 * the JavaScript heap: nothing for the garbage collector to trace or copy; exact up to 2^53,
 * as revisions are) that double when full; slots are reused after their key leaves the state.
 */
export class CompactKeys {
  /** Invariant: main.length === sub.length; a free slot's entries are stale. */
  main: Float64Array
  sub: Float64Array
  /** Invariant: slots in [0, #next) are in use or in #free. */
  #next = 0
  /** Invariant: slots not held by any key. */
  readonly #free: number[] = []

  /**
   * `capacity`: the slots to reserve at once (the rebuild passes the number of stored records,
   * at most {@link MAX_RESERVED_SLOTS}, and trims what it did not use): doubling from a small
   * array allocates, zeroes and copies about twice the final size.
   */
  constructor(capacity = 1024) {
    const n = Math.max(16, Math.min(capacity, MAX_RESERVED_SLOTS))
    this.main = new Float64Array(n)
    this.sub = new Float64Array(n)
  }

  /** Gives back the reserved slots never used (after a bulk load), when they are a quarter or more. */
  trim(): void {
    if (this.#next > (this.main.length * 3) / 4) return
    const n = Math.max(16, this.#next)
    this.main = this.main.slice(0, n)
    this.sub = this.sub.slice(0, n)
  }

  /** A slot holding the revision (main, sub). */
  alloc(main: number, sub: number): number {
    let slot = this.#free.pop()
    if (slot === undefined) {
      slot = this.#next++
      if (slot === this.main.length) this.#grow()
    }
    this.main[slot] = main
    this.sub[slot] = sub
    return slot
  }

  /**
   * Appends `n` slots holding the revisions (main[i], sub[i]), i < n, and returns the first:
   * slot first + i holds revision i. A caller gives back with {@link release} those it does not keep.
   */
  adopt(main: Float64Array, sub: Float64Array, n: number): number {
    const first = this.#next
    while (first + n > this.main.length) this.#grow()
    this.main.set(main.subarray(0, n), first)
    this.sub.set(sub.subarray(0, n), first)
    this.#next += n
    return first
  }

  #grow(): void {
    const main = new Float64Array(this.main.length * 2)
    main.set(this.main)
    const sub = new Float64Array(this.sub.length * 2)
    sub.set(this.sub)
    this.main = main
    this.sub = sub
  }

  release(slot: number): void {
    this.#free.push(slot)
  }

  /** Slots in use (tests). */
  get used(): number {
    return this.#next - this.#free.length
  }

  /** The KeyIndex of the key at `slot` (a new object: for a history that grows, or for a caller). */
  keyIndex(key: string, slot: number): KeyIndex {
    const ki = new KeyIndex(key)
    const rev: Revision = { main: this.main[slot]!, sub: this.sub[slot]! }
    ki.restorePut(rev, rev, 1)
    return ki
  }
}


/** Node size of the B+ tree: wide nodes make range walks mostly sequential array reads. */
const MAX_NODE_SIZE = 64
/** Keys per leaf of a bulk load (sorted-btree's load factor, 0.8 of the node size). */
const LEAF_TARGET = Math.ceil(MAX_NODE_SIZE * 0.8)
/** Leaves (blocks) a bulk load builds or reads between two pauses (~100,000 keys: a few ms). */
const LEAVES_PER_PAUSE = 2048
// A key set's leaves share one array of undefined values, which sorted-btree lengthens to the
// node size before it first relies on it; leaves built here rely on it at once.
const sharedValues = (new BNode([]) as unknown as { values: unknown[] }).values
while (sharedValues.length < MAX_NODE_SIZE) sharedValues.push(undefined)
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

/** A bulk load as steps: it yields where it may pause; its return value is the result. */
export type Steps<T> = Generator<void, T, void>

export function runSync<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
  }
}

export async function runPaused<T>(steps: Steps<T>, pause: () => Promise<void>): Promise<T> {
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
    await pause()
  }
}

/**
 * Keys in strictly ascending order and their values, appended into blocks of
 * {@link LEAF_TARGET} keys that a bulk load makes the tree's leaves as they are (no copy, no
 * array of every key that grows by copying): what the start-up rebuild collects. Position i is
 * block ⌊i / LEAF_TARGET⌋, index i mod LEAF_TARGET. `withValues` false: a key set (no value arrays).
 */
export class SortedBlocks<V> {
  /** Invariant: every block but the last holds LEAF_TARGET keys; keys strictly ascending across blocks. */
  readonly keys: string[][] = []
  readonly values: V[][] = []
  readonly #withValues: boolean
  /** Invariant: the number of keys in the last block. */
  #fill = LEAF_TARGET
  #sealed = false
  size = 0

  constructor(withValues = true) {
    this.#withValues = withValues
  }

  /** The greatest key, or undefined when empty. */
  get last(): string | undefined {
    const n = this.keys.length
    return n === 0 ? undefined : this.keys[n - 1]![this.#fill - 1]
  }

  /** Appends `key`, which must be greater than {@link last} (the caller's invariant). */
  push(key: string, value: V): void {
    // An if, not node:assert's ok(): this runs once per key of a rebuild.
    if (this.#sealed) assert.fail('SortedBlocks.push after seal')
    if (this.#fill === LEAF_TARGET) {
      this.keys.push(new Array<string>(LEAF_TARGET))
      if (this.#withValues) this.values.push(new Array<V>(LEAF_TARGET))
      this.#fill = 0
    }
    const b = this.keys.length - 1
    this.keys[b]![this.#fill] = key
    if (this.#withValues) this.values[b]![this.#fill] = value
    this.#fill++
    this.size++
  }

  keyAt(i: number): string {
    return this.keys[(i / LEAF_TARGET) | 0]![i % LEAF_TARGET]!
  }

  valueAt(i: number): V {
    return this.values[(i / LEAF_TARGET) | 0]![i % LEAF_TARGET]!
  }

  setValue(i: number, value: V): void {
    this.values[(i / LEAF_TARGET) | 0]![i % LEAF_TARGET] = value
  }

  /** The first position whose key is >= `key` ({@link size} when none): a binary search over the blocks' last keys, then in the block. */
  lowerBound(key: string): number {
    const blocks = this.keys
    let lo = 0
    let hi = blocks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const block = blocks[mid]!
      const lastKey = mid === blocks.length - 1 ? block[this.#fill - 1]! : block[LEAF_TARGET - 1]!
      if (lastKey < key) lo = mid + 1
      else hi = mid
    }
    if (lo === blocks.length) return this.size
    const block = blocks[lo]!
    let i = 0
    let j = lo === blocks.length - 1 ? this.#fill : LEAF_TARGET
    while (i < j) {
      const mid = (i + j) >> 1
      if (block[mid]! < key) i = mid + 1
      else j = mid
    }
    return lo * LEAF_TARGET + i
  }

  /**
   * Cuts the last block to its keys and, when it is under half a node and has a block before
   * it, balances the two (one leaf if they fit in a node, else two halves): the blocks are then
   * the leaves of a valid tree. No push or position afterwards.
   */
  seal(): void {
    if (this.#sealed) return
    this.#sealed = true
    const n = this.keys.length
    if (n === 0) return
    this.keys[n - 1]!.length = this.#fill
    if (this.#withValues) this.values[n - 1]!.length = this.#fill
    if (n === 1 || this.#fill >= MAX_NODE_SIZE >> 1) return
    const keys = this.keys[n - 2]!.concat(this.keys[n - 1]!)
    const values = this.#withValues ? this.values[n - 2]!.concat(this.values[n - 1]!) : []
    this.keys.length = n - 2
    if (this.#withValues) this.values.length = n - 2
    const parts = keys.length <= MAX_NODE_SIZE ? [keys.length] : [Math.ceil(keys.length / 2), keys.length - Math.ceil(keys.length / 2)]
    let at = 0
    for (const size of parts) {
      this.keys.push(keys.slice(at, at + size))
      if (this.#withValues) this.values.push(values.slice(at, at + size))
      at += size
    }
  }

  /** The blocks as leaves (after {@link seal}), with a pause every {@link LEAVES_PER_PAUSE}. */
  *leaves(): Steps<BuiltNode[]> {
    this.seal()
    const leaves: BuiltNode[] = []
    for (let b = 0; b < this.keys.length; b++) {
      leaves.push(new BNode(this.keys[b]!, this.#withValues ? this.values[b] : undefined))
      if (b % LEAVES_PER_PAUSE === LEAVES_PER_PAUSE - 1) yield
    }
    return leaves
  }
}

/**
 * The root over `leaves` (in key order), built as sorted-btree's `bulkLoad` builds the levels
 * above its leaves (nodes ~80% full, the last node of a level balanced with its left sibling).
 */
function buildLevels(leaves: BuiltNode[], withValues: boolean): BuiltNode {
  if (leaves.length === 0) return new BNode([], withValues ? [] : undefined)
  let nodes = leaves
  const minSize = MAX_NODE_SIZE >> 1
  while (nodes.length > 1) {
    if (nodes.length <= MAX_NODE_SIZE) return new BNodeInternal(nodes, sumSizes(nodes))
    const parents = Math.ceil(nodes.length / LEAF_TARGET)
    const next: BuiltNode[] = []
    let left = nodes.length
    let from = 0
    for (let p = parents; p > 0; p--) {
      const size = Math.ceil(left / p)
      const children = nodes.slice(from, from + size)
      next.push(new BNodeInternal(children, sumSizes(children)))
      from += size
      left -= size
    }
    const last = next[next.length - 1]!
    while (last.children!.length < minSize) last.takeFromLeft(next[next.length - 2]!)
    nodes = next
  }
  return nodes[0]!
}

function sumSizes(nodes: readonly BuiltNode[]): number {
  let size = 0
  for (const node of nodes) size += node.size()
  return size
}

function aliveNow(e: Entry): boolean {
  return typeof e === 'number' || e.aliveAt(Number.MAX_SAFE_INTEGER)
}

/**
 * The in-memory index from key to its history (etcd's treeIndex), on a B+ tree.
 *
 * Keys are latin1 strings (one char per byte) so the tree compares them with the engine's
 * string comparison, which then equals bytewise order. A range is `[key, end)`; `end`
 * undefined means the single key `key`, and `end === ''` means every key from `key` on.
 * A key put once is held as a slot of {@link CompactKeys} (see {@link Entry}), any other as a
 * {@link KeyIndex}; a slot's key becomes a KeyIndex when its history grows.
 */
export class TreeIndex {
  /** Invariant: no KeyIndex in the tree is empty (compaction removes those); each number is a slot of #slots held by this key alone. */
  #tree: Tree
  /**
   * Invariant: exactly the keys alive now (last generation non-empty). Its B+ tree keeps
   * subtree sizes, so counting the keys alive now in a range is a rank query: O(log n).
   */
  #live: KeySet
  /** Invariant: >= every revision recorded; at or above it, "alive at atRev" = "alive now". */
  #maxRev = 0
  readonly #slots: CompactKeys
  /** The leaf and position of the entry the last {@link #find} found (for {@link #promote} only, at once). */
  #foundLeaf: TreeNode | undefined
  #foundAt = 0
  /** What the last {@link putAfterGet} that returned true found before its put. */
  readonly before: KeyState = { modMain: 0, modSub: 0, createdMain: 0, version: 0 }

  /** An empty index; `slots` holds the revisions of the slots a bulk load brings. */
  constructor(slots: CompactKeys = new CompactKeys()) {
    this.#tree = new BTree<string, Entry>(undefined, compareKeys, MAX_NODE_SIZE)
    this.#live = new BTree<string, undefined>(undefined, compareKeys, MAX_NODE_SIZE)
    this.#slots = slots
  }

  /**
   * Builds an index from entries sorted by key in strictly ascending order in O(n); `maxRev`
   * is the newest revision among them; the numbers among `entries` are slots of `slots`.
   */
  static fromSorted(keys: string[], entries: Entry[], maxRev = Number.MAX_SAFE_INTEGER, slots = new CompactKeys()): TreeIndex {
    assert(keys.length === entries.length)
    const blocks = new SortedBlocks<Entry>()
    for (let i = 0; i < keys.length; i++) blocks.push(keys[i]!, entries[i]!)
    return TreeIndex.fromBlocks(blocks, maxRev, slots)
  }

  /** {@link fromSorted} over blocks (which become the leaves). */
  static fromBlocks(blocks: SortedBlocks<Entry>, maxRev: number, slots: CompactKeys): TreeIndex {
    return runSync(TreeIndex.#build(blocks, maxRev, slots))
  }

  /**
   * {@link fromBlocks} with `pause` awaited between slices of at most ~100,000 keys: the
   * start-up rebuild's last step, which would otherwise hold the event loop for the whole load.
   */
  static build(blocks: SortedBlocks<Entry>, maxRev: number, slots: CompactKeys, pause: () => Promise<void>): Promise<TreeIndex> {
    return runPaused(TreeIndex.#build(blocks, maxRev, slots), pause)
  }

  static *#build(blocks: SortedBlocks<Entry>, maxRev: number, slots: CompactKeys): Steps<TreeIndex> {
    blocks.seal()
    let alive = 0
    let previous: string | undefined
    for (let b = 0; b < blocks.keys.length; b++) {
      const keys = blocks.keys[b]!
      const entries = blocks.values[b]!
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!
        if (previous !== undefined && !(previous < key)) assert.fail('TreeIndex.fromSorted: keys not in strictly ascending order')
        previous = key
        if (aliveNow(entries[i]!)) alive++
      }
      if (b % LEAVES_PER_PAUSE === LEAVES_PER_PAUSE - 1) yield
    }
    const index = new TreeIndex(slots)
    ;(index.#tree as unknown as { _root: BuiltNode })._root = buildLevels(yield* blocks.leaves(), true)
    index.#maxRev = maxRev
    if (alive === blocks.size) {
      // Every key alive (a store whose keys were never deleted): the live set is the tree
      // itself, shared copy-on-write (sorted-btree's clone), so it costs nothing until the two
      // differ, and then only the nodes on the paths that changed. Its values are the tree's
      // entries, which nothing reads: the set uses its keys and subtree sizes.
      index.#live = index.#tree.clone() as unknown as KeySet
      return index
    }
    yield
    const live = new SortedBlocks<undefined>(false)
    for (let b = 0; b < blocks.keys.length; b++) {
      const keys = blocks.keys[b]!
      const entries = blocks.values[b]!
      for (let i = 0; i < keys.length; i++) if (aliveNow(entries[i]!)) live.push(keys[i]!, undefined)
      if (b % LEAVES_PER_PAUSE === LEAVES_PER_PAUSE - 1) yield
    }
    ;(index.#live as unknown as { _root: BuiltNode })._root = buildLevels(yield* live.leaves(), false)
    return index
  }

  /** Number of keys with history (alive or not). */
  get size(): number {
    return this.#tree.size
  }

  /** The KeyIndex of `key`; for a key held as a slot, a new one built for the caller (tests, debugging). */
  keyIndex(key: string): KeyIndex | undefined {
    const e = this.#tree.get(key)
    return typeof e === 'number' ? this.#slots.keyIndex(key, e) : e
  }

  get(key: string, atRev: number): KeyIndexGet | undefined {
    const e = this.#find(key)
    if (typeof e !== 'number') return e?.get(atRev)
    const main = this.#slots.main[e]!
    if (main > atRev) return undefined
    const rev: Revision = { main, sub: this.#slots.sub[e]! }
    return { modified: rev, created: rev, version: 1 }
  }

  /**
   * `key`'s entry, found by a descent of the tree's nodes written here (the engine's string
   * comparison inline, where sorted-btree calls its comparator), leaving its leaf and position
   * in #foundLeaf / #foundAt; undefined when the key has none. The write path's lookup: with
   * the in-place {@link #promote} it replaces a get and a set (sorted-btree's set shifts
   * keys between full siblings even to overwrite a value), ~a third of a put's index work.
   */
  #find(key: string): Entry | undefined {
    let node = (this.#tree as unknown as { _root: TreeNode })._root
    for (;;) {
      const keys = node.keys
      const lo = lowerBound(keys, key)
      const children = node.children
      if (children === undefined) {
        if (lo === keys.length || keys[lo] !== key) return undefined
        this.#foundLeaf = node
        this.#foundAt = lo
        return node.values![lo] as Entry
      }
      if (lo === keys.length) return undefined
      node = children[lo]!
    }
  }

  /**
   * The KeyIndex a slot's key becomes when its history grows, for the entry {@link #find} just
   * found: written into its leaf in place (a leaf the live set shares after a rebuild holds the
   * same value there: the set never reads values, only keys and sizes); the slot is released.
   */
  #promote(key: string, slot: number): KeyIndex {
    const ki = this.#slots.keyIndex(key, slot)
    this.#foundLeaf!.values![this.#foundAt] = ki
    this.#foundLeaf = undefined
    this.#slots.release(slot)
    return ki
  }

  put(key: string, rev: Revision): void {
    this.putAfterGet(key, rev)
  }

  /**
   * {@link put}, returning whether `get(key, rev.main)` found the key just before it, and
   * leaving what it found in {@link before} (valid until the next call): the write path needs
   * both, and one tree lookup instead of two is ~2% of a put's CPU; numbers in a reused object
   * rather than a KeyIndexGet and its two Revisions (~190 bytes per put).
   */
  putAfterGet(key: string, rev: Revision): boolean {
    const e = this.#find(key)
    if (rev.main > this.#maxRev) this.#maxRev = rev.main
    if (e === undefined) {
      this.#tree.set(key, this.#slots.alloc(rev.main, rev.sub))
      this.#live.set(key, undefined)
      return false
    }
    const ki = typeof e === 'number' ? this.#promote(key, e) : e
    const found = ki.getInto(rev.main, this.before)
    const wasAlive = ki.aliveAt(Number.MAX_SAFE_INTEGER)
    ki.put(rev)
    if (!wasAlive) this.#live.set(key, undefined)
    return found
  }

  /** Deletes `key` at `rev`; the key must be alive (asserted). */
  tombstone(key: string, rev: Revision): void {
    const e = this.#find(key)
    assert(e !== undefined, 'tombstone of unknown key')
    const ki = typeof e === 'number' ? this.#promote(key, e) : e
    ki.tombstone(rev)
    if (rev.main > this.#maxRev) this.#maxRev = rev.main
    this.#live.delete(key)
  }

  /** Takes back the newest change of `key` (see {@link KeyIndex.revert}); drops a key left empty. */
  revert(key: string, rev: Revision, tombstone: boolean): void {
    const e = this.#tree.get(key)
    assert(e !== undefined, 'revert of an unknown key')
    if (typeof e === 'number') {
      // A slot's one change is its put: taking it back leaves the key without history.
      const main = this.#slots.main[e]!
      const sub = this.#slots.sub[e]!
      assert(!tombstone && main === rev.main && sub === rev.sub, 'revert of a revision that is not the newest')
      this.#tree.delete(key)
      this.#live.delete(key)
      this.#slots.release(e)
      return
    }
    e.revert(rev, tombstone)
    if (e.aliveAt(Number.MAX_SAFE_INTEGER)) this.#live.set(key, undefined)
    else this.#live.delete(key)
    if (e.isEmpty()) this.#tree.delete(key)
  }

  /** The revision to read for `e` at `atRev` (allocated for a slot), or undefined when not alive there. */
  #revisionAt(e: Entry, atRev: number): Revision | undefined {
    if (typeof e !== 'number') return e.revisionAt(atRev)
    const main = this.#slots.main[e]!
    return main <= atRev ? { main, sub: this.#slots.sub[e]! } : undefined
  }

  #aliveAt(e: Entry, atRev: number): boolean {
    return typeof e === 'number' ? this.#slots.main[e]! <= atRev : e.aliveAt(atRev)
  }

  /** Calls `fn` for each key and entry in the range, in key order, until it returns false. */
  #visit(key: string, end: string | undefined, fn: (key: string, e: Entry) => boolean | void): void {
    if (end === undefined) {
      const e = this.#tree.get(key)
      if (e !== undefined) fn(key, e)
      return
    }
    const high = end === '' ? INFINITY_KEY : end
    if (high <= key) return
    const stop = { break: true }
    const walk = this.#tree.forRange as (low: string, high: string, inc: boolean, f: (k: string, v: Entry) => { break: boolean } | void) => unknown
    walk.call(this.#tree, key, high, false, (k, e) => (fn(k, e) === false ? stop : undefined))
  }

  /**
   * Calls `fn` for each key index in the range, in key order, until it returns false; a key
   * held as a slot is handed as a KeyIndex built for the call (tests, debugging).
   */
  visit(key: string, end: string | undefined, fn: (ki: KeyIndex) => boolean | void): void {
    this.#visit(key, end, (k, e) => fn(typeof e === 'number' ? this.#slots.keyIndex(k, e) : e))
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
    this.#visit(key, end, (k, e) => {
      if (limit !== 0 && revs.length >= limit) {
        if (!withTotal || totalByRank) return false
        if (this.#aliveAt(e, atRev)) total++
        return true
      }
      const rev = this.#revisionAt(e, atRev)
      if (rev === undefined) return true
      total++
      keys.push(k)
      revs.push(rev)
      return true
    })
    if (totalByRank) total = this.countRevisions(key, end, atRev)
    return { keys, revs, total }
  }

  /**
   * The number of keys alive at `atRev` in the range; allocates nothing per key. At or above
   * the newest revision it is two rank queries on the live-key set, O(log n); below, a walk
   * over the range's entries.
   */
  countRevisions(key: string, end: string | undefined, atRev: number): number {
    if (end === undefined) {
      const e = this.#tree.get(key)
      return e !== undefined && this.#aliveAt(e, atRev) ? 1 : 0
    }
    const high = end === '' ? INFINITY_KEY : end
    if (high <= key) return 0
    if (atRev >= this.#maxRev && supportsRank(this.#live)) return countBelow(this.#live, high) - countBelow(this.#live, key)
    return this.walkCount(key, end, atRev)
  }

  /** {@link countRevisions} by walking every entry in the range (the fallback, and tests' oracle). */
  walkCount(key: string, end: string, atRev: number): number {
    const high = end === '' ? INFINITY_KEY : end
    if (high <= key) return 0
    let n = 0
    this.#tree.forRange(key, high, false, (_k, e) => {
      if (this.#aliveAt(e, atRev)) n++
    })
    return n
  }

  /** Revisions with main >= `rev` of every key in the range, sorted (the watch catch-up set). */
  rangeSince(key: string, end: string | undefined, rev: number): Revision[] {
    const out: Revision[] = []
    this.#visit(key, end, (_k, e) => {
      if (typeof e !== 'number') for (const r of e.since(rev)) out.push(r)
      else if (this.#slots.main[e]! >= rev) out.push({ main: this.#slots.main[e]!, sub: this.#slots.sub[e]! })
    })
    return out.sort((a, b) => (a.main !== b.main ? a.main - b.main : a.sub - b.sub))
  }

  /**
   * Compacts every key at `rev` and removes keys left with no history. Returns the set of
   * revisions (by `revisionId`) the backend must keep. A slot's one put is alive: compaction
   * keeps it once it is at or below `rev` and changes nothing.
   */
  compact(rev: number): Set<string> {
    const available = new Set<string>()
    const empty: string[] = []
    this.#tree.forEach((e, key) => {
      if (typeof e === 'number') {
        if (this.#slots.main[e]! <= rev) available.add(revisionId({ main: this.#slots.main[e]!, sub: this.#slots.sub[e]! }))
        return
      }
      e.compact(rev, available)
      if (e.isEmpty()) empty.push(key)
    })
    for (const key of empty) this.#tree.delete(key)
    return available
  }

  /** The revisions compaction at `rev` would keep, leaving the index unchanged (for hashing). */
  keep(rev: number): Set<string> {
    const available = new Set<string>()
    this.#tree.forEach((e) => {
      if (typeof e !== 'number') e.keep(rev, available)
      else if (this.#slots.main[e]! <= rev) available.add(revisionId({ main: this.#slots.main[e]!, sub: this.#slots.sub[e]! }))
    })
    return available
  }

  /** Checks the trees' structure and this index's invariants (tests only; O(n)). */
  checkValid(): void {
    this.#tree.checkValid()
    this.#live.checkValid()
    let alive = 0
    const slots = new Set<number>()
    this.#tree.forEach((e, key) => {
      if (typeof e === 'number') {
        if (slots.has(e)) assert.fail(`slot ${e} held by two keys`)
        slots.add(e)
      } else if (e.key !== key || e.isEmpty()) assert.fail(`bad key index ${key}`)
      const modified = typeof e === 'number' ? { main: this.#slots.main[e]!, sub: this.#slots.sub[e]! } : e.modified
      if (aliveNow(e) !== this.#live.has(key)) assert.fail(`live set disagrees on ${key}`)
      if (modified.main > this.#maxRev) assert.fail(`maxRev below ${key}'s revision`)
      if (aliveNow(e)) alive++
    })
    assert.equal(alive, this.#live.size)
    assert.equal(slots.size, this.#slots.used, 'slots held by no key')
  }
}
