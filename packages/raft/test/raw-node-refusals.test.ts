// What RawNode refuses, and how: conf changes the leader will not append (typed, nothing
// appended), and arguments that are not what the API takes (ERR_RAFT_INVALID_ARGUMENT, nothing
// changed).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import type { ConfChange, ConfChangeV2, Message } from '../src/index.js'
import {
  ConfChangeTransition, ConfChangeType, encodeConfChangeV2, EntryType, MessageType, ProposalDroppedError,
  SnapshotStatus,
} from '../src/index.js'
import { message, rawNodeRaft } from '../src/internal.js'
import { Cluster } from './harness/cluster.js'

const empty = new Uint8Array(0)
const add = (nodeId: number): ConfChange => ({ type: ConfChangeType.AddLearnerNode, nodeId, context: empty })

function dropped(fn: () => void): ProposalDroppedError {
  const err = throwsWithCode(fn, 'ERR_RAFT_PROPOSAL_DROPPED')
  assert.instance(err, ProposalDroppedError)
  return err as ProposalDroppedError
}

test('proposeConfChange on a leader with an unapplied conf change throws conf-change-pending and appends nothing', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  const leader = c.node(1)
  leader.rn.proposeConfChange(add(4))
  const last = rawNodeRaft(leader.rn).raftLog.lastIndex()
  const err = dropped(() => leader.rn.proposeConfChange(add(5)))
  assert.equal(err.context, { reason: 'conf-change-pending', pendingIndex: last, applied: 1 })
  assert.match(err.message, /retry after it applies/)
  assert.is(rawNodeRaft(leader.rn).raftLog.lastIndex(), last, 'no empty entry in its place')
  // Once the first change is applied, the same proposal is taken.
  c.stabilize()
  leader.rn.proposeConfChange(add(5))
  c.stabilize()
  assert.equal(leader.confState?.learners, [4, 5])
})

test('a conf change stepped as a raw MsgProp keeps etcd behaviour: an empty entry takes its place', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  const leader = c.node(1)
  leader.rn.proposeConfChange(add(4))
  const last = rawNodeRaft(leader.rn).raftLog.lastIndex()
  const v2: ConfChangeV2 = { transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddLearnerNode, nodeId: 5 }], context: empty }
  leader.rn.step(message({ type: MessageType.MsgProp, from: 1, entries: [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data: encodeConfChangeV2(v2) }] }))
  const appended = rawNodeRaft(leader.rn).raftLog.lastIndex()
  assert.is(appended, last + 1)
  const e = rawNodeRaft(leader.rn).raftLog.slice(appended, appended + 1, Infinity)[0]!
  assert.equal([e.type, e.data.length], [EntryType.Normal, 0])
})

test('while joint only the leave-joint change is taken; a leave-joint outside a joint config is refused', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  const leader = c.node(1)
  dropped(() => leader.rn.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [], context: empty }))
  leader.rn.proposeConfChange({
    transition: ConfChangeTransition.JointExplicit,
    changes: [{ type: ConfChangeType.AddNode, nodeId: 4 }, { type: ConfChangeType.AddNode, nodeId: 5 }], context: empty,
  })
  c.stabilize()
  assert.ok(rawNodeRaft(leader.rn).trk.config.voters.isJoint())
  const err = dropped(() => leader.rn.proposeConfChange(add(6)))
  assert.is(err.context.reason, 'conf-change-in-joint')
  assert.match(err.message, /leave it first/)
  leader.rn.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [], context: empty })
  c.stabilize()
  assert.not.ok(rawNodeRaft(leader.rn).trk.config.voters.isJoint())
  const notJoint = dropped(() => leader.rn.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [], context: empty }))
  assert.is(notJoint.context.reason, 'conf-change-not-joint')
})

test('with disableConfChangeValidation the leader appends every conf change', () => {
  const c = new Cluster([1, 2, 3], { disableConfChangeValidation: true })
  c.campaign(1)
  c.node(1).rn.proposeConfChange(add(4))
  c.node(1).rn.proposeConfChange(add(5))
  c.stabilize()
  assert.equal(c.node(1).confState?.learners, [4, 5])
})

test('proposeConfChange and applyConfChange refuse a change without a known type or with a bad node id', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  const rn = c.node(1).rn
  const before = rawNodeRaft(rn).raftLog.lastIndex()
  const bad: unknown[] = [
    { nodeId: 4, context: empty }, // no type: not an AddNode
    { type: 9, nodeId: 4, context: empty },
    { type: ConfChangeType.AddNode, nodeId: -1, context: empty },
    { type: ConfChangeType.AddNode, nodeId: 1.5, context: empty },
    { type: ConfChangeType.AddNode, nodeId: 0, context: empty },
    { type: ConfChangeType.AddNode, nodeId: '4', context: empty },
    { type: ConfChangeType.AddNode, nodeId: 2 ** 53, context: empty },
    { type: ConfChangeType.AddNode, nodeId: 4 },
    { transition: 5, changes: [], context: empty },
    { transition: ConfChangeTransition.Auto, changes: [{ nodeId: 4 }], context: empty },
    { transition: ConfChangeTransition.Auto, changes: 'v4', context: empty },
    undefined, 'v4',
  ]
  for (const cc of bad) {
    throwsWithCode(() => rn.proposeConfChange(cc as ConfChange), 'ERR_RAFT_INVALID_ARGUMENT')
    throwsWithCode(() => rn.applyConfChange(cc as ConfChange), 'ERR_RAFT_INVALID_ARGUMENT')
  }
  assert.is(rawNodeRaft(rn).raftLog.lastIndex(), before, 'nothing was appended')
})

test('the other entry points refuse arguments of the wrong type with ERR_RAFT_INVALID_ARGUMENT', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  const rn = c.node(1).rn
  const before = rawNodeRaft(rn).raftLog.lastIndex()
  throwsWithCode(() => rn.propose('hello' as never), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => rn.propose([1, 2] as never), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => rn.readIndex(undefined as never), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => rn.transferLeader(0), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => rn.transferLeader(2.5), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => rn.reportUnreachable(-2), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => rn.reportSnapshot(2, 3 as SnapshotStatus), 'ERR_RAFT_INVALID_ARGUMENT')
  assert.is(rawNodeRaft(rn).raftLog.lastIndex(), before)
})

test('step refuses a malformed message before touching state', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  const rn = c.node(2).rn
  const term = rawNodeRaft(rn).term
  const ok = message({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: term + 5 })
  const bad: unknown[] = [
    null,
    { ...ok, type: 99 },
    { ...ok, from: 0 },
    { ...ok, term: -1 },
    { ...ok, commit: 1.5 },
    { ...ok, index: 2 ** 60 },
    { ...ok, entries: undefined },
    { ...ok, entries: [{ term: 1, index: 1, type: 7, data: empty }] },
    { ...ok, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: 'x' }] },
    { ...ok, context: 'ctx' },
    { ...ok, reject: 'no' },
    { ...ok, type: MessageType.MsgSnap },
    { ...ok, type: MessageType.MsgProp },
    { ...ok, type: MessageType.MsgSnap, snapshot: { data: empty, metadata: { index: 5, term: 1, confState: { voters: [0] } } } },
  ]
  for (const m of bad) throwsWithCode(() => rn.step(m as Message), 'ERR_RAFT_INVALID_ARGUMENT')
  assert.is(rawNodeRaft(rn).term, term, 'no term change from a refused message')
})

test.run()

test('propose on the leader appends the very bytes as one entry of its term; over the uncommitted limit or during a transfer it appends nothing', () => {
  const c = new Cluster([1, 2, 3], { maxUncommittedEntriesSizeBytes: 8 })
  c.campaign(1)
  const leader = c.node(1)
  const raft = rawNodeRaft(leader.rn)
  const data = new Uint8Array([1, 2, 3, 4, 5, 6])
  leader.rn.propose(data)
  const last = raft.raftLog.lastIndex()
  const e = raft.raftLog.slice(last, last + 1, Infinity)[0]!
  assert.equal([e.index, e.term, e.type], [last, raft.term, EntryType.Normal])
  assert.is(e.data, data, 'the proposed bytes themselves, not a copy')
  assert.is(dropped(() => leader.rn.propose(new Uint8Array(6))).context.reason, 'uncommitted-limit')
  assert.is(raft.raftLog.lastIndex(), last)
  c.stabilize()
  leader.rn.transferLeader(2)
  assert.is(dropped(() => leader.rn.propose(new Uint8Array(1))).context.reason, 'leader-transfer')
  assert.is(raft.raftLog.lastIndex(), last)
})
