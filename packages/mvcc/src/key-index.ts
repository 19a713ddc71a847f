import assert from 'node:assert'
import { type Revision, revisionGreater, revisionId } from './revision.js'

/**
 * One life of a key: from the put that created it to the tombstone that deleted it (or until
 * now, for the trailing generation).
 */
export interface Generation {
  /** Puts in this generation, including any compacted away. */
  ver: number
  /** The revision of the put that created this generation. */
  created: Revision
  /** Invariant: strictly increasing; in a non-trailing generation the last one is the tombstone. */
  revs: Revision[]
}

/** What {@link KeyIndex.get} finds: the revision to read and the key's metadata at it. */
export interface KeyIndexGet {
  readonly modified: Revision
  readonly created: Revision
  readonly version: number
}

const ZERO: Revision = { main: 0, sub: 0 }

/**
 * The trailing empty generation every key has after a delete (and before its first put),
 * shared: a put replaces it with a fresh generation. Saves two allocations per key.
 */
const EMPTY_GENERATION: Generation = Object.freeze({ ver: 0, created: ZERO, revs: Object.freeze([]) as unknown as Revision[] })

/**
 * The history of one key (etcd's keyIndex). Example: put(1.0); put(2.0); tombstone(3.0);
 * put(4.0); tombstone(5.0) gives the generations {1.0 2.0 3.0(t)} {4.0 5.0(t)} {}.
 */
export class KeyIndex {
  /** The key, as a latin1 string (one char per byte, so string order is byte order). */
  readonly key: string
  /** Invariant: the greatest revision ever put or tombstoned (survives compaction). */
  #modified: Revision = ZERO
  /** Invariant: equals #modified.main; a plain number so the count walk touches only this object. */
  #modMain = 0
  /** Invariant: the last generation is non-empty (the key exists at #modMain and after). */
  #alive = false
  /**
   * Invariant: length >= 1; only the last generation may be empty. Undefined in the compact
   * state: one generation holding one revision (#modified), created at #created, at version
   * #ver, and alive. A key put once, the common case (and every key a rebuild meets once),
   * stays compact: it saves the generation, its revs array and this array (~160 bytes and
   * three objects per key, which a 1M-key rebuild otherwise allocates and the GC copies).
   * #gens() leaves the state when the history grows.
   */
  #generations: Generation[] | undefined = [EMPTY_GENERATION]
  /** Meaningful in the compact state only. */
  #created: Revision = ZERO
  /** Meaningful in the compact state only. */
  #ver = 0

  constructor(key: string) {
    this.key = key
  }

  get modified(): Revision {
    return this.#modified
  }

  /** A read-only view of the generations, for tests and debugging (the compact state unchanged). */
  get generations(): readonly Readonly<Generation>[] {
    return this.#generations ?? [this.#compactGeneration()]
  }

  #compactGeneration(): Generation {
    return { ver: this.#ver, created: this.#created, revs: [this.#modified] }
  }

  /** The generations, leaving the compact state (allocating what it saved) when in it. */
  #gens(): Generation[] {
    return (this.#generations ??= [this.#compactGeneration()])
  }

  /** Enters the compact state: the key's whole history is one put at `rev`. */
  #setCompact(created: Revision, rev: Revision, version: number): void {
    this.#generations = undefined
    this.#created = created
    this.#ver = version
    this.#modified = rev
    this.#modMain = rev.main
    this.#alive = true
  }

  /** Records a put at `rev`, which must be newer than anything recorded (asserted). */
  put(rev: Revision): void {
    // The message is built only on failure: put is on the hot path of every write and of the rebuild.
    if (!revisionGreater(rev, this.#modified)) assert.fail(`keyIndex put ${rev.main}.${rev.sub} not after ${this.#modified.main}.${this.#modified.sub}`)
    if (this.#generations?.length === 1 && this.#generations[0] === EMPTY_GENERATION) return this.#setCompact(rev, rev, 1)
    const gens = this.#gens()
    const last = gens.length - 1
    const g = gens[last]!
    // A new generation starts as exact-size literals: `[].push` would reserve 17 slots per key.
    if (g === EMPTY_GENERATION) gens[last] = { ver: 1, created: rev, revs: [rev] }
    else {
      g.revs.push(rev)
      g.ver++
    }
    this.#modified = rev
    this.#modMain = rev.main
    this.#alive = true
  }

  /**
   * Records the first surviving revision of a generation found while rebuilding from the
   * backend: its created revision and version come from the stored KeyValue, since earlier
   * revisions may have been compacted away.
   */
  restorePut(created: Revision, rev: Revision, version: number): void {
    const gens = this.#generations
    if (gens === undefined || gens[gens.length - 1] !== EMPTY_GENERATION) assert.fail('restorePut into a non-empty generation')
    if (!revisionGreater(rev, this.#modified) || version < 1) assert.fail(`restorePut of ${rev.main}.${rev.sub} at version ${version}`)
    if (gens.length === 1) return this.#setCompact(created, rev, version)
    gens[gens.length - 1] = { ver: version, created, revs: [rev] }
    this.#modified = rev
    this.#modMain = rev.main
    this.#alive = true
  }

  /** Records a deletion at `rev`; the key must be alive. Starts a new empty generation. */
  tombstone(rev: Revision): void {
    // The store tombstones only keys its index found alive.
    if (!this.#alive) assert.fail(`tombstone of ${this.key}, which is not alive, at ${rev.main}.${rev.sub}`)
    this.put(rev)
    this.#gens().push(EMPTY_GENERATION)
    this.#alive = false
  }

  /**
   * Rebuild of a key whose oldest surviving revision is a tombstone (its puts were compacted
   * away but the tombstone at the compaction revision is kept).
   */
  restoreTombstone(rev: Revision): void {
    assert(this.isEmpty(), 'restoreTombstone on a key with history')
    this.#generations = [{ ver: 1, created: ZERO, revs: [rev] }, EMPTY_GENERATION]
    this.#modified = rev
    this.#modMain = rev.main
    this.#alive = false
  }

  /**
   * Takes back the newest change, which must be `rev` (a put, or a tombstone when `tombstone`):
   * the undo of a write txn whose backend write was rolled back.
   */
  revert(rev: Revision, tombstone: boolean): void {
    const gens = this.#gens()
    if (tombstone) {
      assert(gens.length > 1 && gens[gens.length - 1] === EMPTY_GENERATION, 'revert of a tombstone that is not the newest change')
      gens.pop()
    }
    const last = gens.length - 1
    const g = gens[last]!
    // By value: a key promoted from a TreeIndex slot holds a copy of the revision the undo has.
    const newest = g.revs[g.revs.length - 1]
    assert(newest !== undefined && newest.main === rev.main && newest.sub === rev.sub, 'revert of a revision that is not the newest')
    if (g.revs.length === 1) gens[last] = EMPTY_GENERATION
    else {
      g.revs.pop()
      g.ver--
    }
    let previous: Revision = ZERO
    for (let i = gens.length - 1; i >= 0 && previous === ZERO; i--) {
      const revs = gens[i]!.revs
      if (revs.length > 0) previous = revs[revs.length - 1]!
    }
    this.#modified = previous
    this.#modMain = previous.main
    this.#alive = gens[gens.length - 1]!.revs.length > 0
  }

  /** True when nothing is recorded (only one, empty, generation). */
  isEmpty(): boolean {
    const gens = this.#generations
    return gens !== undefined && gens.length === 1 && gens[0]!.revs.length === 0
  }

  /** The generation of `gens` holding `atRev`, or undefined when the key did not exist at `atRev`. */
  #findGeneration(gens: Generation[], atRev: number): Generation | undefined {
    const last = gens.length - 1
    for (let i = last; i >= 0; i--) {
      const g = gens[i]!
      if (g.revs.length === 0) continue
      // A generation whose tombstone is at or before atRev was already dead at atRev.
      if (i !== last && g.revs[g.revs.length - 1]!.main <= atRev) return undefined
      if (g.revs[0]!.main <= atRev) return g
    }
    return undefined
  }

  /** The newest put at or before `atRev` and the key's version there; undefined if absent. */
  get(atRev: number): KeyIndexGet | undefined {
    if (this.#generations === undefined) return this.#modMain <= atRev ? { modified: this.#modified, created: this.#created, version: this.#ver } : undefined
    const g = this.#findGeneration(this.#generations, atRev)
    if (g === undefined) return undefined
    for (let n = g.revs.length - 1; n >= 0; n--) {
      const rev = g.revs[n]!
      if (rev.main <= atRev) return { modified: rev, created: g.created, version: g.ver - (g.revs.length - n - 1) }
    }
    return undefined
  }

  /** The revision `get` would return, without allocating. */
  revisionAt(atRev: number): Revision | undefined {
    if (atRev >= this.#modMain) return this.#alive ? this.#modified : undefined
    if (this.#generations === undefined) return undefined // its one put is after atRev
    const g = this.#findGeneration(this.#generations, atRev)
    if (g === undefined) return undefined
    for (let n = g.revs.length - 1; n >= 0; n--) if (g.revs[n]!.main <= atRev) return g.revs[n]
    return undefined
  }

  /** Whether the key existed at `atRev`; allocates nothing (the count path). */
  aliveAt(atRev: number): boolean {
    if (atRev >= this.#modMain) return this.#alive
    return this.revisionAt(atRev) !== undefined
  }

  /** Every revision with main >= `rev`, keeping only the highest sub of each main. */
  since(rev: number): Revision[] {
    if (this.#generations === undefined) return this.#modMain >= rev ? [this.#modified] : []
    const out: Revision[] = []
    for (const g of this.#generations) {
      for (const r of g.revs) {
        if (r.main < rev) continue
        if (out.length > 0 && out[out.length - 1]!.main === r.main) out[out.length - 1] = r
        else out.push(r)
      }
    }
    return out
  }

  /**
   * Finds the generation compaction at `atRev` keeps and the index of the newest revision at
   * or before `atRev` in it (-1: none), adding that revision to `available`.
   *
   * The newest revision at or before `atRev` is kept when it is a put, or a tombstone exactly
   * at `atRev` (etcd #18474: a watcher from `atRev` must still see that delete). A tombstone
   * before `atRev` means the key was dead at `atRev`: nothing is kept. Searching by revision
   * rather than by each generation's tombstone main revision also handles a delete and a put
   * of the same key in one write txn (two generations sharing a main revision).
   *
   * Undefined in the compact state, where compaction changes nothing: its one put is alive, so
   * it is kept (added to `available`) whenever it is at or before `atRev`.
   */
  #doCompact(atRev: number, available: Set<string>): { gens: Generation[]; genIdx: number; revIndex: number } | undefined {
    const gens = this.#generations
    if (gens === undefined) {
      if (this.#modMain <= atRev) available.add(revisionId(this.#modified))
      return undefined
    }
    const last = gens.length - 1
    for (let gi = last; gi >= 0; gi--) {
      const revs = gens[gi]!.revs
      for (let n = revs.length - 1; n >= 0; n--) {
        const rev = revs[n]!
        if (rev.main > atRev) continue
        const isTombstone = gi !== last && n === revs.length - 1
        if (isTombstone && rev.main < atRev) return { gens, genIdx: gi + 1, revIndex: -1 }
        available.add(revisionId(rev))
        return { gens, genIdx: gi, revIndex: n }
      }
    }
    return { gens, genIdx: 0, revIndex: -1 }
  }

  /** Drops history before `atRev`, keeping the newest revision at or before it. */
  compact(atRev: number, available: Set<string>): void {
    if (this.isEmpty()) assert.fail(`compact of empty keyIndex ${this.key}`)
    const found = this.#doCompact(atRev, available)
    if (found === undefined) return
    const { gens, genIdx, revIndex } = found
    const g = gens[genIdx]!
    if (g.revs.length > 0 && revIndex > 0) g.revs = g.revs.slice(revIndex)
    if (genIdx > 0) this.#generations = gens.slice(genIdx)
  }

  /**
   * Adds to `available` what compaction at `atRev` would keep, without changing anything; a
   * tombstone exactly at `atRev` is left out so hashes match stores that drop it.
   */
  keep(atRev: number, available: Set<string>): void {
    if (this.isEmpty()) return
    const found = this.#doCompact(atRev, available)
    if (found === undefined) return
    const { gens, genIdx, revIndex } = found
    const g = gens[genIdx]!
    if (g.revs.length > 0 && revIndex === g.revs.length - 1 && genIdx !== gens.length - 1) {
      available.delete(revisionId(g.revs[revIndex]!))
    }
  }
}
