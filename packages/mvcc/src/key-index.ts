import assert from 'node:assert'
import { type Revision, revisionId } from './revision.js'

/**
 * One life of a key: from the put that created it to the tombstone that deleted it (or until
 * now, for the trailing generation). What {@link KeyIndex.generations} shows, built on demand.
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

/** {@link KeyIndexGet} as numbers, in an object its caller reuses: what the write path reads before each put. */
export interface KeyState {
  modMain: number
  modSub: number
  createdMain: number
  version: number
}

/** A generation that ended in a tombstone, as the index keeps it (see {@link KeyIndex}'s #revs). */
interface Ended {
  ver: number
  createdMain: number
  createdSub: number
  /** Revision i is (revs[2i], revs[2i + 1]); the last one is the tombstone. */
  revs: number[]
}

/** The trailing generation's revisions when it is empty (a deleted key, or one never put): shared. */
const NO_REVS: number[] = Object.freeze([]) as unknown as number[]

/** Whether (main, sub) is after (thanMain, thanSub). */
function after(main: number, sub: number, thanMain: number, thanSub: number): boolean {
  return main > thanMain || (main === thanMain && sub > thanSub)
}

/**
 * The history of one key (etcd's keyIndex). Example: put(1.0); put(2.0); tombstone(3.0);
 * put(4.0); tombstone(5.0) gives the generations {1.0 2.0 3.0(t)} {4.0 5.0(t)} {}.
 *
 * Revisions are kept as numbers, never as the Revision objects given (a put appends two
 * numbers to an array V8 stores unboxed: small integers, or doubles past 2^31, exact to 2^53),
 * and the trailing generation lives in this object's fields: a key put many times is this
 * object and one array. The put path's Revision objects then die young; retained per put, with
 * a generation object and two arrays per key, they were most of what its scavenges promoted.
 * The revisions returned are new objects (no caller compares them by identity).
 */
export class KeyIndex {
  /** The key, as a latin1 string (one char per byte, so string order is byte order). */
  readonly key: string
  /** Invariant: (#modMain, #modSub) is the greatest revision ever put or tombstoned (survives compaction). */
  #modMain = 0
  #modSub = 0
  /**
   * The trailing generation's revisions, main and sub interleaved (revision i is
   * (#revs[2i], #revs[2i + 1])), strictly increasing and all puts: NO_REVS when it is empty
   * (the key is not alive), undefined when it holds one revision, (#modMain, #modSub). A key
   * put once, the common case (and every key a rebuild meets once), so keeps no array.
   */
  #revs: number[] | undefined = NO_REVS
  /** The trailing generation's version (puts, including any compacted away) and creation; 0 when empty. */
  #ver = 0
  #createdMain = 0
  #createdSub = 0
  /** The generations that ended in a tombstone, oldest first; undefined when none (never empty). */
  #ended: Ended[] | undefined = undefined

  constructor(key: string) {
    this.key = key
  }

  /** The greatest revision ever recorded (a new object). */
  get modified(): Revision {
    return { main: this.#modMain, sub: this.#modSub }
  }

  /** The generations with Revision objects built for the call (tests, debugging); the last is the trailing one. */
  get generations(): readonly Readonly<Generation>[] {
    const view = (ver: number, main: number, sub: number, revs: number[]): Generation => {
      const out: Revision[] = []
      for (let i = 0; i < revs.length; i += 2) out.push({ main: revs[i]!, sub: revs[i + 1]! })
      return { ver, created: { main, sub }, revs: out }
    }
    const gens = (this.#ended ?? []).map((g) => view(g.ver, g.createdMain, g.createdSub, g.revs))
    gens.push(view(this.#ver, this.#createdMain, this.#createdSub, this.#trailingRevs()))
    return gens
  }

  /** The trailing generation's revisions as an array (allocated when it holds one). */
  #trailingRevs(): number[] {
    return this.#revs ?? [this.#modMain, this.#modSub]
  }

  #alive(): boolean {
    return this.#revs !== NO_REVS
  }

  /** Records a put at `rev`, which must be newer than anything recorded (asserted); `rev` is not kept. */
  put(rev: Revision): void {
    const { main, sub } = rev
    // The message is built only on failure: put is on the hot path of every write and of the rebuild.
    if (!after(main, sub, this.#modMain, this.#modSub)) assert.fail(`keyIndex put ${main}.${sub} not after ${this.#modMain}.${this.#modSub}`)
    const revs = this.#revs
    if (revs === NO_REVS) return this.#startGeneration(main, sub, main, sub, 1)
    // An exact-size literal for the second revision: `[].push` would reserve 17 slots per key.
    if (revs === undefined) this.#revs = [this.#modMain, this.#modSub, main, sub]
    else revs.push(main, sub)
    this.#ver++
    this.#modMain = main
    this.#modSub = sub
  }

  /** Makes the empty trailing generation one of a single revision, (main, sub). */
  #startGeneration(createdMain: number, createdSub: number, main: number, sub: number, version: number): void {
    this.#revs = undefined
    this.#ver = version
    this.#createdMain = createdMain
    this.#createdSub = createdSub
    this.#modMain = main
    this.#modSub = sub
  }

  /**
   * Records the first surviving revision of a generation found while rebuilding from the
   * backend: its created revision and version come from the stored KeyValue, since earlier
   * revisions may have been compacted away.
   */
  restorePut(created: Revision, rev: Revision, version: number): void {
    if (this.#revs !== NO_REVS) assert.fail('restorePut into a non-empty generation')
    if (!after(rev.main, rev.sub, this.#modMain, this.#modSub) || version < 1) assert.fail(`restorePut of ${rev.main}.${rev.sub} at version ${version}`)
    this.#startGeneration(created.main, created.sub, rev.main, rev.sub, version)
  }

  /** Records a deletion at `rev`; the key must be alive. Starts a new empty generation. */
  tombstone(rev: Revision): void {
    // The store tombstones only keys its index found alive.
    if (!this.#alive()) assert.fail(`tombstone of ${this.key}, which is not alive, at ${rev.main}.${rev.sub}`)
    this.put(rev)
    this.#endGeneration({ ver: this.#ver, createdMain: this.#createdMain, createdSub: this.#createdSub, revs: this.#revs! })
  }

  #endGeneration(g: Ended): void {
    if (this.#ended === undefined) this.#ended = [g]
    else this.#ended.push(g)
    this.#emptyTrailing()
  }

  /** Makes the trailing generation empty (the key not alive); #modMain and #modSub stay. */
  #emptyTrailing(): void {
    this.#revs = NO_REVS
    this.#ver = 0
    this.#createdMain = 0
    this.#createdSub = 0
  }

  /**
   * Rebuild of a key whose oldest surviving revision is a tombstone (its puts were compacted
   * away but the tombstone at the compaction revision is kept).
   */
  restoreTombstone(rev: Revision): void {
    assert(this.isEmpty(), 'restoreTombstone on a key with history')
    this.#endGeneration({ ver: 1, createdMain: 0, createdSub: 0, revs: [rev.main, rev.sub] })
    this.#modMain = rev.main
    this.#modSub = rev.sub
  }

  /**
   * Takes back the newest change, which must be `rev` (a put, or a tombstone when `tombstone`):
   * the undo of a write txn whose backend write was rolled back.
   */
  revert(rev: Revision, tombstone: boolean): void {
    if (tombstone) {
      const ended = this.#ended
      assert(ended !== undefined && this.#revs === NO_REVS, 'revert of a tombstone that is not the newest change')
      const g = ended.pop()!
      if (ended.length === 0) this.#ended = undefined
      this.#revs = g.revs
      this.#ver = g.ver
      this.#createdMain = g.createdMain
      this.#createdSub = g.createdSub
    }
    const revs = this.#trailingRevs()
    const n = revs.length
    assert(n > 0 && revs[n - 2] === rev.main && revs[n - 1] === rev.sub, 'revert of a revision that is not the newest')
    if (n === 2) {
      this.#emptyTrailing()
      const ended = this.#ended
      const tomb = ended === undefined ? undefined : ended[ended.length - 1]!.revs
      this.#modMain = tomb === undefined ? 0 : tomb[tomb.length - 2]!
      this.#modSub = tomb === undefined ? 0 : tomb[tomb.length - 1]!
      return
    }
    // A revision array stays one even when one revision is left (the form is an optimization).
    revs.length = n - 2
    this.#revs = revs
    this.#ver--
    this.#modMain = revs[n - 4]!
    this.#modSub = revs[n - 3]!
  }

  /** True when nothing is recorded (only one, empty, generation). */
  isEmpty(): boolean {
    return this.#revs === NO_REVS && this.#ended === undefined
  }

  /**
   * The generation holding `atRev`, for an `atRev` before #modMain: the index of an ended
   * generation, -1 for the trailing one, or -2 when the key did not exist at `atRev`.
   */
  #generationAt(atRev: number): number {
    const revs = this.#revs
    if (revs !== NO_REVS && (revs === undefined ? this.#modMain : revs[0]!) <= atRev) return -1
    const ended = this.#ended
    if (ended === undefined) return -2
    for (let i = ended.length - 1; i >= 0; i--) {
      const r = ended[i]!.revs
      // A generation whose tombstone is at or before atRev was already dead at atRev.
      if (r[r.length - 2]! <= atRev) return -2
      if (r[0]! <= atRev) return i
    }
    return -2
  }

  /** The index in `revs` of the main of the newest revision at or before `atRev` (-1: none). */
  static #indexAt(revs: number[], atRev: number): number {
    for (let i = revs.length - 2; i >= 0; i -= 2) if (revs[i]! <= atRev) return i
    return -1
  }

  /** The newest put at or before `atRev` and the key's version there; undefined if absent. */
  get(atRev: number): KeyIndexGet | undefined {
    if (atRev >= this.#modMain) {
      if (!this.#alive()) return undefined
      return { modified: { main: this.#modMain, sub: this.#modSub }, created: { main: this.#createdMain, sub: this.#createdSub }, version: this.#ver }
    }
    const gi = this.#generationAt(atRev)
    if (gi === -2) return undefined
    const g = gi === -1 ? undefined : this.#ended![gi]!
    // The trailing generation found here is an array: a single revision would be #modMain, after atRev.
    const revs = g === undefined ? this.#revs! : g.revs
    const i = KeyIndex.#indexAt(revs, atRev)
    const created = g === undefined ? { main: this.#createdMain, sub: this.#createdSub } : { main: g.createdMain, sub: g.createdSub }
    const version = (g === undefined ? this.#ver : g.ver) - (revs.length - i - 2) / 2
    return { modified: { main: revs[i]!, sub: revs[i + 1]! }, created, version }
  }

  /**
   * {@link get} into `out` (no object made at the newest revision, every put's case); false,
   * `out` left as it was, where `get` returns undefined.
   */
  getInto(atRev: number, out: KeyState): boolean {
    if (atRev >= this.#modMain) {
      if (!this.#alive()) return false
      out.modMain = this.#modMain
      out.modSub = this.#modSub
      out.createdMain = this.#createdMain
      out.version = this.#ver
      return true
    }
    const g = this.get(atRev)
    if (g === undefined) return false
    out.modMain = g.modified.main
    out.modSub = g.modified.sub
    out.createdMain = g.created.main
    out.version = g.version
    return true
  }

  /** The revision `get` would return (a new object), without the rest of its answer. */
  revisionAt(atRev: number): Revision | undefined {
    if (atRev >= this.#modMain) return this.#alive() ? { main: this.#modMain, sub: this.#modSub } : undefined
    const gi = this.#generationAt(atRev)
    if (gi === -2) return undefined
    const revs = gi === -1 ? this.#revs! : this.#ended![gi]!.revs
    const i = KeyIndex.#indexAt(revs, atRev)
    return { main: revs[i]!, sub: revs[i + 1]! }
  }

  /** Whether the key existed at `atRev`; allocates nothing (the count path). */
  aliveAt(atRev: number): boolean {
    if (atRev >= this.#modMain) return this.#alive()
    // The generation found has a put at or before atRev (its first) and no tombstone there.
    return this.#generationAt(atRev) !== -2
  }

  /** Every revision with main >= `rev`, keeping only the highest sub of each main. */
  since(rev: number): Revision[] {
    const out: Revision[] = []
    const add = (revs: number[]): void => {
      for (let i = 0; i < revs.length; i += 2) {
        const main = revs[i]!
        if (main < rev) continue
        const r: Revision = { main, sub: revs[i + 1]! }
        if (out.length > 0 && out[out.length - 1]!.main === main) out[out.length - 1] = r
        else out.push(r)
      }
    }
    if (this.#ended !== undefined) for (const g of this.#ended) add(g.revs)
    if (this.#revs === undefined) add([this.#modMain, this.#modSub])
    else add(this.#revs)
    return out
  }

  /**
   * Finds the generation compaction at `atRev` keeps (an index of #ended, or #ended's length
   * for the trailing one) and the index of the newest revision at or before `atRev` in it (-1:
   * none; counted in revisions, not in numbers), adding that revision to `available`.
   *
   * The newest revision at or before `atRev` is kept when it is a put, or a tombstone exactly
   * at `atRev` (etcd #18474: a watcher from `atRev` must still see that delete). A tombstone
   * before `atRev` means the key was dead at `atRev`: nothing is kept. Searching by revision
   * rather than by each generation's tombstone main revision also handles a delete and a put
   * of the same key in one write txn (two generations sharing a main revision).
   *
   * Undefined for a key put once (no ended generation, a trailing one of one revision), where
   * compaction changes nothing: its one put is alive, so it is kept (added to `available`)
   * whenever it is at or before `atRev`.
   */
  #doCompact(atRev: number, available: Set<string>): { genIdx: number; revIndex: number } | undefined {
    if (this.#revs === undefined && this.#ended === undefined) {
      if (this.#modMain <= atRev) available.add(revisionId({ main: this.#modMain, sub: this.#modSub }))
      return undefined
    }
    const ended = this.#ended ?? []
    const last = ended.length
    for (let gi = last; gi >= 0; gi--) {
      const revs = gi === last ? this.#trailingRevs() : ended[gi]!.revs
      for (let i = revs.length - 2; i >= 0; i -= 2) {
        const main = revs[i]!
        if (main > atRev) continue
        const isTombstone = gi !== last && i === revs.length - 2
        if (isTombstone && main < atRev) return { genIdx: gi + 1, revIndex: -1 }
        available.add(revisionId({ main, sub: revs[i + 1]! }))
        return { genIdx: gi, revIndex: i / 2 }
      }
    }
    return { genIdx: 0, revIndex: -1 }
  }

  /** Drops history before `atRev`, keeping the newest revision at or before it. */
  compact(atRev: number, available: Set<string>): void {
    if (this.isEmpty()) assert.fail(`compact of empty keyIndex ${this.key}`)
    const found = this.#doCompact(atRev, available)
    if (found === undefined) return
    const { genIdx, revIndex } = found
    const ended = this.#ended ?? []
    if (genIdx === ended.length) {
      // The trailing generation is kept: every ended one goes.
      if (revIndex > 0) this.#revs = this.#revs!.slice(revIndex * 2)
      this.#ended = undefined
      return
    }
    const g = ended[genIdx]!
    if (revIndex > 0) g.revs = g.revs.slice(revIndex * 2)
    if (genIdx > 0) this.#ended = ended.slice(genIdx)
  }

  /**
   * Adds to `available` what compaction at `atRev` would keep, without changing anything; a
   * tombstone exactly at `atRev` is left out so hashes match stores that drop it.
   */
  keep(atRev: number, available: Set<string>): void {
    if (this.isEmpty()) return
    const found = this.#doCompact(atRev, available)
    if (found === undefined) return
    const { genIdx, revIndex } = found
    const ended = this.#ended
    if (ended === undefined || genIdx === ended.length) return // the trailing generation has no tombstone
    const revs = ended[genIdx]!.revs
    if (revIndex === revs.length / 2 - 1) available.delete(revisionId({ main: revs[revIndex * 2]!, sub: revs[revIndex * 2 + 1]! }))
  }
}
