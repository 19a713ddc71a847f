import assert from 'node:assert'
import { CompactedError, UnavailableError } from './errors.js'
import { Unstable } from './log-unstable.js'
import type { Storage } from './storage.js'
import type { Entry, Snapshot } from './types.js'
import { limitSize } from './types.js'

/** Unlimited byte budget. */
export const noLimit = Number.MAX_SAFE_INTEGER

/**
 * Raft's view of the log: the stable part in Storage plus the unstable tail.
 *
 * Invariant: `applied <= committed <= lastIndex()` and `committed >= firstIndex() - 1`.
 */
export class RaftLog {
  readonly storage: Storage
  readonly unstable: Unstable
  /** Highest index known committed (on a quorum's stable storage). */
  committed: number
  /** Highest index the application has applied (acknowledged by `advance`). */
  applied: number
  /** Bytes of committed entries handed out per Ready. */
  readonly maxApplyingEntsSize: number

  constructor(storage: Storage, options: { readonly maxApplyingEntsSize?: number } = {}) {
    this.storage = storage
    this.maxApplyingEntsSize = options.maxApplyingEntsSize ?? noLimit
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.unstable = new Unstable(last + 1)
    this.committed = first - 1
    this.applied = first - 1
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  lastTerm(): number {
    return this.term(this.lastIndex())
  }

  /** Term of entry i; throws CompactedError / UnavailableError outside [firstIndex-1, lastIndex]. */
  term(i: number): number {
    const t = this.unstable.maybeTerm(i)
    if (t !== undefined) return t
    if (i + 1 < this.firstIndex()) throw new CompactedError(i)
    if (i > this.lastIndex()) throw new UnavailableError(i)
    return this.storage.term(i)
  }

  /** Term of entry i, or 0 when it is compacted or beyond the log. */
  zeroTermOnOutOfBounds(i: number): number {
    // Bounds first: throwing is far too slow for the replication hot path.
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return 0
    try {
      return this.term(i)
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return 0
      throw err
    }
  }

  matchTerm(i: number, term: number): boolean {
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return false
    return this.zeroTermOnOutOfBounds(i) === term
  }

  /**
   * Follower side of MsgApp: if our log has (prevIndex, prevTerm), append `ents` (truncating a
   * conflicting suffix), advance commit to min(committed, last new index) and return that last
   * index; otherwise undefined.
   */
  maybeAppend(prevIndex: number, prevTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined
    const lastNew = prevIndex + ents.length
    const ci = this.findConflict(ents)
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflict with committed entry [committed(${this.committed})]`)
      this.append(ents.slice(ci - (prevIndex + 1)))
    }
    this.commitTo(Math.min(committed, lastNew))
    return lastNew
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex()
    const after = ents[0]!.index - 1
    assert(after >= this.committed, `after(${after}) is out of range [committed(${this.committed})]`)
    this.unstable.truncateAndAppend(ents)
    return this.lastIndex()
  }

  /**
   * The index of the first entry of `ents` that is new or conflicts with our log (0 if all are
   * already present). (Raft §5.3: an existing entry that conflicts is deleted with all after it.)
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with its term: the point where a
   * rejected append can resume (fast log backtracking). Stops at compacted entries.
   */
  findConflictByTerm(index: number, term: number): { readonly index: number; readonly term: number } {
    for (let i = index; ; i--) {
      if (i + 1 < this.firstIndex()) return { index: i, term: 0 }
      let t: number
      try {
        t = this.term(i)
      } catch (err) {
        if (err instanceof CompactedError || err instanceof UnavailableError) return { index: i, term: 0 }
        throw err
      }
      if (t <= term) return { index: i, term: t }
    }
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries
  }

  /** Committed entries not yet applied, bounded by `maxApplyingEntsSize`. */
  nextCommittedEnts(): readonly Entry[] {
    if (this.hasPendingSnapshot()) return []
    const lo = this.applied + 1
    const hi = this.committed + 1
    if (lo >= hi) return []
    return this.slice(lo, hi, this.maxApplyingEntsSize)
  }

  hasNextCommittedEnts(): boolean {
    return !this.hasPendingSnapshot() && this.committed > this.applied
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot()
  }

  /** Entries from i to the end, at most maxSize bytes (at least one). */
  entries(i: number, maxSize: number): readonly Entry[] {
    if (i > this.lastIndex()) return []
    return this.slice(i, this.lastIndex() + 1, maxSize)
  }

  allEntries(): readonly Entry[] {
    return this.entries(this.firstIndex(), noLimit)
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm()
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex())
  }

  /** Raft §5.4.2: commit `index` only if it carries `term` (the leader's current term). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.zeroTermOnOutOfBounds(index) === term) {
      this.commitTo(index)
      return true
    }
    return false
  }

  commitTo(tocommit: number): void {
    if (this.committed < tocommit) {
      assert(this.lastIndex() >= tocommit, `tocommit(${tocommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`)
      this.committed = tocommit
    }
  }

  appliedTo(i: number): void {
    if (i === 0) return
    assert(this.committed >= i && i >= this.applied, `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`)
    this.applied = i
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term)
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i)
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /** Entries in [lo, hi) from storage and/or the unstable tail, at most maxSize bytes. */
  slice(lo: number, hi: number, maxSize: number): readonly Entry[] {
    this.#mustCheckOutOfBounds(lo, hi)
    if (lo === hi) return []
    let ents: Entry[] = []
    const uoff = this.unstable.offset
    if (lo < uoff) {
      const stored = this.storage.entries(lo, Math.min(hi, uoff), maxSize)
      // Storage returned fewer entries than asked: the byte limit was hit.
      if (stored.length < Math.min(hi, uoff) - lo) return stored
      ents = stored.slice()
    }
    if (hi > uoff) {
      const u = this.unstable.slice(Math.max(lo, uoff), hi)
      for (const e of u) ents.push(e)
    }
    return limitSize(ents, maxSize)
  }

  #mustCheckOutOfBounds(lo: number, hi: number): void {
    assert(lo <= hi, `invalid slice ${lo} > ${hi}`)
    const fi = this.firstIndex()
    if (lo < fi) throw new CompactedError(lo)
    const length = this.lastIndex() + 1 - fi
    assert(hi <= fi + length, `slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`)
  }
}

/** Whether an error from storage is one raft handles (compaction races) rather than a fault. */
export function isLogGapError(err: unknown): boolean {
  return err instanceof CompactedError || err instanceof UnavailableError
}

