import assert from 'node:assert'
import type { Rng } from '@strata/seams'
import { randomBelow } from '@strata/seams'
import { encodeConfChangeV2 } from './codec.js'
import type { ConfigAndProgress } from './confchange/confchange.js'
import { Changer } from './confchange/confchange.js'
import { restoreConfState } from './confchange/restore.js'
import { ProposalDroppedError, RaftInvalidOptionError, SnapshotTemporarilyUnavailableError } from './errors.js'
import { isLogGapError, noLimit, RaftLog } from './log.js'
import type { VoteResult } from './quorum/quorum.js'
import type { RaftConfig, SoftState } from './raft-config.js'
import { RAFT_PLANTED_BUGS, resolveConfig, StateType } from './raft-config.js'
import { stepCandidate, stepFollower } from './raft-follower.js'
import { leaderPropose, leaderProposeData, stepLeader } from './raft-leader.js'
import type { ReadState } from './read-only.js'
import { ReadOnly, ReadOnlyOption } from './read-only.js'
import { Inflights } from './tracker/inflights.js'
import { Progress, ProgressState } from './tracker/progress.js'
import { describeConfig, emptyTrackerConfig, ProgressTracker } from './tracker/tracker.js'
import type { ConfChangeV2, ConfState, Entry, HardState, Message, Snapshot } from './types.js'
import {
  ConfChangeTransition, enterJoint, EntryType, entriesSize, isEmptyHardState, isEmptySnap, leaveJoint, message,
  MessageType, messageTypeName, None, payloadsSize, voteRespMsgType,
} from './types.js'

/** Why a node campaigns: a pre-vote round, a real election, or a leader transfer (skips pre-vote). */
type CampaignType = 'pre-election' | 'election' | 'transfer'

/** Context of MsgVote sent by a leadership transferee: voters skip their CheckQuorum lease. */
const campaignTransferCtx = new TextEncoder().encode('CampaignTransfer')

function isCampaignTransfer(ctx: Uint8Array | undefined): boolean {
  if (ctx === undefined || ctx.length !== campaignTransferCtx.length) return false
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== campaignTransferCtx[i]) return false
  return true
}



/**
 * The Raft state machine. Internal: drivers use RawNode. Fields are public so that tests in this
 * package can inspect and arrange state the way etcd's raft tests do.
 */
export { StateType, stateTypeName } from './raft-config.js'
export type { RaftConfig, SoftState } from './raft-config.js'

export class Raft {
  readonly id: number
  term = 0
  vote = None
  readStates: ReadState[] = []
  readonly raftLog: RaftLog
  readonly maxMsgSize: number
  readonly maxUncommittedSize: number
  readonly trk: ProgressTracker
  state: StateType = StateType.Follower
  /** Messages to send once this Ready's state is persisted. */
  msgs: Message[] = []
  /** Responses that may only be sent (or, if to self, stepped) after the log/hard state is durable. */
  msgsAfterAppend: Message[] = []
  lead = None
  /** Invariant: None unless leader and a transfer is in progress. */
  leadTransferee = None
  /** The index of the latest conf change entry in the log; only one may be unapplied at a time. */
  pendingConfIndex = 0
  readonly disableConfChangeValidation: boolean
  /** Payload bytes appended by this leader and not yet applied. */
  uncommittedSize = 0
  readOnly: ReadOnly
  readonly readOnlyOption: ReadOnlyOption
  /** Ticks since the last election timeout (or, for followers, since hearing from the leader). */
  electionElapsed = 0
  heartbeatElapsed = 0
  readonly checkQuorum: boolean
  readonly preVote: boolean
  readonly heartbeatTimeout: number
  readonly electionTimeout: number
  /** Invariant: in [electionTimeout, 2*electionTimeout - 1]; re-drawn on every term reset. */
  randomizedElectionTimeout = 0
  readonly disableProposalForwarding: boolean
  readonly stepDownOnRemoval: boolean
  /** Draws election-timeout jitter; nothing else in raft is random. */
  readonly rng: Rng
  /**
   * Proposals were appended but not yet broadcast. Appends go out with the next Ready anyway,
   * so proposals stepped between two Readies share one MsgApp per follower.
   */
  appendsPending = false
  /** Read requests that arrived before this leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = []
  readonly #logger: ((line: string) => void) | undefined

  /** Planted bug (simulation only): commit entries of earlier terms by counting replicas. */
  readonly #commitAnyTerm: boolean

  constructor(config: RaftConfig) {
    const c = resolveConfig(config)
    this.#commitAnyTerm = (config as { [RAFT_PLANTED_BUGS]?: { commitPreviousTerm?: boolean } })[RAFT_PLANTED_BUGS]?.commitPreviousTerm === true
    this.id = c.id
    this.rng = c.rng
    this.#logger = c.logger
    this.maxMsgSize = c.maxSizePerMsgBytes
    this.raftLog = new RaftLog(c.storage, { maxApplyingEntsSize: c.maxCommittedSizePerReadyBytes })
    this.maxUncommittedSize = c.maxUncommittedEntriesSizeBytes === 0 ? noLimit : c.maxUncommittedEntriesSizeBytes
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes)
    this.electionTimeout = c.electionTick
    this.heartbeatTimeout = c.heartbeatTick
    this.checkQuorum = c.checkQuorum
    this.preVote = c.preVote
    this.readOnlyOption = c.readOnlyOption
    this.readOnly = new ReadOnly(this.readOnlyOption)
    this.disableProposalForwarding = c.disableProposalForwarding
    this.disableConfChangeValidation = c.disableConfChangeValidation
    this.stepDownOnRemoval = c.stepDownOnRemoval
    const { hardState, confState } = c.storage.initialState()
    const restored = restoreConfState(confState, { config: emptyTrackerConfig(), progress: new Map() }, this.#changerOptions())
    this.#switchToConfig(restored)
    if (!isEmptyHardState(hardState)) this.#loadState(hardState)
    if (c.applied > this.raftLog.committed) {
      throw new RaftInvalidOptionError('applied', `${c.applied} is past the persisted commit index ${this.raftLog.committed}; pass the index the application really applied`)
    }
    if (c.applied > 0 && c.applied < this.raftLog.applied) {
      throw new RaftInvalidOptionError('applied', `${c.applied} is below the snapshot index ${this.raftLog.applied}; apply the snapshot first and pass at least its index`)
    }
    if (c.applied > 0) this.raftLog.appliedTo(c.applied)
    this.becomeFollower(this.term, None)
  }

  #changerOptions(): { lastIndex: number; maxInflight: number; maxInflightBytes: number } {
    return { lastIndex: this.raftLog.lastIndex(), maxInflight: this.trk.maxInflight, maxInflightBytes: this.trk.maxInflightBytes }
  }

  #loadState(hs: HardState): void {
    assert(hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(),
      `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`)
    this.raftLog.committed = hs.commit
    this.term = hs.term
    this.vote = hs.vote
  }

  /** Passes one line to the configured logger, if any. */
  log(line: string): void {
    if (this.#logger !== undefined) this.#logger(line)
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed }
  }

  /** Queues a message, stamping sender and term; durable-state-dependent responses wait for persistence. */
  send(m: Message): void {
    let out = m.from === this.id ? m : { ...m, from: this.id }
    const t = m.type
    if (t === MessageType.MsgVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp) {
      // Vote messages carry the term they are about, not necessarily ours (pre-votes use term+1).
      assert(m.term !== 0, `term should be set when sending ${t}`)
    } else {
      assert(m.term === 0, `term should not be set when sending ${t} (was ${m.term})`)
      // Proposals and read requests are forwarded without a term: they are local in spirit.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) out = { ...out, term: this.term }
    }
    if (t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVoteResp) {
      // These acknowledge durable state (appended entries, a recorded vote), so they may only
      // leave once the Ready that carries that state is persisted (etcd #14370).
      this.msgsAfterAppend.push(out)
    } else {
      assert(m.to !== this.id, `message to self must be a response: ${t}`)
      this.msgs.push(out)
    }
  }

  /** Sends MsgApp (or a snapshot) to `to` if it is not paused; sends even with no entries. */
  sendAppend(to: number): void {
    this.maybeSendAppend(to, true)
  }

  /**
   * Sends the next batch of entries to `to`; returns whether a message was sent. Falls back to a
   * snapshot when the entries it needs were compacted.
   */
  maybeSendAppend(to: number, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)
    if (pr === undefined || pr.isPaused()) return false
    const prevIndex = pr.next - 1
    let prevTerm: number
    let ents: readonly Entry[] = []
    try {
      prevTerm = this.raftLog.term(prevIndex)
      // A throttled Replicate follower gets empty appends only: they still elicit acks that free inflights.
      if (pr.state !== ProgressState.Replicate || !pr.inflights.full()) ents = this.raftLog.entries(pr.next, this.maxMsgSize)
    } catch (err) {
      if (!isLogGapError(err)) throw err
      return this.#maybeSendSnapshot(to, pr)
    }
    if (ents.length === 0 && !sendIfEmpty) return false
    const commit = this.raftLog.committed
    this.send(message({ type: MessageType.MsgApp, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit }))
    pr.sentEntries(ents.length, entriesSize(ents))
    pr.sentCommitTo(Math.min(commit, prevIndex + ents.length))
    return true
  }

  #maybeSendSnapshot(to: number, pr: Progress): boolean {
    // An inactive follower may be gone for good; don't spend a snapshot on it until it answers.
    if (!pr.recentActive) return false
    let snapshot: Snapshot
    try {
      snapshot = this.raftLog.snapshot()
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false
      throw err
    }
    assert(!isEmptySnap(snapshot), 'need non-empty snapshot')
    pr.becomeSnapshot(snapshot.metadata.index)
    this.log(`${this.id} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${snapshot.metadata.index}, term: ${snapshot.metadata.term}] to ${to} [${pr.toString()}]`)
    this.send(message({ type: MessageType.MsgSnap, to, snapshot }))
    return true
  }

  sendHeartbeat(to: number, context: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to)!
    // Never tell a follower a commit index beyond what it is known to hold (§7.5).
    const commit = Math.min(pr.match, this.raftLog.committed)
    this.send(message({ type: MessageType.MsgHeartbeat, to, commit, context }))
    pr.sentCommitTo(commit)
  }

  bcastAppend(): void {
    this.appendsPending = false
    this.trk.visit((id) => { if (id !== this.id) this.sendAppend(id) })
  }

  /**
   * Sends the appends that proposals deferred. RawNode calls it from hasReady() and ready(), so
   * the deferred MsgApps are in the Ready that also carries the proposed entries.
   */
  flushAppends(): void {
    if (!this.appendsPending) return
    this.appendsPending = false
    if (this.state === StateType.Leader) this.trk.visit((id) => { if (id !== this.id) this.maybeSendAppend(id, false) })
  }

  bcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingRequestCtx()
    this.trk.visit((id) => { if (id !== this.id) this.sendHeartbeat(id, ctx) })
  }

  /** Advances the commit index to what a quorum holds, if that entry is of the current term. */
  maybeCommit(): boolean {
    const index = this.trk.committed()
    if (this.#commitAnyTerm) return this.raftLog.maybeCommit(index, this.raftLog.zeroTermOnOutOfBounds(index))
    return this.raftLog.maybeCommit(index, this.term)
  }

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = None
    }
    this.lead = None
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.abortLeaderTransfer()
    this.trk.resetVotes()
    const last = this.raftLog.lastIndex()
    for (const [id, old] of this.trk.progress) {
      const pr = new Progress({ next: last + 1, inflights: new Inflights(this.trk.maxInflight, this.trk.maxInflightBytes), isLearner: old.isLearner })
      if (id === this.id) pr.match = last
      this.trk.progress.set(id, pr)
    }
    this.pendingConfIndex = 0
    this.appendsPending = false
    this.uncommittedSize = 0
    this.readOnly = new ReadOnly(this.readOnlyOption)
  }

  /** Appends proposals at the leader; false (nothing appended) if over the uncommitted limit. */
  appendEntry(es: readonly Entry[]): boolean {
    const li = this.raftLog.lastIndex()
    return this.appendStamped(es.map((e, i) => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data })))
  }

  /** {@link appendEntry} of entries already stamped with this term and the indexes after the last. */
  appendStamped(stamped: readonly Entry[]): boolean {
    assert(stamped.length > 0 && stamped[0]!.index === this.raftLog.lastIndex() + 1 && stamped[0]!.term === this.term, 'appendStamped takes entries stamped for the end of the log')
    if (!this.#increaseUncommittedSize(stamped)) return false
    const li = this.raftLog.append(stamped)
    // The leader acks its own entries only once they are durable: the ack waits for advance().
    // One ack covers every entry below it, so an ack still waiting for the next Ready (the
    // last message queued) moves up instead of queueing another: 256 proposals between two
    // Readys are then one self-ack stepped on advance, not 256 (each a quorum computation).
    const n = this.msgsAfterAppend.length
    const last = n > 0 ? this.msgsAfterAppend[n - 1]! : undefined
    if (last !== undefined && last.type === MessageType.MsgAppResp && last.to === this.id && last.from === this.id && last.term === this.term && !last.reject && last.index < li) {
      // Moved up in place: the ack is not handed out yet (ready() takes the queue whole).
      const ack = last as { index: number }
      ack.index = li
    } else {
      this.send(message({ type: MessageType.MsgAppResp, to: this.id, index: li }))
    }
    return true
  }

  tick(): void {
    if (this.state === StateType.Leader) this.#tickHeartbeat()
    else this.#tickElection()
  }

  #tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0
      this.step(message({ type: MessageType.MsgHup, from: this.id }))
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0
      if (this.checkQuorum) this.step(message({ type: MessageType.MsgCheckQuorum, from: this.id }))
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== None) this.abortLeaderTransfer()
    }
    if (this.state !== StateType.Leader) return
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0
      this.step(message({ type: MessageType.MsgBeat, from: this.id }))
    }
  }

  becomeFollower(term: number, lead: number): void {
    this.reset(term)
    this.lead = lead
    this.state = StateType.Follower
    this.log(`${this.id} became follower at term ${this.term}`)
  }

  becomeCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition [leader -> candidate]')
    this.reset(this.term + 1)
    this.vote = this.id
    this.state = StateType.Candidate
    this.log(`${this.id} became candidate at term ${this.term}`)
  }

  becomePreCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition [leader -> pre-candidate]')
    // A pre-candidate changes neither term nor vote (thesis §9.6).
    this.trk.resetVotes()
    this.lead = None
    this.state = StateType.PreCandidate
    this.log(`${this.id} became pre-candidate at term ${this.term}`)
  }

  becomeLeader(): void {
    assert(this.state !== StateType.Follower, 'invalid transition [follower -> leader]')
    this.reset(this.term)
    this.lead = this.id
    this.state = StateType.Leader
    this.log(`${this.id} became leader at term ${this.term}`)
    const self = this.trk.progress.get(this.id)!
    self.becomeReplicate()
    self.recentActive = true
    // Conf changes may be in the uncommitted tail: be conservative and treat the tail as pending.
    this.pendingConfIndex = this.raftLog.lastIndex()
    // Raft §5.4.2 / §8: an entry of the new term lets earlier entries commit and reads proceed.
    const ok = this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }])
    assert(ok, 'empty entry was dropped')
  }

  hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return
    if (!this.promotable()) {
      this.log(`${this.id} is unpromotable and can not campaign`)
      return
    }
    if (this.#hasUnappliedConfChanges()) {
      this.log(`${this.id} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`)
      return
    }
    this.log(`${this.id} is starting a new election at term ${this.term}`)
    this.campaign(t)
  }

  #hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false
    const ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1, noLimit)
    return ents.some((e) => e.type !== EntryType.Normal)
  }

  campaign(t: CampaignType): void {
    if (!this.promotable()) return
    let voteMsg: typeof MessageType.MsgVote | typeof MessageType.MsgPreVote
    let term: number
    if (t === 'pre-election') {
      this.becomePreCandidate()
      voteMsg = MessageType.MsgPreVote
      term = this.term + 1 // pre-votes ask about the term we would campaign in
    } else {
      this.becomeCandidate()
      voteMsg = MessageType.MsgVote
      term = this.term
    }
    const context = t === 'transfer' ? campaignTransferCtx : undefined
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) {
        // Our own vote counts only once the vote is durable: stepped on advance().
        this.send(message({ type: voteRespMsgType(voteMsg), to: id, term }))
        continue
      }
      this.log(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}] sent ${messageTypeName(voteMsg)} request to ${id} at term ${term}`)
      this.send(message({ type: voteMsg, to: id, term, index: this.raftLog.lastIndex(), logTerm: this.raftLog.lastTerm(), context }))
    }
  }

  poll(id: number, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted)
    return this.trk.tallyVotes().result
  }

  /**
   * A proposal from this node's own driver. On the leader a conf change it refuses throws
   * ProposalDroppedError instead of becoming an empty entry; elsewhere it is stepped as usual
   * (a follower forwards it, and the leader's refusal is then silent, as in etcd).
   */
  proposeLocal(m: Message): void {
    assert(m.type === MessageType.MsgProp && m.term === 0, 'proposeLocal takes a local MsgProp')
    if (this.state === StateType.Leader) leaderPropose(this, m, true)
    else this.step(m)
  }

  /** proposeLocal of one normal entry holding `data`; on the leader without building a MsgProp. */
  proposeData(data: Uint8Array): void {
    if (this.state === StateType.Leader) leaderProposeData(this, data)
    else this.step(message({ type: MessageType.MsgProp, from: this.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }))
  }

  /** Steps one message; throws ProposalDroppedError for proposals/reads that cannot be taken. */
  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (!this.#stepHigherTerm(m)) return
    } else if (m.term < this.term) {
      this.#stepLowerTerm(m)
      return
    }
    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? 'pre-election' : 'election')
        return
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.#stepVoteRequest(m)
        return
      default:
        if (this.state === StateType.Leader) stepLeader(this, m)
        else if (this.state === StateType.Follower) stepFollower(this, m)
        else stepCandidate(this, m)
    }
  }

  /** Term rules for a message from a higher term (§7.3). Returns false to ignore the message. */
  #stepHigherTerm(m: Message): boolean {
    if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
      const force = isCampaignTransfer(m.context)
      const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout
      // Within a leader lease, ignore disruptive campaigns entirely (thesis §4.2.3).
      if (!force && inLease) {
        this.log(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}] ignored ${messageTypeName(m.type)} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`)
        return false
      }
    }
    if (m.type === MessageType.MsgPreVote) {
      // Never change our term in response to a pre-vote.
    } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
      // Pre-votes are asked for a future term; a grant does not move us there.
    } else {
      this.log(`${this.id} [term: ${this.term}] received a ${messageTypeName(m.type)} message with higher term from ${m.from} [term: ${m.term}]`)
      const leads = m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap
      this.becomeFollower(m.term, leads ? m.from : None)
    }
    return true
  }

  #stepLowerTerm(m: Message): void {
    if ((this.checkQuorum || this.preVote) && (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)) {
      // A stale leader cut off by a partition learns the new term from this reply and steps
      // down; without it, its pre-votes/CheckQuorum could keep it stuck (etcd #5451).
      this.send(message({ type: MessageType.MsgAppResp, to: m.from }))
    } else if (m.type === MessageType.MsgPreVote) {
      this.send(message({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true }))
    }
  }

  #stepVoteRequest(m: Message): void {
    // §5.2, §5.4: one vote per term, only for candidates at least as up to date as we are.
    const canVote = this.vote === m.from || (this.vote === None && this.lead === None) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term)
    const desc = `${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}]`
    const what = `${messageTypeName(m.type)} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.log(`${desc} cast ${what}`)
      this.send(message({ type: voteRespMsgType(m.type), to: m.from, term: m.term }))
      if (m.type === MessageType.MsgVote) {
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.log(`${desc} rejected ${what}`)
      this.send(message({ type: voteRespMsgType(m.type), to: m.from, term: this.term, reject: true }))
    }
  }

  /** Installs a snapshot from the leader; false if it is stale or already covered by our log. */
  restore(s: Snapshot): boolean {
    const meta = s.metadata
    if (meta.index <= this.raftLog.committed) return false
    if (this.state !== StateType.Follower) {
      // Defensive: only followers install snapshots; bump the term so a new leader emerges.
      this.becomeFollower(this.term + 1, None)
      return false
    }
    const cs = meta.confState
    const found = [...cs.voters, ...cs.learners, ...cs.votersOutgoing].includes(this.id)
    if (!found) return false
    if (this.raftLog.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry: just fast-forward the commit index.
      this.raftLog.commitTo(meta.index)
      return false
    }
    this.raftLog.restore(s)
    const restored = restoreConfState(cs, { config: emptyTrackerConfig(), progress: new Map() }, this.#changerOptions())
    this.#switchToConfig(restored)
    const pr = this.trk.progress.get(this.id)!
    pr.maybeUpdate(pr.next - 1)
    return true
  }

  promotable(): boolean {
    const pr = this.trk.progress.get(this.id)
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot()
  }

  /** Applies a committed conf change; returns the resulting ConfState. Throws ConfChangeError. */
  applyConfChange(cc: ConfChangeV2): ConfState {
    const changer = new Changer({ config: this.trk.config, progress: this.trk.progress }, this.#changerOptions())
    let next: ConfigAndProgress
    if (leaveJoint(cc)) {
      next = changer.leaveJoint()
    } else {
      const j = enterJoint(cc)
      next = j.joint ? changer.enterJoint(j.autoLeave, cc.changes) : changer.simple(cc.changes)
    }
    return this.#switchToConfig(next)
  }

  #switchToConfig(next: ConfigAndProgress): ConfState {
    this.trk.config = next.config
    this.trk.progress = next.progress
    this.log(`${this.id} switched to configuration ${describeConfig(this.trk.config)}`)
    const cs = this.trk.confState()
    const pr = this.trk.progress.get(this.id)
    if ((pr === undefined || pr.isLearner) && this.state === StateType.Leader) {
      // Removed or demoted: keep leading until a successor appears unless asked to step down.
      if (this.stepDownOnRemoval) this.becomeFollower(this.term, None)
      return cs
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs
    if (this.maybeCommit()) {
      // The new quorum may already hold more entries than the old one did.
      this.bcastAppend()
    } else {
      // New peers must be probed without waiting for a heartbeat.
      this.trk.visit((id) => { if (id !== this.id) this.maybeSendAppend(id, false) })
    }
    if (this.leadTransferee !== None && !this.trk.config.voters.ids().includes(this.leadTransferee)) this.abortLeaderTransfer()
    return cs
  }

  /** The application applied entries up to `index` (payload bytes `size`); may auto-leave joint. */
  appliedTo(index: number, size: number): void {
    const newApplied = Math.max(index, this.raftLog.applied)
    this.raftLog.appliedTo(newApplied)
    this.#reduceUncommittedSize(size)
    if (this.trk.config.autoLeave && newApplied >= this.pendingConfIndex && this.state === StateType.Leader) {
      // The joint config this leader proposed is applied: propose leaving it (empty V2 change).
      const data = encodeConfChangeV2({ transition: ConfChangeTransition.Auto, changes: [], context: new Uint8Array(0) })
      this.log(`${this.id} initiating automatic transition out of joint configuration ${describeConfig(this.trk.config)}`)
      try {
        this.step(message({ type: MessageType.MsgProp, from: this.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data }] }))
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err
      }
    }
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout
  }

  resetRandomizedElectionTimeout(): void {
    // Uniform in [electionTimeout, 2*electionTimeout - 1] (no modulo bias), a pure function of the rng's outputs.
    this.randomizedElectionTimeout = this.electionTimeout + randomBelow(this.rng, this.electionTimeout)
  }

  sendTimeoutNow(to: number): void {
    this.send(message({ type: MessageType.MsgTimeoutNow, to }))
  }

  abortLeaderTransfer(): void {
    if (this.leadTransferee !== None) this.log(`${this.id} [term ${this.term}] abort previous transferring leadership to ${this.leadTransferee}`)
    this.leadTransferee = None
  }

  #increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadsSize(ents)
    // An empty tail always takes one proposal, however large, so nothing is stuck forever.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false
    this.uncommittedSize += s
    return true
  }

  #reduceUncommittedSize(s: number): void {
    // Followers never increase it; entries from a previous leadership may be applied after reset.
    this.uncommittedSize = Math.max(0, this.uncommittedSize - s)
  }
}

