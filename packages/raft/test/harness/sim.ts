import type { Entry, Message, Ready } from '../../src/index.js'
import { EntryType, MessageType, ProposalDroppedError, RawNode, SnapshotStatus, StateType } from '../../src/index.js'
import { bootstrapStorage, HarnessStorage } from './node.js'
import { rawNodeRaft } from '../../src/internal.js'

/** The random source the simulation draws from (the testkit Prng satisfies it). */
export interface SimRandom {
  nextU32(): number
  int(n: number): number
  bool(p?: number): boolean
}

export interface SimOptions {
  /** Ticks to simulate. */
  readonly ticks: number
  /** Members (ids 1..n). Default 5. */
  readonly members?: number
  /** Probability a message is lost. Default 0.05. */
  readonly dropRate?: number
  /** Maximum extra delivery delay in ticks (reordering). Default 3. */
  readonly maxDelay?: number
  readonly preVote?: boolean
  readonly checkQuorum?: boolean
  /** Bytes per MsgApp; 0 sends one entry per message, which makes Figure 8 schedules reachable. Default 4096. */
  readonly maxSizePerMsgBytes?: number
}

interface InFlight { readonly at: number; readonly m: Message }

/** One simulated member: storage survives crashes, everything else is rebuilt on restart. */
class SimMember {
  readonly id: number
  readonly storage: HarnessStorage
  rn: RawNode | undefined
  /** Application state: the payloads of applied normal entries, in order. */
  applied: string[] = []
  appliedIndex = 0

  constructor(id: number, storage: HarnessStorage) {
    this.id = id
    this.storage = storage
  }
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/**
 * A randomized 5-member cluster in one process: lossy, reordering network, partitions,
 * crash-restarts from persisted storage, compactions with snapshots, and a steady trickle of
 * proposals. After every tick it checks Raft's safety properties and throws on a violation.
 */
export class NetworkSim {
  readonly #rnd: SimRandom
  readonly #opts: { -readonly [K in keyof SimOptions]-?: SimOptions[K] }
  readonly #members: SimMember[] = []
  #now = 0
  #inflight: InFlight[] = []
  /** Partition: member id → group; messages cross groups never. */
  #group = new Map<number, number>()
  #partitionUntil = 0
  #downUntil = new Map<number, number>()
  #proposed = 0
  /** term → leader ever seen. */
  readonly #leaders = new Map<number, number>()
  /** index → "term:payload" of every entry known committed anywhere. */
  readonly #committed: string[] = ['']
  /** index → the term of the first member seen holding it committed: an upper bound of its commit term. */
  readonly #commitTerm: number[] = [0]
  /** The applied payload sequence all members must agree on (each applies a prefix). */
  readonly #appliedGlobal: string[] = []
  stats = { commits: 0, elections: 0, crashes: 0, partitions: 0, snapshots: 0, dropped: 0 }

  constructor(rnd: SimRandom, opts: SimOptions) {
    this.#rnd = rnd
    this.#opts = { members: 5, dropRate: 0.05, maxDelay: 3, preVote: true, checkQuorum: true, maxSizePerMsgBytes: 4096, ...opts }
    const ids = Array.from({ length: this.#opts.members }, (_, i) => i + 1)
    for (const id of ids) {
      const m = new SimMember(id, bootstrapStorage({ voters: ids }))
      this.#start(m)
      this.#members.push(m)
    }
  }

  #start(m: SimMember): void {
    const snap = m.storage.snapshot()
    m.applied = snap.data.length === 0 ? [] : (JSON.parse(decoder.decode(snap.data)) as string[])
    m.appliedIndex = snap.metadata.index
    m.rn = new RawNode({
      id: m.id, storage: m.storage, rng: { nextU32: () => this.#rnd.nextU32() }, applied: m.appliedIndex,
      electionTick: 10, heartbeatTick: 1, preVote: this.#opts.preVote, checkQuorum: this.#opts.checkQuorum,
      maxSizePerMsgBytes: this.#opts.maxSizePerMsgBytes, maxInflightMsgs: 16,
    })
  }

  run(): void {
    for (let t = 0; t < this.#opts.ticks; t++) this.step()
  }

  /** Heals everything, runs quietly, and checks that the cluster commits a fresh proposal. */
  settle(): void {
    this.#partitionUntil = 0
    this.#group.clear()
    for (const m of this.#members) if (m.rn === undefined) this.#start(m)
    this.#downUntil.clear()
    const drop = this.#opts.dropRate
    this.#opts.dropRate = 0
    for (let t = 0; t < 200; t++) this.step(false)
    const leader = this.#members.find((m) => m.rn?.state === StateType.Leader)
    if (leader === undefined) throw new Error('liveness: no leader after healing the network')
    leader.rn!.propose(encoder.encode('final'))
    for (let t = 0; t < 50; t++) this.step(false)
    for (const m of this.#members) {
      if (m.applied[m.applied.length - 1] !== 'final') {
        const st = this.#members.map((x) => `${x.id}:${x.rn?.state} t${(x.rn && rawNodeRaft(x.rn))?.term} c${(x.rn && rawNodeRaft(x.rn))?.raftLog.committed} a${x.appliedIndex} l${(x.rn && rawNodeRaft(x.rn))?.raftLog.lastIndex()} lead${(x.rn && rawNodeRaft(x.rn))?.lead}`)
        throw new Error(`liveness: member ${m.id} did not apply the final proposal: ${st.join(', ')} ${JSON.stringify(leader.rn!.status().progress ? [...leader.rn!.status().progress!] : [])}`)
      }
    }
    this.#opts.dropRate = drop
  }

  #chaosOn = true

  step(chaos = true): void {
    this.#chaosOn = chaos
    this.#now++
    if (chaos) this.#chaos()
    for (const m of this.#members) m.rn?.tick()
    if (chaos && this.#rnd.bool(0.3)) this.#propose()
    for (let round = 0; round < 4; round++) {
      for (const m of this.#members) this.#handleReady(m)
      this.#deliver()
    }
    this.#check()
  }

  #chaos(): void {
    const r = this.#rnd
    if (this.#partitionUntil <= this.#now && this.#group.size > 0) this.#group.clear()
    if (this.#group.size === 0 && r.bool(0.01)) {
      for (const m of this.#members) this.#group.set(m.id, r.int(2))
      this.#partitionUntil = this.#now + 20 + r.int(60)
      this.stats.partitions++
    }
    // Leaders are the interesting victims (Raft Figure 8 needs leaders to fail mid-replication).
    const leader = this.#members.find((m) => m.rn?.state === StateType.Leader)
    if (leader !== undefined && r.bool(0.004)) {
      leader.rn = undefined
      this.#downUntil.set(leader.id, this.#now + 3 + r.int(30))
      this.stats.crashes++
    }
    for (const m of this.#members) {
      const until = this.#downUntil.get(m.id)
      if (until !== undefined && until <= this.#now) {
        this.#downUntil.delete(m.id)
        this.#start(m)
      } else if (m.rn !== undefined && r.bool(0.002)) {
        // Crash: everything not in storage is gone, including a Ready being processed.
        m.rn = undefined
        this.#downUntil.set(m.id, this.#now + 5 + r.int(40))
        this.stats.crashes++
      }
      if (m.rn !== undefined && r.bool(0.01)) this.#compact(m)
    }
  }

  #compact(m: SimMember): void {
    // Keep a tail so followers usually catch up by entries, sometimes by snapshot.
    const at = m.appliedIndex - this.#rnd.int(20)
    if (at <= m.storage.snapshot().metadata.index || at < m.storage.firstIndex()) return
    const prefix = m.applied.slice(0, this.#countNormal(m, at))
    m.storage.createSnapshot(at, { confState: m.storage.initialState().confState.voters.length > 0 ? m.storage.initialState().confState : undefined, data: encoder.encode(JSON.stringify(prefix)) })
    m.storage.compact(at)
    this.stats.snapshots++
  }

  /** How many applied payloads precede index `at` (entries ≤ at that are normal and non-empty). */
  #countNormal(m: SimMember, at: number): number {
    let n = m.applied.length
    for (let i = m.appliedIndex; i > at; i--) {
      const e = m.storage.entries(i, i + 1, Infinity)[0]!
      if (e.type === EntryType.Normal && e.data.length > 0) n--
    }
    return n
  }

  #propose(): void {
    const alive = this.#members.filter((m) => m.rn !== undefined)
    if (alive.length === 0) return
    const m = alive[this.#rnd.int(alive.length)]!
    try {
      m.rn!.propose(encoder.encode(`p${this.#proposed++}`))
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
    }
  }

  #handleReady(m: SimMember): void {
    const rn = m.rn
    if (rn === undefined || !rn.hasReady()) return
    const rd: Ready = rn.ready()
    if (this.#chaosOn && this.#rnd.bool(0.002)) {
      // Crash in the middle of a Ready: nothing of it was persisted or sent.
      m.rn = undefined
      this.#downUntil.set(m.id, this.#now + 5 + this.#rnd.int(20))
      this.stats.crashes++
      return
    }
    if (rd.softState?.raftState === StateType.Leader) this.stats.elections++
    if (rd.snapshot !== undefined) m.storage.applySnapshot(rd.snapshot)
    m.storage.append(rd.entries)
    if (rd.hardState !== undefined) {
      m.storage.setHardState(rd.hardState)
      this.#checkVote(m.id, rd.hardState.term, rd.hardState.vote)
    }
    if (this.#chaosOn && this.#rnd.bool(0.002)) {
      // Crash after persisting but before sending or applying: on restart the state is there,
      // the messages are not.
      m.rn = undefined
      this.#downUntil.set(m.id, this.#now + 5 + this.#rnd.int(20))
      this.stats.crashes++
      return
    }
    for (const msg of rd.messages) this.#send(msg)
    if (rd.snapshot !== undefined) {
      m.applied = JSON.parse(decoder.decode(rd.snapshot.data)) as string[]
      m.appliedIndex = rd.snapshot.metadata.index
    }
    for (const e of rd.committedEntries) this.#apply(m, e)
    rn.advance()
  }

  #apply(m: SimMember, e: Entry): void {
    if (e.index !== m.appliedIndex + 1) throw new Error(`member ${m.id} applies ${e.index} after ${m.appliedIndex}`)
    m.appliedIndex = e.index
    if (e.type !== EntryType.Normal || e.data.length === 0) return
    const payload = decoder.decode(e.data)
    const pos = m.applied.length
    m.applied.push(payload)
    const want = this.#appliedGlobal[pos]
    if (want === undefined) this.#appliedGlobal.push(payload)
    else if (want !== payload) throw new Error(`applied sequences differ at position ${pos}: member ${m.id} applied ${payload}, another ${want}`)
  }

  #send(m: Message): void {
    if (this.#rnd.bool(this.#opts.dropRate)) {
      this.stats.dropped++
      // A transport notices some failures: tell raft, as a real driver would.
      if (m.type === MessageType.MsgSnap) this.#report(m, false)
      else if (this.#rnd.bool(0.5)) this.#members[m.from - 1]!.rn?.reportUnreachable(m.to)
      return
    }
    this.#inflight.push({ at: this.#now + this.#rnd.int(this.#opts.maxDelay + 1), m })
  }

  #deliver(): void {
    const due = this.#inflight.filter((f) => f.at <= this.#now)
    this.#inflight = this.#inflight.filter((f) => f.at > this.#now)
    for (const { m } of due) {
      const to = this.#members[m.to - 1]
      const cut = this.#group.size > 0 && this.#group.get(m.from) !== this.#group.get(m.to)
      if (to?.rn === undefined || cut) {
        if (m.type === MessageType.MsgSnap) this.#report(m, false)
        continue
      }
      try {
        to.rn.step(m)
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err
      }
      if (m.type === MessageType.MsgSnap) this.#report(m, true)
    }
  }

  /** §5.2: a member votes for at most one candidate per term, across crashes too (checked on what it persisted). */
  #checkVote(id: number, term: number, vote: number): void {
    if (vote === 0) return
    const key = `${id}@${term}`
    const prev = this.#votes.get(key)
    if (prev !== undefined && prev !== vote) throw new Error(`one vote per term: member ${id} voted for ${prev} and ${vote} in term ${term}`)
    this.#votes.set(key, vote)
  }

  readonly #votes = new Map<string, number>()

  /** The sender of a snapshot learns whether it arrived (SnapshotStatus Finish / Failure). */
  #report(m: Message, ok: boolean): void {
    this.#members[m.from - 1]!.rn?.reportSnapshot(m.to, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure)
  }

  #termAt(m: SimMember, i: number): number | undefined {
    const log = rawNodeRaft(m.rn!).raftLog
    if (i < log.firstIndex() - 1 || i > log.lastIndex()) return undefined
    try { return log.term(i) } catch { return undefined }
  }

  #entryAt(m: SimMember, i: number): string | undefined {
    const log = rawNodeRaft(m.rn!).raftLog
    if (i < log.firstIndex() || i > log.lastIndex()) return undefined
    const e = log.slice(i, i + 1, Infinity)[0]!
    return `${e.term}:${decoder.decode(e.data)}`
  }

  #check(): void {
    const alive = this.#members.filter((m) => m.rn !== undefined)
    for (const m of alive) {
      const r = rawNodeRaft(m.rn!)
      // §5.2 election safety: one leader per term, ever.
      if (r.state === StateType.Leader) {
        const prev = this.#leaders.get(r.term)
        if (prev !== undefined && prev !== m.id) throw new Error(`election safety: term ${r.term} has leaders ${prev} and ${m.id}`)
        this.#leaders.set(r.term, m.id)
      }
      // Committed prefixes never diverge: every committed entry anywhere is the same entry.
      for (let i = Math.max(this.#commitChecked(m), r.raftLog.firstIndex()); i <= r.raftLog.committed; i++) {
        const e = this.#entryAt(m, i)
        if (e === undefined) continue
        const known = this.#committed[i]
        if (known === undefined) { this.#committed[i] = e; this.#commitTerm[i] = r.term; this.stats.commits++ }
        else if (known !== e) throw new Error(`committed entries diverge at ${i}: member ${m.id} has ${e}, committed was ${known}`)
      }
      this.#checkedUpTo.set(m.id, r.raftLog.committed)
    }
    for (const m of alive) {
      const r = rawNodeRaft(m.rn!)
      // §5.4 leader completeness: a leader of a later term holds every entry committed before it.
      // (A deposed leader of an older term that has not heard of the new one yet may lack them.)
      if (r.state !== StateType.Leader) continue
      for (let i = Math.max(1, r.raftLog.firstIndex()); i < this.#committed.length; i++) {
        const known = this.#committed[i]
        if (known === undefined || this.#commitTerm[i]! >= r.term) continue
        const e = this.#entryAt(m, i)
        if (e !== known) throw new Error(`leader completeness: leader ${m.id} (term ${r.term}) has ${e} at ${i}, committed ${known}`)
      }
    }
    // §5.3 log matching: same index and term ⇒ identical logs up to there (checked on a window).
    for (let a = 0; a < alive.length; a++) {
      for (let b = a + 1; b < alive.length; b++) this.#checkLogMatching(alive[a]!, alive[b]!)
    }
  }

  readonly #checkedUpTo = new Map<number, number>()
  #commitChecked(m: SimMember): number {
    return (this.#checkedUpTo.get(m.id) ?? 0) + 1
  }

  #checkLogMatching(x: SimMember, y: SimMember): void {
    const lx = rawNodeRaft(x.rn!).raftLog
    const ly = rawNodeRaft(y.rn!).raftLog
    const lo = Math.max(lx.firstIndex(), ly.firstIndex())
    let i = Math.min(lx.lastIndex(), ly.lastIndex())
    while (i >= lo && this.#termAt(x, i) !== this.#termAt(y, i)) i--
    for (let j = i, n = 0; j >= lo && n < 32; j--, n++) {
      if (this.#entryAt(x, j) !== this.#entryAt(y, j)) {
        throw new Error(`log matching: members ${x.id} and ${y.id} agree on term at ${i} but differ at ${j}`)
      }
    }
  }
}
