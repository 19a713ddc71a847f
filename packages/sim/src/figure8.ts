// Raft §5.4.2's Figure 8, scripted on a 5-member cluster: an entry of an earlier term that a
// leader finds on a majority is not committed by counting replicas, because a member holding
// a later term's entry at the same index can still win an election and overwrite it. The
// script drives real embed members with one entry per append message (so a follower can hold
// the old entry without the new leader's own) and chosen message losses; the usual checkers
// judge the outcome. With the planted bug `commitPreviousTerm` the old entry is committed,
// applied and acknowledged, then overwritten: the linearizability and convergence checkers
// fail. Without it the same script passes.
import { createHash } from 'node:crypto'
import { type Message, MessageType } from '@strata/raft'
import { Prng } from '@strata/testkit'
import { type Violation, checkLinearizability } from './checkers.js'
import { SimCluster } from './cluster.js'
import { History, type KvCall, type KvOp } from './history.js'
import type { PlantedBugs } from './planted.js'
import { Sampler, convergence, warmUp } from './run.js'

export interface Figure8Result {
  readonly violations: readonly Violation[]
  readonly history: History
  /** The scenario's steps as they happened (virtual ms, what). */
  readonly trace: readonly string[]
  readonly digest: string
  /** The index of the old leader's entry the scenario is about (0 if it never got that far). */
  readonly index: number
  /** Whether the put in that entry was acknowledged to its client. */
  readonly acknowledged: boolean
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1')
const isApp = (m: Message): boolean => m.type === MessageType.MsgApp

/** Runs the scripted Figure 8 scenario; `seed` only seeds the members' randomness (elections). */
export async function runFigure8(options: { readonly seed: number; readonly planted?: PlantedBugs }): Promise<Figure8Result> {
  await warmUp()
  const trace: string[] = []
  let finished = false
  const digest = createHash('sha256')
  const cluster = new SimCluster(new Prng(options.seed), {
    members: 5, tickMs: 10, electionTicks: 10, requestTimeoutMs: 3000, snapshotCount: 10_000, snapshotCatchUpEntries: 1000,
    planted: options.planted, raftMaxSizePerMsgBytes: 1,
  }, (line) => {
    if (finished) return
    const l = `${cluster.clock.now()} ${line}`
    digest.update(l).update('\n')
    trace.push(l)
    if (process.env.SIM_DEBUG !== undefined) console.error(l)
  })
  const step = (what: string): void => cluster.log(`figure8: ${what}`)
  cluster.net.setFaults({ minDelay: 1, maxDelay: 3 })
  const history = new History()
  const violations: Violation[] = []
  const sampler = new Sampler(cluster, violations)
  const until = async (what: string, ok: () => boolean, maxMs: number): Promise<boolean> => {
    const end = cluster.clock.now() + maxMs
    while (!ok() && cluster.clock.now() < end) {
      await cluster.step(5)
      sampler.maybeSample()
    }
    if (ok()) return true
    step(`gave up waiting until ${what}`)
    violations.push({ checker: 'figure8', message: `the scenario did not get on: no ${what} within ${maxMs} ms` })
    return false
  }
  const leaderAmong = (ids: readonly number[]): number | undefined => cluster.leaders().filter((l) => ids.includes(l.id)).sort((a, b) => b.term - a.term)[0]?.id
  const ports = () => [...cluster.slots.values()].map((s) => s.port)
  let client = 0
  const call = (member: number, c: KvCall): { op: KvOp; done: Promise<void> } => {
    const store = cluster.slot(member).run?.store
    const op = history.begin(++client, member, c, cluster.clock.now())
    if (store === undefined) {
      op.status = 'fail'
      op.returned = op.invoked
      return { op, done: Promise.resolve() }
    }
    const p = c.kind === 'put'
      ? store.put(c.key, c.value).then((r) => ({ kind: 'put' as const, revision: r.header.revision }))
      : store.get((c as { key: string }).key).then((r) => ({ kind: 'get' as const, kv: r.kvs[0] === undefined ? null : { value: text(r.kvs[0].value), modRevision: r.kvs[0].modRevision }, revision: r.header.revision }))
    const done = p.then((result) => {
      op.status = 'ok'
      op.returned = cluster.clock.now()
      op.result = result
      step(`client ${op.client} on m${member}: ${JSON.stringify(c)} -> ok at revision ${result.revision}`)
    }, (err: { code?: string }) => {
      // A read that failed did not happen; a write that failed may still apply (unknown).
      if (c.kind === 'get') {
        op.status = 'fail'
        op.returned = cluster.clock.now()
      }
      op.error = err.code ?? String(err)
      step(`client ${op.client} on m${member}: ${JSON.stringify(c)} -> ${op.error}`)
    })
    return { op, done }
  }

  let index = 0
  let acknowledged = false
  for (const id of cluster.ids) void cluster.start(id)
  const all = cluster.ids
  try {
    if (!await until('a leader', () => leaderAmong(all) !== undefined, 3000)) return finish()
    await cluster.runFor(200)
    const a = leaderAmong(all)!
    const [b, ...rest] = all.filter((id) => id !== a) as [number, number, number, number]
    step(`(a) m${a} leads; its appends reach m${b} only`)
    // (a) The leader's entry reaches one follower: a minority holds it.
    cluster.slot(a).port.dropRaft = (to, m) => {
      if (!isApp(m)) return false
      if (to === b && m.entries.length > 0) index = Math.max(index, m.entries[m.entries.length - 1]!.index)
      return to !== b
    }
    const put = call(a, { kind: 'put', key: 'k/0', value: 'a' })
    void put.done.then(() => void (acknowledged = put.op.status === 'ok'))
    if (!await until('the entry reached the follower', () => index > 0, 500)) return finish()
    await cluster.runFor(50)
    step(`entry ${index} (put k/0=a) is on m${a} and m${b}`)
    // (b) The other three elect a leader among themselves; its own entry at that index goes
    // nowhere (every append is lost).
    for (const p of ports()) p.dropRaft = (_to, m) => isApp(m)
    cluster.net.partition([[a, b]])
    if (!await until('a leader among the other three', () => leaderAmong(rest) !== undefined, 3000)) return finish()
    const e = leaderAmong(rest)!
    const [c, d] = rest.filter((id) => id !== e) as [number, number]
    await cluster.runFor(50)
    step(`(b) m${e} leads a later term with its own entry at ${index}, on no one else`)
    // (c) m_e is cut off; the old entry's holders win a later term with m_c's or m_d's vote.
    // One entry per message: m_c gets the old entry and acknowledges it, but none of the new
    // leader's entries (lost on the way); m_d gets no appends at all. A majority (the two
    // holders and m_c) then holds the old entry and no majority holds any entry of the new
    // term: the old entry must stay uncommitted.
    cluster.net.partition([[e]])
    let cHasOld = false
    for (const p of ports()) {
      p.dropRaft = (to, m) => {
        if (!isApp(m)) return false
        if (to === d || to === e) return true
        if (to !== c) return false
        if (cHasOld) return m.entries.length > 0
        if (m.entries.some((x) => x.index === index)) {
          cHasOld = true
          return m.entries.some((x) => x.index > index)
        }
        return false
      }
    }
    if (!await until('a holder of the old entry leads', () => leaderAmong([a, b]) !== undefined, 3000)) return finish()
    const w = leaderAmong([a, b])!
    step(`(c) m${w} leads a later term`)
    await until('m_c holds the old entry', () => cHasOld, 1000)
    await cluster.runFor(300)
    step(`m${c} holds entry ${index}: ${cHasOld}; the put ${acknowledged ? 'was acknowledged' : 'is not acknowledged'}`)
    // (d) The old entry's holders are cut off; m_e (with its later-term entry) wins with the
    // votes of m_c and m_d and overwrites the index.
    for (const p of ports()) p.dropRaft = undefined
    cluster.net.partition([[a, b]])
    if (!await until('m_e leads again', () => leaderAmong([c, d, e]) === e, 3000)) return finish()
    step(`(d) m${e} leads again`)
    // (With the bug the cluster is stuck from here on, in a storm of appends the members
    // holding the overwritten entry answer with their commit index; the tail is kept short.)
    await cluster.runFor(200)
    await sampler.sampleNow()
    // (e) Heal: everyone follows one leader again and reads the key.
    cluster.net.heal()
    step('(e) healed')
    for (const id of all) if (cluster.slot(id).run?.alive !== true) void cluster.start(id)
    await cluster.runFor(300)
    const reads = all.map((id) => call(id, { kind: 'get', key: 'k/0' }).done)
    await cluster.drive(Promise.all(reads), 500).catch(() => {})
    await convergence(cluster, violations, 2)
    await sampler.sampleNow()
    return finish()
  } finally {
    await cluster.close()
  }

  function finish(): Figure8Result {
    finished = true
    violations.push(...checkLinearizability(history).violations)
    for (const op of history.ops) digest.update(`${op.client} ${op.member} ${JSON.stringify(op.call)} ${op.invoked} ${op.returned} ${op.status} ${JSON.stringify(op.result)}\n`)
    return { violations, history, trace, digest: digest.digest('hex').slice(0, 16), index, acknowledged }
  }
}
