import type { Alarm, ApplyOutcome } from '@strata/apply'
import type { KvHash } from '@strata/mvcc'
import type { Identity, Member } from './member.js'
import type { ResponseHeader } from './store.js'

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
  readonly #member: Member
  readonly #identity: () => Identity
  readonly #header: (o?: ApplyOutcome) => ResponseHeader

  constructor(member: Member, identity: () => Identity, header: (o?: ApplyOutcome) => ResponseHeader) {
    this.#member = member
    this.#identity = identity
    this.#header = header
  }

  status(): StatusResponse {
    const m = this.#member
    const st = m.raftStatus
    const stats = m.backend.stats()
    return {
      header: this.#header(), leader: m.leader, raftIndex: st.hardState.commit, raftTerm: st.hardState.term,
      raftAppliedIndex: m.sm.applied.index, dbSizeBytes: stats.sizeBytes, dbSizeInUseBytes: stats.sizeInUseBytes,
      isLearner: m.sm.applied.confState.learners.includes(m.memberId), alarms: m.sm.alarms.list(),
    }
  }

  /** HashKV: a hash of the key-value history up to `revision` (0: now), equal on members that applied the same writes. */
  async hashKV(revision = 0): Promise<{ header: ResponseHeader } & KvHash> {
    await this.#member.readBarrier()
    return { header: this.#header(), ...this.#member.sm.mvcc.hashByRev(revision) }
  }

  /** The whole backend as a stream (consume it to the end, or break out of the loop). */
  snapshot(): AsyncIterable<Uint8Array> {
    return this.#member.sm.snapshot()
  }

  /** Rewrites the backend file compactly (writes wait meanwhile). */
  async defragment(): Promise<{ header: ResponseHeader }> {
    const size = this.#member.backend.stats().sizeBytes
    this.#member.o.onProgress?.({ phase: 'defragment', done: 0, total: size })
    await this.#member.backend.defragment()
    this.#member.o.onProgress?.({ phase: 'defragment', done: size, total: size })
    return { header: this.#header() }
  }

  /**
   * Runs a corruption-check round now (on the leader): every member's hashKV at the leader's
   * revision is compared with the leader's; a mismatch raises CORRUPT for that member.
   */
  checkCorruption(): void {
    this.#member.checkCorruption()
  }

  /** The raised alarms. */
  alarms(): readonly Alarm[] {
    return this.#member.sm.alarms.list()
  }

  /** Clears an alarm through the log (etcd's Alarm DEACTIVATE). */
  async disarm(alarm: Alarm): Promise<{ header: ResponseHeader }> {
    const outcome = await this.#member.propose({ kind: 'alarm', action: 'deactivate', memberId: alarm.memberId, alarm: alarm.alarm }, this.#identity())
    return { header: this.#header(outcome) }
  }
}
