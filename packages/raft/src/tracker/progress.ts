import assert from 'node:assert'
import { Inflights } from './inflights.js'

/** How the leader is sending to a follower (see README: progress states). */
export const ProgressState = { Probe: 0, Replicate: 1, Snapshot: 2 } as const
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState]

const stateNames = ['StateProbe', 'StateReplicate', 'StateSnapshot'] as const

/**
 * The leader's view of one follower's log.
 *
 * Invariant: `match < next`.
 */
export class Progress {
  /** Highest index known to be in the follower's log. */
  match: number
  /** Index of the next entry to send. */
  next: number
  /** Highest commit index sent to the follower (bounded by what it has been sent). */
  sentCommit = 0
  state: ProgressState = ProgressState.Probe
  /** In Snapshot state: the index of the snapshot being sent; else 0. */
  pendingSnapshot = 0
  /** Heard from since the last CheckQuorum round (the leader counts itself active). */
  recentActive = false
  /** In Probe state: a MsgApp was sent and no answer/heartbeat response came back yet. */
  msgAppFlowPaused = false
  inflights: Inflights
  isLearner: boolean

  constructor(options: { readonly next: number; readonly match?: number; readonly inflights: Inflights; readonly isLearner?: boolean }) {
    this.next = options.next
    this.match = options.match ?? 0
    this.inflights = options.inflights
    this.isLearner = options.isLearner ?? false
  }

  clone(): Progress {
    const p = new Progress({ next: this.next, match: this.match, inflights: this.inflights.clone(), isLearner: this.isLearner })
    p.sentCommit = this.sentCommit
    p.state = this.state
    p.pendingSnapshot = this.pendingSnapshot
    p.recentActive = this.recentActive
    p.msgAppFlowPaused = this.msgAppFlowPaused
    return p
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false
    this.pendingSnapshot = 0
    this.state = state
    this.inflights.reset()
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it: the follower has everything up to it.
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot
      this.#resetState(ProgressState.Probe)
      this.next = Math.max(this.match + 1, pending + 1)
    } else {
      this.#resetState(ProgressState.Probe)
      this.next = this.match + 1
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1)
  }

  becomeReplicate(): void {
    this.#resetState(ProgressState.Replicate)
    this.next = this.match + 1
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState(ProgressState.Snapshot)
    this.pendingSnapshot = snapshotIndex
    this.next = snapshotIndex + 1
    this.sentCommit = snapshotIndex
  }

  /** A MsgApp with `entries` entries of `bytes` bytes, ending at commit `commit`, was sent. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        this.next += entries
        this.inflights.add(this.next - 1, bytes)
      }
      this.msgAppFlowPaused = this.inflights.full()
    } else if (this.state === ProgressState.Probe) {
      // Probe: one message per heartbeat interval until the follower answers.
      if (entries > 0) this.msgAppFlowPaused = true
    } else {
      assert.fail(`sending append in unhandled state ${stateNames[this.state]}`)
    }
  }

  /** Whether sending `commit` would tell the follower something new. */
  canBumpCommit(commit: number): boolean {
    // The follower may only learn a commit index within the entries it was sent.
    return this.state !== ProgressState.Snapshot && Math.min(commit, this.next - 1) > this.sentCommit
  }

  sentCommitTo(commit: number): void {
    if (commit > this.sentCommit) this.sentCommit = commit
  }

  /** The follower acknowledged `n`: raises match (and next); false if the ack is stale. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false
    this.match = n
    this.next = Math.max(this.next, n + 1)
    this.msgAppFlowPaused = false
    return true
  }

  /**
   * The follower rejected a MsgApp at `rejected`, hinting its log may match up to `matchHint`.
   * Returns false when the rejection is stale (an answer to an older message).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      this.sentCommit = Math.min(this.sentCommit, this.next - 1)
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.sentCommit = Math.min(this.sentCommit, this.next - 1)
    this.msgAppFlowPaused = false
    return true
  }

  /** Whether new MsgApps to this follower are held back. */
  isPaused(): boolean {
    if (this.state === ProgressState.Probe || this.state === ProgressState.Replicate) return this.msgAppFlowPaused
    return true
  }

  toString(): string {
    let s = `${stateNames[this.state]} match=${this.match} next=${this.next}`
    if (this.isLearner) s += ' learner'
    if (this.isPaused()) s += ' paused'
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`
    if (!this.recentActive) s += ' inactive'
    if (this.inflights.count > 0) s += ` inflight=${this.inflights.count}`
    if (this.inflights.full()) s += '[full]'
    return s
  }
}

export function progressStateName(s: ProgressState): string {
  return stateNames[s]
}
