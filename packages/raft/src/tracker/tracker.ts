import { JointConfig } from '../quorum/joint.js'
import { VoteResult } from '../quorum/quorum.js'
import type { ConfState } from '../types.js'
import type { Progress } from './progress.js'

/** Membership as the tracker sees it. */
export interface TrackerConfig {
  readonly voters: JointConfig
  /** Leave the joint configuration automatically once it is committed (applied). */
  readonly autoLeave: boolean
  /** Invariant: disjoint from both voter sets. */
  readonly learners: ReadonlySet<number>
  /**
   * Voters of the outgoing config being demoted to learners: they stay voters until the joint
   * config is left, then become learners. Invariant: each is in `voters.outgoing`.
   */
  readonly learnersNext: ReadonlySet<number>
}

export function emptyTrackerConfig(): TrackerConfig {
  return { voters: new JointConfig(), autoLeave: false, learners: new Set(), learnersNext: new Set() }
}

export function describeConfig(c: TrackerConfig): string {
  let s = `voters=${c.voters.toString()}`
  if (c.learners.size > 0) s += ` learners=(${[...c.learners].sort((a, b) => a - b).join(' ')})`
  if (c.learnersNext.size > 0) s += ` learners_next=(${[...c.learnersNext].sort((a, b) => a - b).join(' ')})`
  if (c.autoLeave) s += ' autoleave'
  return s
}

/** Progress of every member plus the votes of the current election. */
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig()
  /** Invariant: keys are exactly voters ∪ learners ∪ learnersNext. */
  progress: Map<number, Progress> = new Map()
  votes: Map<number, boolean> = new Map()
  readonly maxInflight: number
  readonly maxInflightBytes: number

  constructor(maxInflight: number, maxInflightBytes: number) {
    this.maxInflight = maxInflight
    this.maxInflightBytes = maxInflightBytes
  }

  confState(): ConfState {
    return {
      voters: this.config.voters.incoming.slice(),
      votersOutgoing: this.config.voters.outgoing.slice(),
      learners: [...this.config.learners].sort((a, b) => a - b),
      learnersNext: [...this.config.learnersNext].sort((a, b) => a - b),
      autoLeave: this.config.autoLeave,
    }
  }

  /** A single voter and no transition: commits need nobody else. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && !this.config.voters.isJoint()
  }

  #acked = (id: number): number | undefined => this.progress.get(id)?.match

  /** The highest index a (joint) quorum of voters has durably appended. */
  committed(): number {
    return this.config.voters.committedIndex(this.#acked)
  }

  /** Sorted ids of `#idsOf` (the map they were computed for), cached: visit() is on the hot path. */
  #ids: number[] = []
  #idsOf: Map<number, Progress> | undefined = undefined
  #idsSize = -1

  /** Visits progress entries in ascending id order (deterministic message order). */
  visit(fn: (id: number, pr: Progress) => void): void {
    if (this.#idsOf !== this.progress || this.#idsSize !== this.progress.size) {
      this.#ids = [...this.progress.keys()].sort((a, b) => a - b)
      this.#idsOf = this.progress
      this.#idsSize = this.progress.size
    }
    for (const id of this.#ids) {
      const pr = this.progress.get(id)
      if (pr !== undefined) fn(id, pr)
    }
  }

  /** True if a quorum of voters was recently active (CheckQuorum). */
  quorumActive(): boolean {
    const votes = new Map<number, boolean>()
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) votes.set(id, pr.recentActive)
    }
    return this.config.voters.voteResult(votes) === VoteResult.Won
  }

  voterNodes(): number[] {
    return this.config.voters.ids()
  }

  learnerNodes(): number[] {
    return [...this.config.learners].sort((a, b) => a - b)
  }

  resetVotes(): void {
    this.votes = new Map()
  }

  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  tallyVotes(): { readonly granted: number; readonly rejected: number; readonly result: VoteResult } {
    let granted = 0
    let rejected = 0
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue
      const v = this.votes.get(id)
      if (v === undefined) continue
      if (v) granted++
      else rejected++
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) }
  }
}

