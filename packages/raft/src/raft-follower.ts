import assert from 'node:assert'
import { ProposalDroppedError } from './errors.js'
import { VoteResult } from './quorum/quorum.js'
import type { Raft } from './raft.js'
import { StateType } from './raft-config.js'
import { ReadOnlyOption } from './read-only.js'
import type { Message } from './types.js'
import { message, MessageType, messageTypeName, None } from './types.js'

/**
 * The candidate's and the follower's side of `Raft.step`: votes, appends, heartbeats, snapshots,
 * forwarding, read-index responses and leadership-transfer timeouts.
 */

export function stepCandidate(r: Raft, m: Message): void {
  const myVoteResp = r.state === StateType.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp
  switch (m.type) {
    case MessageType.MsgProp:
      throw new ProposalDroppedError('no-leader', 'no leader is known; retry once one is elected')
    case MessageType.MsgApp:
      r.becomeFollower(m.term, m.from) // always m.term === r.term
      handleAppendEntries(r, m)
      return
    case MessageType.MsgHeartbeat:
      r.becomeFollower(m.term, m.from)
      handleHeartbeat(r, m)
      return
    case MessageType.MsgSnap:
      r.becomeFollower(m.term, m.from)
      handleSnapshot(r, m)
      return
    case MessageType.MsgTimeoutNow:
      return
  }
  if (m.type !== myVoteResp) return
  r.log(`${r.id} received ${messageTypeName(m.type)}${m.reject ? ' rejection' : ''} from ${m.from} at term ${r.term}`)
  const res = r.poll(m.from, !m.reject)
  const tally = r.trk.tallyVotes()
  r.log(`${r.id} has received ${tally.granted} ${messageTypeName(m.type)} votes and ${tally.rejected} vote rejections`)
  if (res === VoteResult.Won) {
    if (r.state === StateType.PreCandidate) {
      r.campaign('election')
    } else {
      r.becomeLeader()
      r.bcastAppend()
    }
  } else if (res === VoteResult.Lost) {
    // A pre-vote rejection may carry a newer term; stepping handled it. Stay at our term.
    r.becomeFollower(r.term, None)
  }
}

/** Messages to a follower at its own term: replication from the leader, forwarding of proposals and reads. */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (r.lead === None) throw new ProposalDroppedError('no-leader', 'no leader is known; retry once one is elected')
      if (r.disableProposalForwarding) throw new ProposalDroppedError('forwarding-disabled', 'this follower does not forward proposals (disableProposalForwarding); propose on the leader')
      r.send({ ...m, to: r.lead })
      return
    case MessageType.MsgApp:
      r.electionElapsed = 0
      r.lead = m.from
      handleAppendEntries(r, m)
      return
    case MessageType.MsgHeartbeat:
      r.electionElapsed = 0
      r.lead = m.from
      handleHeartbeat(r, m)
      return
    case MessageType.MsgSnap:
      r.electionElapsed = 0
      r.lead = m.from
      handleSnapshot(r, m)
      return
    case MessageType.MsgTransferLeader:
      if (r.lead !== None) r.send({ ...m, to: r.lead })
      return
    case MessageType.MsgForgetLeader:
      // A lease-based reader relies on the leader lease; forgetting it would void that guarantee.
      if (r.readOnly.option === ReadOnlyOption.LeaseBased) {
        r.log(`${r.id} ignoring MsgForgetLeader due to ReadOnlyLeaseBased`)
        return
      }
      if (r.lead !== None) r.log(`${r.id} forgetting leader ${r.lead} at term ${r.term}`)
      r.lead = None
      return
    case MessageType.MsgTimeoutNow:
      // Leadership transfer: campaign at once, skipping pre-vote and the leader lease.
      r.hup('transfer')
      return
    case MessageType.MsgReadIndex:
      if (r.lead === None) throw new ProposalDroppedError('no-leader', 'no leader is known to serve the read index; retry once one is elected')
      r.send({ ...m, to: r.lead })
      return
    case MessageType.MsgReadIndexResp:
      if (m.entries.length !== 1) return
      r.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data })
      return
  }
}

/** Raft §5.3: append if the previous entry matches, else reject with a hint for fast backtracking. */
export function handleAppendEntries(r: Raft, m: Message): void {
  if (m.index < r.raftLog.committed) {
    // Everything up to our commit index is settled; tell the leader where we are.
    r.send(message({ type: MessageType.MsgAppResp, to: m.from, index: r.raftLog.committed }))
    return
  }
  const lastNew = r.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
  if (lastNew !== undefined) {
    r.send(message({ type: MessageType.MsgAppResp, to: m.from, index: lastNew }))
    return
  }
  // Reject with a hint: the last index ≤ m.index whose term is ≤ m.logTerm, so the leader can
  // skip a whole conflicting term per round trip.
  const hintIndex = Math.min(m.index, r.raftLog.lastIndex())
  const hint = r.raftLog.findConflictByTerm(hintIndex, m.logTerm)
  r.send(message({ type: MessageType.MsgAppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }))
}

/** Heartbeats carry a commit index the leader knows we hold (min of match and committed). */
export function handleHeartbeat(r: Raft, m: Message): void {
  r.raftLog.commitTo(m.commit)
  r.send(message({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context }))
}

/** Installs (or ignores) a leader snapshot and reports the resulting last index. */
export function handleSnapshot(r: Raft, m: Message): void {
  const s = m.snapshot
  assert(s !== undefined, 'MsgSnap without snapshot')
  const restored = r.restore(s)
  r.log(`${r.id} [commit: ${r.raftLog.committed}] ${restored ? 'restored' : 'ignored'} snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`)
  const index = restored ? r.raftLog.lastIndex() : r.raftLog.committed
  r.send(message({ type: MessageType.MsgAppResp, to: m.from, index }))
}
