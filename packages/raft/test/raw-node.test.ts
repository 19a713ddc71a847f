import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import type { Ready } from '../src/index.js'
import { MessageType, RawNode, ReadOnlyOption, StateType } from '../src/index.js'
import { Cluster } from './harness/cluster.js'
import { bootstrapStorage, seededRng, TestNode } from './harness/node.js'
import { message, rawNodeRaft } from '../src/internal.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

test('etcd #14370: a single-member cluster never hands out committed entries before they are durable', () => {
  const n = new TestNode(1, bootstrapStorage({ voters: [1] }))
  let durable = 0
  const check = (rd: Ready): void => {
    for (const e of rd.committedEntries) assert.ok(e.index <= durable, `entry ${e.index} committed before durable (durable=${durable})`)
    if (rd.hardState !== undefined) assert.ok(rd.hardState.commit <= Math.max(durable, rd.entries.at(-1)?.index ?? 0) || rd.hardState.commit <= durable)
    const last = rd.entries.at(-1)
    // Persisting happens after this check; entries of this Ready become durable now.
    if (last !== undefined) durable = last.index
  }
  n.rn.campaign()
  for (let i = 0; i < 10; i++) n.handleReady(check)
  assert.is(n.rn.state, StateType.Leader)
  for (let p = 0; p < 20; p++) {
    n.rn.propose(bytes(`p${p}`))
    if (p % 3 === 0) n.rn.propose(bytes(`q${p}`))
    n.handleReady(check)
  }
  for (let i = 0; i < 10; i++) n.handleReady(check)
  assert.is(n.applied.filter((e) => e.data.length > 0).length, 27)
})

test('a Ready hands out messages only with the hard state and entries they depend on', () => {
  const c = new Cluster([1, 2, 3])
  c.node(1).rn.campaign()
  const rd = c.node(1).rn.ready()
  // The vote for ourselves is in this Ready's hard state; the MsgVotes go out with it.
  assert.equal(rd.hardState, { term: 1, vote: 1, commit: 0 })
  assert.ok(rd.mustSync)
  assert.equal(rd.messages.map((m) => [m.type, m.to]), [[MessageType.MsgVote, 2], [MessageType.MsgVote, 3]])
  // Our own vote is stepped only on advance(): not counted before it is durable.
  assert.is(rawNodeRaft(c.node(1).rn).trk.votes.size, 0)
  c.node(1).rn.advance()
  assert.is(rawNodeRaft(c.node(1).rn).trk.votes.get(1), true)
})

test('calling ready() twice without advance() is a broken invariant', () => {
  const n = new TestNode(1, bootstrapStorage({ voters: [1] }))
  n.rn.campaign()
  n.rn.ready()
  assert.throws(() => n.rn.ready(), /without call to Advance/)
})

test('step() refuses local message types and responses from unknown peers', () => {
  const n = new TestNode(1, bootstrapStorage({ voters: [1, 2] }))
  throwsWithCode(() => n.rn.step(message({ type: MessageType.MsgHup, from: 1 })), 'ERR_RAFT_STEP_LOCAL_MSG')
  throwsWithCode(() => n.rn.step(message({ type: MessageType.MsgAppResp, from: 9, term: 1 })), 'ERR_RAFT_STEP_PEER_NOT_FOUND')
})

test('proposals without a leader, or with forwarding disabled, are dropped with a typed error', () => {
  const c = new Cluster([1, 2, 3], { disableProposalForwarding: true })
  throwsWithCode(() => c.node(1).rn.propose(bytes('x')), 'ERR_RAFT_PROPOSAL_DROPPED')
  c.campaign(1)
  throwsWithCode(() => c.node(2).rn.propose(bytes('x')), 'ERR_RAFT_PROPOSAL_DROPPED')
  c.propose(1, 'ok')
  assert.is(c.node(3).applied.at(-1)!.data.length, 2)
})

test('a node restarts from storage with its hard state, log and applied index', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  for (let i = 0; i < 5; i++) c.propose(1, `v${i}`)
  const n = c.node(2)
  const before = rawNodeRaft(n.rn).hardState()
  n.restart()
  assert.equal(rawNodeRaft(n.rn).hardState(), before)
  assert.is(rawNodeRaft(n.rn).raftLog.lastIndex(), 6)
  assert.ok(!rawNodeRaft(n.rn).raftLog.hasNextCommittedEnts(), 'applied entries are not handed out again')
})

test('a hard state whose commit is past the log is refused on load (etcd #10219 symptom)', () => {
  const s = bootstrapStorage({ voters: [1] })
  s.setHardState({ term: 1, vote: 1, commit: 5 })
  assert.throws(() => new RawNode({ id: 1, storage: s, rng: seededRng(1) }), /state.commit 5 is out of range/)
})

test('invalid configs are refused with ERR_RAFT_INVALID_OPTION', () => {
  const s = bootstrapStorage({ voters: [1] })
  throwsWithCode(() => new RawNode({ id: 0, storage: s, rng: seededRng(1) }), 'ERR_RAFT_INVALID_OPTION')
  throwsWithCode(() => new RawNode({ id: 1, storage: s, rng: seededRng(1), electionTick: 1, heartbeatTick: 1 }), 'ERR_RAFT_INVALID_OPTION')
  throwsWithCode(() => new RawNode({ id: 1, storage: s, rng: seededRng(1), readOnlyOption: ReadOnlyOption.LeaseBased }), 'ERR_RAFT_INVALID_OPTION')
})

test('options of the wrong type, out of bounds, unknown or renamed are refused with ERR_RAFT_INVALID_OPTION naming the option', () => {
  const s = bootstrapStorage({ voters: [1] })
  const refuse = (config: Record<string, unknown>, option: string): void => {
    const err = throwsWithCode(() => new RawNode({ id: 1, storage: s, ...config } as never), 'ERR_RAFT_INVALID_OPTION')
    assert.is((err as unknown as { context: { option: string } }).context.option, option)
  }
  refuse({ id: 1.5 }, 'id')
  refuse({ id: -1 }, 'id')
  refuse({ storage: {} }, 'storage')
  refuse({ rng: () => 4 }, 'rng')
  refuse({ electionTick: '10' }, 'electionTick')
  refuse({ heartbeatTick: 0 }, 'heartbeatTick')
  refuse({ maxSizePerMsgBytes: -1 }, 'maxSizePerMsgBytes')
  refuse({ maxInflightMsgs: 0 }, 'maxInflightMsgs')
  refuse({ maxInflightBytes: 10, maxSizePerMsgBytes: 100 }, 'maxInflightBytes')
  refuse({ checkQuorum: 1 }, 'checkQuorum')
  refuse({ readOnlyOption: 7 }, 'readOnlyOption')
  refuse({ logger: 'console' }, 'logger')
  refuse({ electionTicks: 10 }, 'electionTicks')
  refuse({ random: () => 4 }, 'random')
  refuse({ maxSizePerMsg: 1024 }, 'maxSizePerMsg')
  refuse({ applied: 3 }, 'applied')
})

test('without an rng the node draws its election jitter from the real cryptoRng', () => {
  const rn = new RawNode({ id: 1, storage: bootstrapStorage({ voters: [1] }) })
  const t = rawNodeRaft(rn).randomizedElectionTimeout
  assert.ok(t >= 10 && t <= 19, `timeout ${t}`)
})

test('the election timeout is a pure function of the rng: the same seed gives the same timeouts', () => {
  const timeouts = (): number[] => {
    const rn = new RawNode({ id: 1, storage: bootstrapStorage({ voters: [1, 2, 3] }), rng: seededRng(99) })
    const r = rawNodeRaft(rn)
    return Array.from({ length: 20 }, () => { r.resetRandomizedElectionTimeout(); return r.randomizedElectionTimeout })
  }
  assert.equal(timeouts(), timeouts())
})

test('ReadIndex (safe): a follower read is answered after a quorum confirms leadership', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  c.propose(1, 'a')
  c.node(3).rn.readIndex(bytes('req1'))
  c.stabilize()
  assert.equal(c.node(3).readStates, [{ index: 2, ctx: 'req1' }])
})

test('ReadIndex: a new leader holds reads until it commits an entry of its term', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  const r = rawNodeRaft(c.node(1).rn)
  c.filter = () => false
  r.becomeFollower(r.term + 1, 0)
  r.becomeCandidate()
  r.becomeLeader()
  c.node(1).rn.readIndex(bytes('r'))
  assert.is(r.pendingReadIndexMessages.length, 1)
  c.heal()
  c.stabilize()
  // Heartbeats bring the followers to the new term; the empty entry commits; the read is released.
  c.tickAll(2)
  assert.is(r.pendingReadIndexMessages.length, 0)
  assert.equal(c.node(1).readStates, [{ index: 2, ctx: 'r' }])
})

test('ReadIndex (lease-based) answers at once from the leader', () => {
  const c = new Cluster([1, 2, 3], { checkQuorum: true, readOnlyOption: ReadOnlyOption.LeaseBased })
  c.campaign(1)
  c.node(1).rn.readIndex(bytes('x'))
  // No heartbeat round: the answer is in the very next Ready.
  c.node(1).handleReady()
  assert.equal(c.node(1).readStates, [{ index: 1, ctx: 'x' }])
})

test('leader transfer: the transferee campaigns at once and wins; proposals are dropped meanwhile', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  c.filter = (m) => m.to !== 3
  c.propose(1, 'x')
  c.node(1).rn.transferLeader(3)
  throwsWithCode(() => c.node(1).rn.propose(bytes('y')), 'ERR_RAFT_PROPOSAL_DROPPED')
  c.heal()
  rawNodeRaft(c.node(1).rn).sendAppend(3)
  c.stabilize()
  assert.equal(c.leaders(), [3])
})

test('a leader transfer that does not finish within an election timeout is aborted', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  c.isolate(3)
  c.node(1).rn.transferLeader(3)
  assert.is(rawNodeRaft(c.node(1).rn).leadTransferee, 3)
  for (let i = 0; i < 10; i++) c.node(1).rn.tick()
  assert.is(rawNodeRaft(c.node(1).rn).leadTransferee, 0)
  assert.equal(c.leaders(), [1])
})

test('a lagging follower is caught up with a snapshot after the leader compacted its log', () => {
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  c.isolate(3)
  for (let i = 0; i < 10; i++) c.propose(1, `v${i}`)
  const leader = c.node(1)
  leader.storage.createSnapshot(leader.appliedIndex, { confState: rawNodeRaft(leader.rn).trk.confState(), data: bytes('app-state') })
  leader.storage.compact(leader.appliedIndex)
  c.heal()
  // Heartbeat responses prompt the leader to probe node 3, which finds the log compacted.
  c.tickAll(3)
  const snapMsgs: number[] = []
  c.filter = (m) => { if (m.type === MessageType.MsgSnap) snapMsgs.push(m.to); return true }
  c.tickAll(3)
  leader.rn.reportSnapshot(3, 1)
  c.tickAll(3)
  assert.is(c.node(3).storage.snapshot().metadata.index, 11)
  assert.is(rawNodeRaft(c.node(3).rn).raftLog.committed, 11)
  c.propose(1, 'after')
  assert.is(rawNodeRaft(c.node(3).rn).raftLog.committed, 12)
})

test('uncommitted bytes are limited at the leader, but an empty tail always takes one proposal', () => {
  const c = new Cluster([1, 2, 3], { maxUncommittedEntriesSizeBytes: 10 })
  c.campaign(1)
  c.isolate(1)
  c.node(1).rn.propose(new Uint8Array(64))
  throwsWithCode(() => c.node(1).rn.propose(new Uint8Array(1)), 'ERR_RAFT_PROPOSAL_DROPPED')
  c.heal()
  c.stabilize()
  c.tickAll(2)
  // Once the big entry is committed and applied, its bytes no longer count.
  assert.is(rawNodeRaft(c.node(1).rn).uncommittedSize, 0)
  c.node(1).rn.propose(new Uint8Array(8))
  assert.is(rawNodeRaft(c.node(1).rn).uncommittedSize, 8)
})

test.run()
