import assert from 'node:assert'
import { encodeConfChange, encodeConfChangeV2 } from './codec.js'
import { RaftInvalidArgumentError, StepLocalMsgError, StepPeerNotFoundError } from './errors.js'
import type { RaftConfig, SoftState } from './raft.js'
import { Raft, StateType } from './raft.js'
import type { ReadState } from './read-only.js'
import type { ProgressState } from './tracker/progress.js'
import { checkBytes, checkConfChange, checkMessage, checkNodeId } from './validate.js'
import type { ConfChange, ConfChangeV2, ConfState, Entry, HardState, Message, Snapshot } from './types.js'
import {
  EntryType, hardStateEqual, isEmptyHardState, isLocalMsg, isResponseMsg, message, MessageType, messageTypeName,
  payloadsSize,
} from './types.js'

/**
 * Everything raft wants the driver to do, in this order: persist `snapshot`, `entries` and
 * `hardState` (fsync if `mustSync`); then send `messages`; then apply `snapshot` and
 * `committedEntries`; then call `advance()`. Fields are only set when something changed.
 */
export interface Ready {
  readonly softState: SoftState | undefined
  readonly hardState: HardState | undefined
  readonly readStates: readonly ReadState[]
  /** Entries to persist before sending messages (entries at index ≥ i replace any persisted at ≥ i). */
  readonly entries: readonly Entry[]
  readonly snapshot: Snapshot | undefined
  /** Entries to apply, in order; they are durable once this Ready's persistence step is done. */
  readonly committedEntries: readonly Entry[]
  /** Messages to send after persisting; after sending a MsgSnap call reportSnapshot. */
  readonly messages: readonly Message[]
  /** Whether the persisted state must be fsynced before sending. */
  readonly mustSync: boolean
}

export const SnapshotStatus = { Finish: 1, Failure: 2 } as const
export type SnapshotStatus = (typeof SnapshotStatus)[keyof typeof SnapshotStatus]

export interface ProgressStatus {
  readonly match: number
  readonly next: number
  readonly state: ProgressState
  readonly isLearner: boolean
  readonly recentActive: boolean
  readonly paused: boolean
  readonly pendingSnapshot: number
  readonly inflight: number
}

export interface Status {
  readonly id: number
  readonly hardState: HardState
  readonly softState: SoftState
  readonly applied: number
  readonly leadTransferee: number
  readonly confState: ConfState
  /** Per-member progress; only on the leader. */
  readonly progress: ReadonlyMap<number, ProgressStatus> | undefined
}

interface Accepted {
  readonly lastEntry: { readonly index: number; readonly term: number } | undefined
  readonly snapshotIndex: number | undefined
  readonly lastCommitted: number | undefined
  readonly committedSize: number
  /** Responses addressed to ourselves, stepped once the Ready is persisted. */
  readonly stepsOnAdvance: readonly Message[]
}

let raftOfRawNode: (rn: RawNode) => Raft

/**
 * The state machine behind a RawNode, for this package's tests and tools (exported from
 * `@strata/raft/internal` only): reading it is fine, driving it directly bypasses the Ready
 * contract.
 */
export function rawNodeRaft(rn: RawNode): Raft {
  return raftOfRawNode(rn)
}

/**
 * The driver-facing handle on a Raft state machine. Not thread-safe in spirit: one driver loop
 * owns it and alternates input calls with `ready()`/`advance()`.
 */
export class RawNode {
  readonly #raft: Raft
  #prevSoftState: SoftState
  #prevHardState: HardState
  /** Invariant: set between `ready()` and `advance()`, undefined otherwise. */
  #accepted: Accepted | undefined = undefined

  constructor(config: RaftConfig) {
    this.#raft = new Raft(config)
    this.#prevSoftState = this.#raft.softState()
    this.#prevHardState = this.#raft.hardState()
  }

  static {
    raftOfRawNode = (rn) => rn.#raft
  }

  /** Advances the logical clock by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.#raft.tick()
  }

  /** Starts an election now (a pre-vote round first if preVote is on). */
  campaign(): void {
    this.#raft.step(message({ type: MessageType.MsgHup, from: this.#raft.id }))
  }

  /**
   * Proposes data to be appended. Throws ProposalDroppedError (ERR_RAFT_PROPOSAL_DROPPED) when it
   * cannot be taken (see its reasons), RaftInvalidArgumentError when `data` is not a Uint8Array.
   */
  propose(data: Uint8Array): void {
    checkBytes('data', data)
    this.#raft.proposeData(data)
  }

  /**
   * Proposes a configuration change (V1 or V2); it takes effect when applied via applyConfChange.
   * On the leader, a change that validation refuses throws ProposalDroppedError with reason
   * `conf-change-pending` (an earlier change is not applied yet; retry after it applies),
   * `conf-change-in-joint` or `conf-change-not-joint`, and nothing is appended. On a follower
   * the change is forwarded, and a refusal by the leader is silent (an empty entry in its place).
   * A change of unknown `type`/`transition`, or a `nodeId` that is not a positive safe integer,
   * throws RaftInvalidArgumentError.
   */
  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    checkConfChange('cc', cc)
    const entry: Entry = 'changes' in cc
      ? { term: 0, index: 0, type: EntryType.ConfChangeV2, data: encodeConfChangeV2(cc) }
      : { term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }
    this.#raft.proposeLocal(message({ type: MessageType.MsgProp, from: this.#raft.id, entries: [entry] }))
  }

  /**
   * Steps a message from the network. Throws StepLocalMsgError for local-only types,
   * StepPeerNotFoundError for a response from a non-member, RaftInvalidArgumentError for a
   * malformed message (unknown type, unsafe numbers, a MsgSnap without a snapshot, ...),
   * ProposalDroppedError for a forwarded proposal or read this node cannot take.
   */
  step(m: Message): void {
    checkMessage('m', m)
    if (isLocalMsg(m.type)) throw new StepLocalMsgError(messageTypeName(m.type))
    if (isResponseMsg(m.type) && !this.#raft.trk.progress.has(m.from)) throw new StepPeerNotFoundError(m.from)
    this.#raft.step(m)
  }

  /** Applies a committed conf change entry's change; returns the new ConfState (to persist with snapshots). */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    checkConfChange('cc', cc)
    const v2: ConfChangeV2 = 'changes' in cc ? cc : { transition: 0, changes: [{ type: cc.type, nodeId: cc.nodeId }], context: cc.context }
    return this.#raft.applyConfChange(v2)
  }

  hasReady(): boolean {
    const r = this.#raft
    r.flushAppends()
    const ss = r.softState()
    if (ss.lead !== this.#prevSoftState.lead || ss.raftState !== this.#prevSoftState.raftState) return true
    const hs = r.hardState()
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.#prevHardState)) return true
    if (r.raftLog.hasPendingSnapshot()) return true
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0 || r.raftLog.unstableEntries().length > 0) return true
    return r.raftLog.hasNextCommittedEnts() || r.readStates.length > 0
  }

  /**
   * Takes the pending work. The caller must follow the Ready's processing order and call
   * `advance()` before the next `ready()`.
   */
  ready(): Ready {
    assert(this.#accepted === undefined, 'two accepted Ready structs without call to Advance')
    const r = this.#raft
    r.flushAppends()
    const ss = r.softState()
    const hs = r.hardState()
    const softChanged = ss.lead !== this.#prevSoftState.lead || ss.raftState !== this.#prevSoftState.raftState
    const hardChanged = !isEmptyHardState(hs) && !hardStateEqual(hs, this.#prevHardState)
    const entries = r.raftLog.unstableEntries().slice()
    const committedEntries = r.raftLog.nextCommittedEnts()
    const snapshot = r.raftLog.unstable.snapshot
    const toSelf: Message[] = []
    const messages = r.msgs
    for (const m of r.msgsAfterAppend) {
      if (m.to === r.id) toSelf.push(m)
      else messages.push(m)
    }
    const rd: Ready = {
      softState: softChanged ? ss : undefined,
      hardState: hardChanged ? hs : undefined,
      readStates: r.readStates,
      entries, snapshot, committedEntries, messages,
      mustSync: entries.length > 0 || hs.term !== this.#prevHardState.term || hs.vote !== this.#prevHardState.vote,
    }
    if (softChanged) this.#prevSoftState = ss
    if (hardChanged) this.#prevHardState = hs
    r.msgs = []
    r.msgsAfterAppend = []
    r.readStates = []
    const last = entries[entries.length - 1]
    const lastCommitted = committedEntries[committedEntries.length - 1]
    this.#accepted = {
      lastEntry: last === undefined ? undefined : { index: last.index, term: last.term },
      snapshotIndex: snapshot?.metadata.index,
      lastCommitted: lastCommitted?.index,
      committedSize: payloadsSize(committedEntries),
      stepsOnAdvance: toSelf,
    }
    return rd
  }

  /** The last Ready was persisted, sent and applied: move raft's stable and applied marks. */
  advance(): void {
    const acc = this.#accepted
    assert(acc !== undefined, 'advance() without a pending ready()')
    this.#accepted = undefined
    const r = this.#raft
    if (acc.snapshotIndex !== undefined) r.raftLog.stableSnapTo(acc.snapshotIndex)
    if (acc.lastEntry !== undefined) r.raftLog.stableTo(acc.lastEntry.index, acc.lastEntry.term)
    // Durable now: our own acks and votes may count (etcd #14370).
    for (const m of acc.stepsOnAdvance) r.step(m)
    if (acc.snapshotIndex !== undefined) r.appliedTo(acc.snapshotIndex, 0)
    if (acc.lastCommitted !== undefined) r.appliedTo(acc.lastCommitted, acc.committedSize)
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: number): void {
    checkNodeId('transferee', transferee)
    this.#raft.step(message({ type: MessageType.MsgTransferLeader, from: transferee }))
  }

  /** Forgets the current leader (a follower then grants votes without waiting out the lease). */
  forgetLeader(): void {
    this.#raft.step(message({ type: MessageType.MsgForgetLeader }))
  }

  /**
   * Requests a linearizable read point; the answer arrives as a ReadState with `requestCtx`.
   * Throws ProposalDroppedError if there is no leader to ask.
   */
  readIndex(requestCtx: Uint8Array): void {
    checkBytes('requestCtx', requestCtx)
    this.#raft.step(message({ type: MessageType.MsgReadIndex, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: requestCtx }] }))
  }

  /** The transport failed to deliver to `id`. */
  reportUnreachable(id: number): void {
    checkNodeId('id', id)
    this.#raft.step(message({ type: MessageType.MsgUnreachable, from: id }))
  }

  /** Result of sending a MsgSnap to `id`. */
  reportSnapshot(id: number, status: SnapshotStatus): void {
    checkNodeId('id', id)
    if (status !== SnapshotStatus.Finish && status !== SnapshotStatus.Failure) {
      throw new RaftInvalidArgumentError('status', `must be SnapshotStatus.Finish (1) or SnapshotStatus.Failure (2), got ${String(status)}`)
    }
    this.#raft.step(message({ type: MessageType.MsgSnapStatus, from: id, reject: status === SnapshotStatus.Failure }))
  }

  status(): Status {
    const r = this.#raft
    let progress: Map<number, ProgressStatus> | undefined
    if (r.state === StateType.Leader) {
      progress = new Map()
      r.trk.visit((id, pr) => progress!.set(id, {
        match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive,
        paused: pr.isPaused(), pendingSnapshot: pr.pendingSnapshot, inflight: pr.inflights.count,
      }))
    }
    return {
      id: r.id, hardState: r.hardState(), softState: r.softState(), applied: r.raftLog.applied,
      leadTransferee: r.leadTransferee, confState: r.trk.confState(), progress,
    }
  }

  /** The role of this node (a shortcut for status().softState.raftState). */
  get state(): StateType {
    return this.#raft.state
  }

  /** The leader this node knows of, or None (0). */
  get lead(): number {
    return this.#raft.lead
  }
}
