import type { ConfChangeSingle, Message, Ready } from '../../src/index.js'
import {
  ConfChangeTransition, ConfChangeType, describeConfState, describeEntry, describeHardState, describeMessage,
  describeSnapshot, MessageType, messageTypeName, RaftError, ReadOnlyOption, SnapshotStatus, stateTypeName,
} from '../../src/index.js'
import type { TestData } from '@strata/testkit'
import { bootstrapStorage, seededRng, TestNode } from './node.js'
import { message, rawNodeRaft } from '../../src/internal.js'

type TestCase = TestData

function argValue(tc: TestCase, key: string): string | undefined {
  return tc.args.find((a) => a.key === key)?.values[0]
}

function argValues(tc: TestCase, key: string): readonly string[] {
  return tc.args.find((a) => a.key === key)?.values ?? []
}

/** The bare (key-only) arguments, e.g. the node ids of `process-ready 1 2`. */
function bareArgs(tc: TestCase): string[] {
  return tc.args.filter((a) => a.values.length === 0).map((a) => a.key)
}

/**
 * A deterministic multi-node harness driven by data-driven commands, modelled on etcd's
 * rafttest.InteractionEnv: messages are queued and delivered only when a command says so.
 */
export class InteractionEnv {
  nodes: TestNode[] = []
  messages: Message[] = []
  #out: string[] = []

  handle(tc: TestCase): string {
    this.#out = []
    try {
      this.#dispatch(tc)
    } catch (err) {
      if (!(err instanceof RaftError)) throw err
      this.#out.push(`error: ${err.code}: ${err.message}`)
    }
    // etcd's harness prints "ok" for commands without output; so do we.
    return this.#out.length === 0 ? 'ok' : this.#out.join('\n')
  }

  #print(line: string): void {
    this.#out.push(line)
  }

  #node(id: string | number | undefined): TestNode {
    const n = this.nodes[Number(id) - 1]
    if (n === undefined) throw new Error(`no node ${String(id)}`)
    return n
  }

  #ids(tc: TestCase): number[] {
    const ids = bareArgs(tc).map(Number)
    return ids.length > 0 ? ids : this.nodes.map((n) => n.id)
  }

  #dispatch(tc: TestCase): void {
    switch (tc.cmd) {
      case 'add-nodes': return this.#addNodes(tc)
      case 'campaign': return this.#node(bareArgs(tc)[0]).rn.campaign()
      case 'propose': return this.#node(bareArgs(tc)[0]).rn.propose(new TextEncoder().encode(bareArgs(tc)[1] ?? ''))
      case 'propose-conf-change': return this.#proposeConfChange(tc)
      case 'process-ready': for (const id of this.#ids(tc)) this.#processReady(id); return
      case 'deliver-msgs': this.#deliverMsgs(tc); return
      case 'stabilize': return this.#stabilize(this.#ids(tc))
      case 'tick-election': return this.#tick(tc, (n) => rawNodeRaft(n.rn).electionTimeout)
      case 'tick-heartbeat': return this.#tick(tc, (n) => rawNodeRaft(n.rn).heartbeatTimeout)
      case 'transfer-leadership': return this.#node(argValue(tc, 'from')).rn.transferLeader(Number(argValue(tc, 'to')))
      case 'forget-leader': return this.#node(bareArgs(tc)[0]).rn.forgetLeader()
      case 'report-unreachable': return this.#node(bareArgs(tc)[0]).rn.reportUnreachable(Number(bareArgs(tc)[1]))
      case 'report-snapshot':
        return this.#node(bareArgs(tc)[0]).rn.reportSnapshot(Number(bareArgs(tc)[1]), argValue(tc, 'status') === 'failure' ? SnapshotStatus.Failure : SnapshotStatus.Finish)
      case 'read-index': return this.#node(bareArgs(tc)[0]).rn.readIndex(new TextEncoder().encode(bareArgs(tc)[1] ?? ''))
      case 'send-snapshot': return this.#sendSnapshot(Number(bareArgs(tc)[0]), Number(bareArgs(tc)[1]))
      case 'compact': return this.#compact(Number(bareArgs(tc)[0]), Number(bareArgs(tc)[1]))
      case 'raft-log': return this.#raftLog(Number(bareArgs(tc)[0]))
      case 'raft-state': return this.#raftState()
      case 'status': return this.#status(Number(bareArgs(tc)[0]))
      case 'set-randomized-election-timeout':
        rawNodeRaft(this.#node(bareArgs(tc)[0]).rn).randomizedElectionTimeout = Number(argValue(tc, 'timeout'))
        return
      case 'log-level': return
      default: throw new Error(`${tc.pos}: unknown command ${tc.cmd}`)
    }
  }

  #addNodes(tc: TestCase): void {
    const n = Number(bareArgs(tc)[0])
    const voters = argValues(tc, 'voters').map(Number)
    const learners = argValues(tc, 'learners').map(Number)
    const index = Number(argValue(tc, 'index') ?? 0)
    const flag = (k: string): boolean => argValue(tc, k) === 'true'
    for (let i = 0; i < n; i++) {
      const id = this.nodes.length + 1
      const storage = bootstrapStorage({ voters, learners }, index)
      const node = new TestNode(id, storage, {
        rng: seededRng(id), electionTick: 10, heartbeatTick: 1,
        checkQuorum: flag('checkquorum'), preVote: flag('prevote'), stepDownOnRemoval: flag('step-down-on-removal'),
        disableConfChangeValidation: flag('disable-conf-change-validation'),
        maxInflightMsgs: Number(argValue(tc, 'inflight') ?? 2 ** 31 - 1),
        maxInflightBytes: Number(argValue(tc, 'max-inflight-bytes') ?? 0),
        maxSizePerMsgBytes: Number(argValue(tc, 'max-size-per-msg') ?? Number.MAX_SAFE_INTEGER),
        maxCommittedSizePerReadyBytes: Number(argValue(tc, 'max-committed-size-per-ready') ?? Number.MAX_SAFE_INTEGER),
        readOnlyOption: argValue(tc, 'read-only') === 'lease-based' ? ReadOnlyOption.LeaseBased : ReadOnlyOption.Safe,
        logger: (line) => this.#print(`INFO ${line}`),
      })
      // Snapshots sent to followers describe the applied state, as an application would make them.
      storage.overrideSnapshot = () => ({
        data: new Uint8Array(0),
        metadata: { index: node.appliedIndex, term: storage.term(node.appliedIndex), confState: node.confState! },
      })
      this.nodes.push(node)
      this.#print(`INFO ${id} initialized at index ${index}, ${describeConfState(storage.initialState().confState)}`)
    }
  }

  #proposeConfChange(tc: TestCase): void {
    const letters: Record<string, ConfChangeType> = { v: ConfChangeType.AddNode, r: ConfChangeType.RemoveNode, u: ConfChangeType.UpdateNode, l: ConfChangeType.AddLearnerNode }
    const changes: ConfChangeSingle[] = tc.input.split(/\s+/).filter(Boolean).map((t) => ({ type: letters[t[0]!]!, nodeId: Number(t.slice(1)) }))
    const rn = this.#node(bareArgs(tc)[0]).rn
    const context = new Uint8Array(0)
    if (argValue(tc, 'v1') === 'true') {
      if (changes.length !== 1) throw new Error(`${tc.pos}: v1 takes one change`)
      rn.proposeConfChange({ type: changes[0]!.type, nodeId: changes[0]!.nodeId, context })
      return
    }
    const t = argValue(tc, 'transition') ?? 'auto'
    const transition = t === 'implicit' ? ConfChangeTransition.JointImplicit : t === 'explicit' ? ConfChangeTransition.JointExplicit : ConfChangeTransition.Auto
    rn.proposeConfChange({ transition, changes, context })
  }

  #describeReady(rd: Ready): void {
    this.#print(`Ready MustSync=${rd.mustSync}:`)
    if (rd.softState !== undefined) this.#print(`Lead:${rd.softState.lead} State:${stateTypeName(rd.softState.raftState)}`)
    if (rd.hardState !== undefined) this.#print(`HardState ${describeHardState(rd.hardState)}`)
    for (const rs of rd.readStates) this.#print(`ReadState Index:${rs.index} RequestCtx:${new TextDecoder().decode(rs.requestCtx)}`)
    if (rd.entries.length > 0) { this.#print('Entries:'); for (const e of rd.entries) this.#print(`  ${describeEntry(e)}`) }
    if (rd.snapshot !== undefined) this.#print(`Snapshot ${describeSnapshot(rd.snapshot)}`)
    if (rd.committedEntries.length > 0) { this.#print('CommittedEntries:'); for (const e of rd.committedEntries) this.#print(`  ${describeEntry(e)}`) }
    if (rd.messages.length > 0) { this.#print('Messages:'); for (const m of rd.messages) this.#print(`  ${describeMessage(m)}`) }
  }

  #processReady(id: number): boolean {
    const n = this.#node(id)
    if (!n.rn.hasReady()) return false
    this.#print(`> ${id} handling Ready`)
    const msgs = n.handleReady((rd) => this.#describeReady(rd))
    for (const m of msgs) this.messages.push(m)
    return true
  }

  #deliverMsgs(tc: TestCase): number {
    const type = argValue(tc, 'type')
    const drop = new Set(argValues(tc, 'drop').map(Number))
    const ids = drop.size > 0 ? [...drop] : this.#ids(tc)
    let n = 0
    for (const id of ids) n += this.#deliverTo(id, drop.has(id), type)
    return n
  }

  #deliverTo(id: number, drop: boolean, type?: string): number {
    const match = (m: Message): boolean => m.to === id && (type === undefined || messageTypeName(m.type) === type)
    const mine = this.messages.filter(match)
    if (mine.length === 0) return 0
    this.messages = this.messages.filter((m) => !match(m))
    if (!drop) this.#print(`> ${id} receiving messages`)
    for (const m of mine) {
      if (drop) { this.#print(`dropped: ${describeMessage(m)}`); continue }
      this.#print(`  ${describeMessage(m)}`)
      try {
        this.#node(id).rn.step(m)
      } catch (err) {
        if (!(err instanceof RaftError)) throw err
        this.#print(`  error: ${err.code}`)
      }
    }
    return mine.length
  }

  #stabilize(ids: number[]): void {
    for (let round = 0; round < 1000; round++) {
      let busy = false
      for (const id of ids) if (this.#processReady(id)) busy = true
      for (const id of ids) if (this.#deliverTo(id, false) > 0) busy = true
      if (!busy) return
    }
    throw new Error('stabilize did not converge')
  }

  #tick(tc: TestCase, count: (n: TestNode) => number): void {
    const n = this.#node(bareArgs(tc)[0])
    for (let i = count(n); i > 0; i--) n.rn.tick()
  }

  #sendSnapshot(from: number, to: number): void {
    const n = this.#node(from)
    const snapshot = n.storage.snapshot()
    this.messages.push(message({ type: MessageType.MsgSnap, from, to, term: rawNodeRaft(n.rn).term, snapshot }))
  }

  #compact(id: number, index: number): void {
    const n = this.#node(id)
    n.storage.createSnapshot(index, { confState: n.confState })
    n.storage.compact(index)
    this.#raftLog(id)
  }

  #raftLog(id: number): void {
    const log = rawNodeRaft(this.#node(id).rn).raftLog
    const ents = log.allEntries()
    if (ents.length === 0) this.#print(`log is empty: first index=${log.firstIndex()}, last index=${log.lastIndex()}`)
    for (const e of ents) this.#print(describeEntry(e))
  }

  #raftState(): void {
    for (const n of this.nodes) {
      const r = rawNodeRaft(n.rn)
      const voter = r.trk.config.voters.ids().includes(n.id) ? 'Voter' : 'Non-Voter'
      this.#print(`${n.id}: ${stateTypeName(r.state)} (${voter}) Term:${r.term} Lead:${r.lead} Commit:${r.raftLog.committed}`)
    }
  }

  #status(id: number): void {
    const r = rawNodeRaft(this.#node(id).rn)
    if (r.state !== 2) { this.#print(`${id} is not the leader`); return }
    r.trk.visit((pid, pr) => this.#print(`${pid}: ${pr.toString()}`))
  }
}
