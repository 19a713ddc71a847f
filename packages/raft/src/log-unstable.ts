import assert from 'node:assert'
import type { Entry, Snapshot } from './types.js'

/**
 * The tail of the log that raft holds but storage does not yet: entries (and possibly an incoming
 * snapshot) that the next Ready hands to the driver to persist.
 */
export class Unstable {
  /** An incoming snapshot not yet persisted; when set, it precedes every unstable entry. */
  snapshot: Snapshot | undefined = undefined
  /** Invariant: `entries[i].index === offset + i`. */
  entries: Entry[] = []
  offset: number

  constructor(offset: number) {
    this.offset = offset
  }

  /** The first index if only a snapshot is unstable (the index after it). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index
  }

  /** The term of entry i if the unstable part knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) return this.snapshot.metadata.term
      return undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || i > last) return undefined
    return this.entries[i - this.offset]!.term
  }

  /** Entries up to (index, term) were persisted; a term mismatch means they were replaced since. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index)
    if (t === undefined || index < this.offset) return
    if (t !== term) return
    const n = index + 1 - this.offset
    this.entries = this.entries.slice(n)
    this.offset = index + 1
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) this.snapshot = undefined
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.entries = []
    this.snapshot = s
  }

  /** Appends entries, truncating any unstable entries at or after the first new index. */
  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return
    const from = ents[0]!.index
    const end = this.offset + this.entries.length
    if (from === end) {
      for (const e of ents) this.entries.push(e)
    } else if (from <= this.offset) {
      // The new entries replace every unstable one; storage keeps the older stable ones.
      this.offset = from
      this.entries = ents.slice()
    } else {
      assert(from < end, `unstable append leaves a gap: ${from} after ${end - 1}`)
      this.entries = this.entries.slice(0, from - this.offset)
      for (const e of ents) this.entries.push(e)
    }
  }

  /** Unstable entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    assert(lo <= hi && lo >= this.offset && hi <= this.offset + this.entries.length,
      `unstable.slice[${lo},${hi}) out of bound [${this.offset},${this.offset + this.entries.length}]`)
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}
