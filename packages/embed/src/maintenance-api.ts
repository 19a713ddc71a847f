import type { Alarm } from '@strata/apply'
import type { KvHash } from '@strata/mvcc'
import type { ApiContext, ResponseHeader } from './api-context.js'

export interface StatusResponse {
  readonly header: ResponseHeader
  readonly leader: number
  readonly raftIndex: number
  readonly raftTerm: number
  readonly raftAppliedIndex: number
  readonly dbSizeBytes: number
  readonly dbSizeInUseBytes: number
  readonly isLearner: boolean
  readonly alarms: readonly Alarm[]
}

/** Status, hashes, snapshots, defragmentation and alarms (etcd's Maintenance service). */
export class MaintenanceApi {
  readonly #c: ApiContext

  constructor(c: ApiContext) {
    this.#c = c
  }

  status(): StatusResponse {
    const m = this.#c.member
    const st = m.raftStatus
    const stats = m.backend.stats()
    return {
      // Leader and term from one reading of raft's state: the member's view of the leader moves
      // only when its loop handles the next Ready, and beside raft's newer term it named a
      // deposed leader as the leader of the term that deposed it.
      header: this.#c.header(), leader: st.softState.lead, raftIndex: st.hardState.commit, raftTerm: st.hardState.term,
      raftAppliedIndex: m.sm.applied.index, dbSizeBytes: stats.sizeBytes, dbSizeInUseBytes: stats.sizeInUseBytes,
      isLearner: m.sm.applied.confState.learners.includes(m.memberId), alarms: m.sm.alarms.list(),
    }
  }

  /**
   * Proposals of this member waiting to apply (`pending`, etcd's etcd_server_proposals_pending)
   * and how many failed since open (`failed`: timed out, dropped for want of a leader, or cut by
   * a stop; etcd's etcd_server_proposals_failed_total). Read-only and cheap: for metrics.
   */
  proposals(): { readonly pending: number; readonly failed: number } {
    return this.#c.member.proposals
  }

  /** HashKV: a hash of the key-value history up to `revision` (0: now), equal on members that applied the same writes. */
  async hashKV(revision = 0): Promise<{ header: ResponseHeader } & KvHash> {
    await this.#c.member.readBarrier()
    await this.#c.member.restoreBarrier()
    return { header: this.#c.header(), ...this.#c.member.sm.mvcc.hashByRev(revision) }
  }

  /** The whole backend as a stream (consume it to the end, or break out of the loop). */
  snapshot(): AsyncIterable<Uint8Array> {
    return this.#c.member.sm.snapshot()
  }

  /** Rewrites the backend file compactly (writes wait meanwhile). */
  async defragment(): Promise<{ header: ResponseHeader }> {
    const onProgress = this.#c.member.o.onProgress
    await this.#c.member.backend.defragment({ onProgress: onProgress && ((done, total) => onProgress({ phase: 'defragment', done, total })) })
    return { header: this.#c.header() }
  }

  /**
   * Runs a corruption-check round now (on the leader): every member's hashKV at the leader's
   * revision is compared with the leader's; a mismatch raises CORRUPT for that member.
   */
  checkCorruption(): void {
    this.#c.member.checkCorruption()
  }

  /** Throws unless this view may run admin-only maintenance (auth off, or a user with role root), as etcd checks Snapshot, Defragment, HashKV and MoveLeader. */
  checkAdmin(): void {
    const id = this.#c.identity()
    this.#c.member.sm.auth.checkAdmin(id.username === '' ? undefined : { username: id.username, revision: id.authRevision })
  }

  /** The raised alarms. */
  alarms(): readonly Alarm[] {
    return this.#c.member.sm.alarms.list()
  }

  /** Clears an alarm through the log (etcd's Alarm DEACTIVATE). */
  async disarm(alarm: Alarm): Promise<{ header: ResponseHeader }> {
    const outcome = await this.#c.member.propose({ kind: 'alarm', action: 'deactivate', memberId: alarm.memberId, alarm: alarm.alarm }, this.#c.identity())
    return { header: this.#c.header(outcome) }
  }
}
