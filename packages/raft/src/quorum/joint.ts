import { MajorityConfig } from './majority.js'
import type { AckedIndexer } from './quorum.js'
import { VoteResult } from './quorum.js'

/**
 * Two majority configurations, incoming and outgoing, that must both agree (joint consensus,
 * Raft thesis §4.3). Outside a transition the outgoing one is empty and agrees with anything.
 */
export class JointConfig {
  readonly incoming: MajorityConfig
  readonly outgoing: MajorityConfig

  constructor(incoming: MajorityConfig = new MajorityConfig(), outgoing: MajorityConfig = new MajorityConfig()) {
    this.incoming = incoming
    this.outgoing = outgoing
  }

  isJoint(): boolean {
    return this.outgoing.size > 0
  }

  /** Every voter of either half, ascending. */
  ids(): number[] {
    const all = new Set<number>([...this.incoming.ids, ...this.outgoing.ids])
    return [...all].sort((a, b) => a - b)
  }

  toString(): string {
    return this.isJoint() ? `${this.incoming.toString()}&&${this.outgoing.toString()}` : this.incoming.toString()
  }

  committedIndex(acked: AckedIndexer): number {
    return Math.min(this.incoming.committedIndex(acked), this.outgoing.committedIndex(acked))
  }

  voteResult(votes: ReadonlyMap<number, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes)
    const r2 = this.outgoing.voteResult(votes)
    if (r1 === r2) return r1
    if (r1 === VoteResult.Lost || r2 === VoteResult.Lost) return VoteResult.Lost
    return VoteResult.Pending
  }
}
