import type { AckedIndexer } from './quorum.js'
import { maxIndex, VoteResult } from './quorum.js'

/**
 * A set of voters decided by simple majority.
 */
export class MajorityConfig {
  /** Invariant: every id is a non-zero safe integer. */
  readonly ids: ReadonlySet<number>
  /** Scratch space for committedIndex, so the hot path allocates nothing. */
  #scratch: number[]

  constructor(ids: Iterable<number> = []) {
    this.ids = new Set(ids)
    this.#scratch = new Array<number>(this.ids.size).fill(0)
  }

  get size(): number {
    return this.ids.size
  }

  /** Ids in ascending order. */
  slice(): number[] {
    return [...this.ids].sort((a, b) => a - b)
  }

  toString(): string {
    return `(${this.slice().join(' ')})`
  }

  /**
   * The largest index that a majority has acknowledged: the ⌊n/2⌋+1-th largest acked index,
   * with unknown voters counting as 0. Empty config ⇒ maxIndex (joint configs take the min).
   */
  committedIndex(acked: AckedIndexer): number {
    const n = this.ids.size
    if (n === 0) return maxIndex
    const s = this.#scratch
    let i = 0
    for (const id of this.ids) {
      const v = acked(id) ?? 0
      // Insertion sort, ascending: n is small (≤ 11 in practice) and this avoids allocation.
      let j = i
      while (j > 0 && s[j - 1]! > v) { s[j] = s[j - 1]!; j-- }
      s[j] = v
      i++
    }
    // With s ascending, the element at n - (n/2 + 1) is acked by n/2 + 1 voters.
    return s[n - (Math.floor(n / 2) + 1)]!
  }

  /** Won with a majority of yes votes, lost once a majority is out of reach, else pending. */
  voteResult(votes: ReadonlyMap<number, boolean>): VoteResult {
    if (this.ids.size === 0) return VoteResult.Won
    let yes = 0
    let missing = 0
    for (const id of this.ids) {
      const v = votes.get(id)
      if (v === undefined) missing++
      else if (v) yes++
    }
    const q = Math.floor(this.ids.size / 2) + 1
    if (yes >= q) return VoteResult.Won
    if (yes + missing >= q) return VoteResult.Pending
    return VoteResult.Lost
  }
}
