import assert from 'node:assert'
import { decodeConfChange, decodeConfChangeV2 } from './codec.js'
import { describeChanges } from './describe.js'
import { ProposalDroppedError } from './errors.js'
import { VoteResult } from './quorum/quorum.js'
import type { Raft } from './raft.js'
import { ReadOnlyOption } from './read-only.js'
import type { Progress } from './tracker/progress.js'
import { ProgressState } from './tracker/progress.js'
import { describeConfig } from './tracker/tracker.js'
import type { ConfChangeV2, Entry, Message } from './types.js'
import { confChangeAsV2, EntryType, leaveJoint, message, MessageType, None } from './types.js'

/**
 * The leader's side of `Raft.step` (etcd's stepLeader): proposals, read index, heartbeats,
 * replication responses, snapshot and transport feedback, leadership transfer.
 */

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgBeat:
      r.bcastHeartbeat()
      return
    case MessageType.MsgCheckQuorum:
      if (!r.trk.quorumActive()) {
        r.log(`${r.id} stepped down to follower since quorum is not active`)
        r.becomeFollower(r.term, None)
      }
      // Each round starts from scratch: peers must prove themselves active again.
      r.trk.visit((id, pr) => { if (id !== r.id) pr.recentActive = false })
      return
    case MessageType.MsgProp:
      leaderPropose(r, m)
      return
    case MessageType.MsgReadIndex:
      leaderReadIndex(r, m)
      return
    case MessageType.MsgForgetLeader:
      return
  }
  const pr = r.trk.progress.get(m.from)
  if (pr === undefined) return
  switch (m.type) {
    case MessageType.MsgAppResp: handleAppendResponse(r, m, pr); return
    case MessageType.MsgHeartbeatResp: handleHeartbeatResponse(r, m, pr); return
    case MessageType.MsgSnapStatus:
      if (pr.state !== ProgressState.Snapshot) return
      // Either way, wait for the follower's MsgAppResp (or a heartbeat response) before sending more.
      if (m.reject) pr.pendingSnapshot = 0
      pr.becomeProbe()
      pr.msgAppFlowPaused = true
      return
    case MessageType.MsgUnreachable:
      // The transport lost a message: optimistic pipelining is pointless, go back to probing.
      if (pr.state === ProgressState.Replicate) pr.becomeProbe()
      return
    case MessageType.MsgTransferLeader:
      leaderTransfer(r, m, pr)
      return
  }
}

/**
 * Appends proposals (conf changes validated, one unapplied at a time) and defers the broadcast
 * to the Ready. A conf change the leader refuses is replaced by an empty normal entry (etcd's
 * behaviour, kept for proposals stepped as MsgProp: forwarded ones and the automatic
 * leave-joint), or, when `strict` (RawNode.proposeConfChange on the leader), refused with a
 * ProposalDroppedError before anything is appended.
 */
export function leaderPropose(r: Raft, m: Message, strict = false): void {
  assert(m.entries.length > 0, `${r.id} stepped empty MsgProp`)
  checkLeaderTakesProposals(r)
  let ents: readonly Entry[] = m.entries // copied only when an entry is replaced below
  let pendingConfIndex = r.pendingConfIndex
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!
    if (e.type === EntryType.Normal) continue
    const cc = e.type === EntryType.ConfChange ? confChangeAsV2(decodeConfChange(e.data)) : decodeConfChangeV2(e.data)
    const refusal = confChangeRefusal(r, cc, pendingConfIndex)
    if (refusal === undefined) {
      pendingConfIndex = r.raftLog.lastIndex() + i + 1
      continue
    }
    if (strict) throw new ProposalDroppedError(refusal.reason, refusal.message, refusal.context)
    r.log(`${r.id} ignoring conf change ${describeChanges(cc.changes) || 'leave-joint'} at config ${describeConfig(r.trk.config)}: ${refusal.message}`)
    // Replace rather than drop, so the proposal's position in the batch is preserved.
    const replaced = ents.slice()
    replaced[i] = { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }
    ents = replaced
  }
  if (!r.appendEntry(ents)) throw uncommittedLimit(r)
  r.pendingConfIndex = pendingConfIndex
  r.appendsPending = true
}

/**
 * {@link leaderPropose} of one normal entry holding `data` (RawNode.propose on the leader, once
 * per request): the entry is made stamped, with no MsgProp, entry list or unstamped entry built
 * around it first.
 */
export function leaderProposeData(r: Raft, data: Uint8Array): void {
  checkLeaderTakesProposals(r)
  if (!r.appendStamped([{ term: r.term, index: r.raftLog.lastIndex() + 1, type: EntryType.Normal, data }])) throw uncommittedLimit(r)
  r.appendsPending = true
}

function checkLeaderTakesProposals(r: Raft): void {
  if (!r.trk.progress.has(r.id)) throw new ProposalDroppedError('leader-removed', 'this leader was removed from the configuration; retry on the next leader')
  if (r.leadTransferee !== None) throw new ProposalDroppedError('leader-transfer', `leadership is being transferred to ${r.leadTransferee}; retry on the new leader`, { transferee: r.leadTransferee })
}

function uncommittedLimit(r: Raft): ProposalDroppedError {
  return new ProposalDroppedError('uncommitted-limit', `uncommitted entries would exceed ${r.maxUncommittedSize} bytes; retry once earlier entries commit`, { uncommittedBytes: r.uncommittedSize })
}

export interface ConfChangeRefusal {
  readonly reason: 'conf-change-pending' | 'conf-change-in-joint' | 'conf-change-not-joint'
  readonly message: string
  readonly context: Readonly<Record<string, unknown>>
}

/**
 * Why a conf change must not be appended now, or undefined if it may (§7.8 propose-time
 * validation): one unapplied conf change at a time, and while joint only the leave-joint change.
 */
export function confChangeRefusal(r: Raft, cc: ConfChangeV2, pendingConfIndex = r.pendingConfIndex): ConfChangeRefusal | undefined {
  if (r.disableConfChangeValidation) return undefined
  const applied = r.raftLog.applied
  const joint = r.trk.config.voters.isJoint()
  const wantsLeave = leaveJoint(cc)
  if (pendingConfIndex > applied) {
    return {
      reason: 'conf-change-pending', context: { pendingIndex: pendingConfIndex, applied },
      message: `a conf change at index ${pendingConfIndex} may not be applied yet (applied ${applied}); retry after it applies`,
    }
  }
  if (joint && !wantsLeave) {
    return {
      reason: 'conf-change-in-joint', context: { applied },
      message: 'the configuration is joint; leave it first (an empty ConfChangeV2 with the Auto transition, or wait for the automatic leave) and retry',
    }
  }
  if (!joint && wantsLeave) {
    return { reason: 'conf-change-not-joint', context: { applied }, message: 'the configuration is not joint, so there is nothing to leave' }
  }
  return undefined
}

/** ReadIndex at the leader (thesis §6.4): answer at once, after a heartbeat round, or after the first commit. */
export function leaderReadIndex(r: Raft, m: Message): void {
  // A single voter is a quorum by itself: its commit index is already confirmed.
  if (r.trk.isSingleton()) {
    const resp = responseToReadIndexReq(r, m, r.raftLog.committed)
    if (resp !== undefined) r.send(resp)
    return
  }
  // Until it commits an entry of its term, a new leader does not know the commit index (§8).
  if (!committedEntryInCurrentTerm(r)) {
    r.pendingReadIndexMessages.push(m)
    return
  }
  sendMsgReadIndexResponse(r, m)
}

/** Starts a leadership transfer to `m.from` (thesis §3.10). */
export function leaderTransfer(r: Raft, m: Message, pr: Progress): void {
  if (pr.isLearner) return
  const transferee = m.from
  if (r.leadTransferee !== None) {
    if (r.leadTransferee === transferee) return
    r.abortLeaderTransfer()
  }
  if (transferee === r.id) return
  r.log(`${r.id} [term ${r.term}] starts to transfer leadership to ${transferee}`)
  // The transfer must finish within one election timeout.
  r.electionElapsed = 0
  r.leadTransferee = transferee
  if (pr.match === r.raftLog.lastIndex()) r.sendTimeoutNow(transferee)
  else r.sendAppend(transferee)
}

/** A follower acknowledged or rejected a MsgApp: update its progress, maybe commit, send more. */
export function handleAppendResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true
  if (m.reject) {
    let nextProbeIdx = m.rejectHint
    // Skip every entry of the follower's conflicting term at once (fast backtracking).
    if (m.logTerm > 0) nextProbeIdx = r.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index
    if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
      if (pr.state === ProgressState.Replicate) pr.becomeProbe()
      r.sendAppend(m.from)
    }
    return
  }
  if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe))) return
  if (pr.state === ProgressState.Probe) {
    pr.becomeReplicate()
  } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= r.raftLog.firstIndex()) {
    // The follower caught up past the compaction point (e.g. via an append after the
    // snapshot): plain appends work again (etcd PR #10308).
    pr.becomeProbe()
    pr.becomeReplicate()
  } else if (pr.state === ProgressState.Replicate) {
    pr.inflights.freeLE(m.index)
  }
  if (r.maybeCommit()) {
    releasePendingReadIndexMessages(r)
    r.bcastAppend()
  } else if (m.from !== r.id && pr.canBumpCommit(r.raftLog.committed)) {
    // The follower may not know the latest commit index yet: tell it.
    r.sendAppend(m.from)
  }
  if (m.from !== r.id) {
    // Acks free inflight slots: send as many size-limited batches as now fit.
    while (r.maybeSendAppend(m.from, false)) { /* keep sending */ }
  }
  if (m.from === r.leadTransferee && pr.match === r.raftLog.lastIndex()) r.sendTimeoutNow(m.from)
}

/** A heartbeat response: the follower is alive; resume sending and count read-index acks. */
export function handleHeartbeatResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true
  pr.msgAppFlowPaused = false
  if (pr.match < r.raftLog.lastIndex() || pr.state === ProgressState.Probe) r.sendAppend(m.from)
  if (r.readOnly.option !== ReadOnlyOption.Safe || m.context === undefined || m.context.length === 0) return
  const acks = r.readOnly.recvAck(m.from, m.context)
  if (acks === undefined || r.trk.config.voters.voteResult(acks) !== VoteResult.Won) return
  for (const rs of r.readOnly.advance(m)) {
    const resp = responseToReadIndexReq(r, rs.req, rs.index)
    if (resp !== undefined) r.send(resp)
  }
}

/** Whether this leader has committed an entry of its own term (it then knows the commit index). */
export function committedEntryInCurrentTerm(r: Raft): boolean {
  return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.committed) === r.term
}

/** A read answered at `readIndex`: a local ReadState, or a MsgReadIndexResp for a forwarded request. */
export function responseToReadIndexReq(r: Raft, req: Message, readIndex: number): Message | undefined {
  if (req.from === None || req.from === r.id) {
    r.readStates.push({ index: readIndex, requestCtx: req.entries[0]!.data })
    return undefined
  }
  return message({ type: MessageType.MsgReadIndexResp, to: req.from, index: readIndex, entries: req.entries })
}

/** Answers a read now (lease-based) or starts a heartbeat round to confirm leadership (safe). */
export function sendMsgReadIndexResponse(r: Raft, m: Message): void {
  if (r.readOnly.option === ReadOnlyOption.Safe) {
    const ctx = m.entries[0]!.data
    r.readOnly.addRequest(r.raftLog.committed, m)
    r.readOnly.recvAck(r.id, ctx)
    r.trk.visit((id) => { if (id !== r.id) r.sendHeartbeat(id, ctx) })
    return
  }
  const resp = responseToReadIndexReq(r, m, r.raftLog.committed)
  if (resp !== undefined) r.send(resp)
}

/** Answers the reads that waited for this leader's first commit. */
export function releasePendingReadIndexMessages(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0 || !committedEntryInCurrentTerm(r)) return
  const msgs = r.pendingReadIndexMessages
  r.pendingReadIndexMessages = []
  for (const m of msgs) sendMsgReadIndexResponse(r, m)
}
