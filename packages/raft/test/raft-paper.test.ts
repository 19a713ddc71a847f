/**
 * The statements of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
 * Consensus Algorithm", extended version), one test per property, each citing its section.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Rng } from '@strata/seams'
import { withSeed } from '@strata/testkit'
import type { Entry, MemoryStorage, Message } from '../src/index.js'
import { MessageType, RawNode, StateType } from '../src/index.js'
import { Cluster } from './harness/cluster.js'
import { bootstrapStorage, seededRng } from './harness/node.js'
import { message, rawNodeRaft } from '../src/internal.js'

const ent = (index: number, term: number): Entry => ({ index, term, type: 0, data: new Uint8Array(0) })

function nodeWithLog(id: number, peers: number[], log: Entry[], term: number, config: { electionTick?: number; rng?: Rng } = {}): RawNode {
  const s = bootstrapStorage({ voters: peers })
  s.append(log)
  s.setHardState({ term, vote: 0, commit: 0 })
  const rn = new RawNode({ id, storage: s, rng: config.rng ?? seededRng(id), electionTick: config.electionTick ?? 10 })
  storages.set(rn, s)
  return rn
}

const storages = new WeakMap<RawNode, MemoryStorage>()

/** Drains one Ready as a driver would (persisting entries and hard state), returning messages. */
function drain(rn: RawNode): Message[] {
  if (!rn.hasReady()) return []
  const rd = rn.ready()
  const s = storages.get(rn)
  if (s !== undefined) {
    s.append(rd.entries)
    if (rd.hardState !== undefined) s.setHardState(rd.hardState)
  }
  rn.advance()
  return [...rd.messages]
}

test('§5.2 election safety: at most one leader per term under random timeouts and message loss', () => {
  withSeed('paper election safety', (prng) => {
    for (let round = 0; round < 20; round++) {
      const c = new Cluster([1, 2, 3, 4, 5], {}, (id) => ({ rng: seededRng(prng.nextU32() + id) }))
      const leaderOf = new Map<number, number>()
      c.filter = () => prng.bool(0.8)
      for (let t = 0; t < 200; t++) {
        for (const n of c.nodes.values()) n.rn.tick()
        c.stabilize()
        for (const n of c.nodes.values()) {
          if (n.rn.state !== StateType.Leader) continue
          const term = rawNodeRaft(n.rn).term
          const prev = leaderOf.get(term)
          assert.ok(prev === undefined || prev === n.id, `term ${term} has leaders ${prev} and ${n.id}`)
          leaderOf.set(term, n.id)
        }
      }
      assert.ok(leaderOf.size > 0, 'some leader was elected')
    }
  })
})

test('§5.2 a follower grants at most one vote per term, first come first served', () => {
  const rn = nodeWithLog(1, [1, 2, 3], [], 1)
  rn.step(message({ type: MessageType.MsgVote, from: 2, to: 1, term: 2 }))
  rn.step(message({ type: MessageType.MsgVote, from: 3, to: 1, term: 2 }))
  rn.step(message({ type: MessageType.MsgVote, from: 2, to: 1, term: 2 }))
  const resps = drain(rn).filter((m) => m.type === MessageType.MsgVoteResp)
  assert.equal(resps.map((m) => [m.to, m.reject]), [[2, false], [3, true], [2, false]])
  assert.is(rawNodeRaft(rn).vote, 2)
})

test('§5.2 the vote survives a restart because it is in the persisted hard state', () => {
  const s = bootstrapStorage({ voters: [1, 2, 3] })
  const rn = new RawNode({ id: 1, storage: s, rng: seededRng(1) })
  rn.step(message({ type: MessageType.MsgVote, from: 2, to: 1, term: 2 }))
  const rd = rn.ready()
  assert.equal(rd.hardState, { term: 2, vote: 2, commit: 0 })
  assert.ok(rd.mustSync)
  s.setHardState(rd.hardState!)
  const again = new RawNode({ id: 1, storage: s, rng: seededRng(1) })
  again.step(message({ type: MessageType.MsgVote, from: 3, to: 1, term: 2 }))
  assert.ok(drain(again).find((m) => m.type === MessageType.MsgVoteResp)!.reject)
})

test('§5.1 every role steps down to follower on a message from a higher term', () => {
  for (const setup of ['follower', 'candidate', 'leader'] as const) {
    const c = new Cluster([1, 2, 3])
    if (setup !== 'follower') c.node(1).rn.campaign()
    if (setup === 'leader') c.stabilize()
    const rn = c.node(1).rn
    rn.step(message({ type: MessageType.MsgApp, from: 2, to: 1, term: 9 }))
    assert.is(rn.state, StateType.Follower, setup)
    assert.is(rawNodeRaft(rn).term, 9)
    assert.is(rawNodeRaft(rn).lead, 2)
  }
})

test('§5.1 a message from a stale term is ignored', () => {
  const rn = nodeWithLog(1, [1, 2, 3], [], 3)
  rn.step(message({ type: MessageType.MsgApp, from: 2, to: 1, term: 2, entries: [ent(1, 2)] }))
  assert.is(rawNodeRaft(rn).raftLog.lastIndex(), 0)
  assert.is(rawNodeRaft(rn).term, 3)
})

test('§5.2 election timeouts are randomized in [et, 2et-1] and differ between followers', () => {
  const seen = new Set<number>()
  const rn = nodeWithLog(1, [1, 2, 3], [], 1, { rng: seededRng(42) })
  for (let i = 0; i < 200; i++) {
    rawNodeRaft(rn).becomeFollower(rawNodeRaft(rn).term + 1, 0)
    const t = rawNodeRaft(rn).randomizedElectionTimeout
    assert.ok(t >= 10 && t <= 19, `timeout ${t}`)
    seen.add(t)
  }
  assert.ok(seen.size >= 8, 'timeouts are spread over the range')
})

test('§5.3 log matching: a new leader brings divergent follower logs to its own (Figure 7)', () => {
  // The leader's log of Figure 7 and followers (a)..(f) with missing and extra entries.
  const terms = (ts: number[]): Entry[] => ts.map((t, i) => ent(i + 1, t))
  const leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
  const followers = [
    [1, 1, 1, 4, 4, 5, 5, 6, 6], [1, 1, 1, 4], [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], [1, 1, 1, 4, 4, 4, 4], [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  ]
  for (const f of followers) {
    const c = new Cluster([1, 2, 3])
    const set = (id: number, log: number[], term: number): void => {
      const n = c.node(id)
      n.storage.append(terms(log))
      n.storage.setHardState({ term, vote: 0, commit: 0 })
      n.restart()
    }
    set(1, leader, 8)
    set(2, f, 8)
    set(3, [], 8)
    // Node 3 votes for 1 (1's log is newer); node 2 may refuse but 1 still has a majority.
    c.campaign(1)
    assert.is(c.node(1).rn.state, StateType.Leader)
    const want = rawNodeRaft(c.node(1).rn).raftLog.allEntries().map((e) => `${e.index}/${e.term}`)
    const got = rawNodeRaft(c.node(2).rn).raftLog.allEntries().map((e) => `${e.index}/${e.term}`)
    assert.equal(got, want, `follower ${f}`)
  }
})

test('§5.4.1 election restriction: a voter refuses a candidate whose log is less up to date', () => {
  const cases: [Entry[], number, number, boolean][] = [
    // our log, candidate last index, candidate last term, granted
    [[ent(1, 2), ent(2, 2)], 2, 1, false],
    [[ent(1, 2), ent(2, 2)], 1, 2, false],
    [[ent(1, 2), ent(2, 2)], 2, 2, true],
    [[ent(1, 2), ent(2, 2)], 1, 3, true],
  ]
  for (const [log, index, logTerm, granted] of cases) {
    const rn = nodeWithLog(1, [1, 2, 3], log, 2)
    rn.step(message({ type: MessageType.MsgVote, from: 2, to: 1, term: 3, index, logTerm }))
    const resp = drain(rn).find((m) => m.type === MessageType.MsgVoteResp)!
    assert.is(!resp.reject, granted, `candidate ${logTerm}/${index}`)
  }
})

test('§5.4 leader completeness: every committed entry is in the log of every later leader', () => {
  withSeed('paper leader completeness', (prng) => {
    const c = new Cluster([1, 2, 3, 4, 5], {}, (id) => ({ rng: seededRng(prng.nextU32() + id) }))
    const committed: string[] = []
    for (let step = 0; step < 300; step++) {
      c.filter = () => prng.bool(0.85)
      for (const n of c.nodes.values()) n.rn.tick()
      const lead = c.leaders()[0]
      if (lead !== undefined && prng.bool(0.3)) {
        try { c.node(lead).rn.propose(new TextEncoder().encode(`p${step}`)) } catch { /* dropped */ }
      }
      c.stabilize()
      for (const n of c.nodes.values()) {
        const log = rawNodeRaft(n.rn).raftLog
        for (let i = committed.length + 1; i <= log.committed; i++) committed.push(`${i}/${log.term(i)}`)
        if (n.rn.state !== StateType.Leader) continue
        for (const id of committed) {
          const [i, t] = id.split('/').map(Number) as [number, number]
          assert.is(log.term(i), t, `leader ${n.id} term ${rawNodeRaft(n.rn).term} lacks committed ${id}`)
        }
      }
    }
    assert.ok(committed.length > 5, 'entries were committed')
  })
})

test('§5.4.2 Figure 8: a leader never commits an entry of a previous term by counting replicas', () => {
  const rn = nodeWithLog(1, [1, 2, 3], [ent(1, 1), ent(2, 2)], 2)
  const r = rawNodeRaft(rn)
  r.becomeCandidate()
  r.becomeLeader()
  assert.is(r.term, 3)
  // Follower 2 holds entry 2 (term 2): with the leader that is a majority for index 2.
  rn.step(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 3, index: 2 }))
  assert.is(r.raftLog.committed, 0, 'entry 2 of term 2 must not be committed by counting')
  // Once an entry of term 3 is on a majority, it commits, and entry 2 with it.
  drain(rn)
  rn.step(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 3, index: 3 }))
  assert.is(r.raftLog.committed, 3)
})

test('§5.3 a follower refuses an append whose previous entry does not match, and hints where to retry', () => {
  const rn = nodeWithLog(1, [1, 2, 3], [ent(1, 1), ent(2, 2), ent(3, 2)], 3)
  rn.step(message({ type: MessageType.MsgApp, from: 2, to: 1, term: 3, index: 3, logTerm: 3, entries: [ent(4, 3)] }))
  const resp = drain(rn).find((m) => m.type === MessageType.MsgAppResp)!
  assert.ok(resp.reject)
  assert.is(resp.rejectHint, 3)
  assert.is(resp.logTerm, 2)
})

test('§5.3 heartbeats never move a follower commit past its log, and committed entries are never truncated', () => {
  const rn = nodeWithLog(1, [1, 2, 3], [ent(1, 1), ent(2, 1)], 1)
  rn.step(message({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: 1, commit: 2 }))
  assert.is(rawNodeRaft(rn).raftLog.committed, 2)
  // A leader never sends a commit beyond the follower's match: min(match, committed).
  const c = new Cluster([1, 2, 3])
  c.campaign(1)
  c.isolate(3)
  c.propose(1, 'x')
  const hb = drainHeartbeatsTo(c, 3)
  assert.ok(hb.length > 0 && hb.every((m) => m.commit <= rawNodeRaft(c.node(1).rn).trk.progress.get(3)!.match))
  // An append that would replace a committed entry is a broken invariant, not a silent rewrite.
  assert.throws(() => rawNodeRaft(rn).raftLog.maybeAppend(0, 0, 2, [ent(1, 9)]), /conflict with committed entry/)
})

function drainHeartbeatsTo(c: Cluster, to: number): Message[] {
  c.node(1).rn.tick()
  return c.node(1).handleReady().filter((m) => m.type === MessageType.MsgHeartbeat && m.to === to)
}

test.run()
