// One seed: build a cluster, run the workload under a fault schedule, heal, check.
import { createHash } from 'node:crypto'
import { Prng } from '@strata/testkit'
import { SimCluster } from './cluster.js'
import { type EventLog, type Violation, checkAgainstEvents, checkLeases, checkLinearizability, checkWatches } from './checkers.js'
import { type Fault, type FaultKind, Injector, describeFault, drawSchedule } from './faults.js'
import { History } from './history.js'
import type { PlantedBugs } from './planted.js'
import { Workload } from './workload.js'

export interface SeedOptions {
  readonly seed: number
  /** Members; default drawn from the seed (1, 3 or 5; mostly 3). */
  readonly members?: 1 | 3 | 5
  readonly ops?: number
  /** The fault schedule; default drawn from the seed (swarm). */
  readonly faults?: readonly Fault[]
  /** Restrict the drawn schedule to these kinds. */
  readonly kinds?: readonly FaultKind[]
  /** How many faults to draw. Default 8. */
  readonly faultCount?: number
  readonly planted?: PlantedBugs
  /** Let duplicated messages include forwarded proposals (which raft may then apply twice). */
  readonly duplicateProposals?: boolean
  /** Collect the trace lines (for the digest they are always hashed). */
  readonly trace?: boolean
}

export interface SeedResult {
  readonly seed: number
  readonly members: number
  readonly digest: string
  readonly opsIssued: number
  readonly opsChecked: number
  readonly undecided: number
  readonly faults: readonly Fault[]
  readonly injected: ReadonlyMap<FaultKind, number>
  readonly violations: readonly Violation[]
  readonly virtualMs: number
  readonly trace: readonly string[]
  /** The recorded history (for tools that dig into a failure). */
  readonly history: History
}

/** Spare member ids of a run that may change its membership. */
const SPARES = 8

let warm: Promise<unknown> | undefined

/**
 * Opens and closes one member outside any seed: the WebAssembly hashers (mvcc's hashKV, the
 * snapshot files' checksum) compile once per process as real asynchronous work, which would
 * otherwise land at a time no seed controls.
 */
export function warmUp(): Promise<unknown> {
  warm ??= (async () => {
    const cluster = new SimCluster(new Prng(0), { members: 1, tickMs: 10, electionTicks: 10, requestTimeoutMs: 1000, snapshotCount: 300, snapshotCatchUpEntries: 100 }, () => {})
    await cluster.start(1)
    await cluster.slot(1).run!.store!.maintenance.hashKV()
    await cluster.close()
  })()
  return warm
}

export async function runSeed(options: SeedOptions): Promise<SeedResult> {
  await warmUp()
  const prng = new Prng(options.seed)
  const members = options.members ?? ([1, 3, 3, 3, 5] as const)[prng.int(5)]!
  const digest = createHash('sha256')
  const trace: string[] = []
  // Spare ids for the membership changes a schedule may make (none when it cannot). Always
  // as many, so that a shrunk schedule replays the run it came from (each change takes one;
  // more changes than spares are skipped).
  const membership = options.faults !== undefined ? options.faults.some((f) => f.kind === 'membership')
    : options.kinds === undefined || options.kinds.includes('membership')
  const spares = membership ? SPARES : 0
  const cluster = new SimCluster(prng.fork(), {
    members, tickMs: 10, electionTicks: 10, requestTimeoutMs: 1000, snapshotCount: 300, snapshotCatchUpEntries: 100, planted: options.planted, duplicateProposals: options.duplicateProposals,
    ...(spares > 0 ? { spares } : {}),
  }, (line) => {
    const l = `${cluster.clock.now()} ${line}`
    digest.update(l).update('\n')
    if (options.trace === true) trace.push(l)
  })
  cluster.net.setFaults({ minDelay: 1, maxDelay: 3 })
  const ops = options.ops ?? 2000
  const spanMs = Math.max(2000, ops * 4)
  const schedule = options.faults !== undefined ? [...options.faults] : drawSchedule(prng.fork(), members, spanMs, options.faultCount ?? 8, options.kinds)
  const injector = new Injector(cluster, schedule, (line) => {
    const l = `${cluster.clock.now()} ${line}`
    digest.update(l).update('\n')
    if (options.trace === true) trace.push(l)
  })
  const history = new History()
  const violations: Violation[] = []
  for (const id of cluster.ids) void cluster.start(id)
  await cluster.runFor(300)
  const workload = new Workload(cluster, history, prng.fork(), {
    clients: 6, watchers: 2, maxOps: ops, thinkMs: 4, callTimeoutMs: 1500, leases: true, compactions: true,
  })
  workload.start()
  const sampler = new Sampler(cluster, violations)
  const hardEnd = cluster.clock.now() + spanMs * 6 + 30_000
  while ((!workload.done || !injector.done) && cluster.clock.now() < hardEnd) {
    if (injector.dueBy(cluster.clock.now())) await injector.tick(cluster.clock.now())
    await cluster.step(20)
    sampler.maybeSample()
    checkEio(cluster, violations)
  }
  workload.stop()
  // Heal: undo every fault, restart every member that can start, let the cluster settle.
  await injector.healAll()
  if (spares > 0) {
    // Changes still in flight settle first; then the slots follow the applied membership.
    await cluster.runFor(1000)
    injector.reconcileMembers()
  }
  for (const id of cluster.ids) if (cluster.slot(id).run?.alive !== true) void cluster.start(id)
  await cluster.runFor(3000)
  let drained = false
  void workload.drain().then(() => void (drained = true))
  for (let i = 0; i < 2000 && !drained; i++) await cluster.step(20)
  if (!drained) violations.push({ checker: 'liveness', message: 'clients still waiting 40 s after healing' })
  for (const s of cluster.slots.values()) {
    if (s.refused !== undefined && !injector.damaged.has(s.id)) violations.push({ checker: 'restart', message: `member ${s.id} refused to restart (${s.refused}) though its disk was never damaged at rest` })
  }
  await convergence(cluster, violations)
  await sampler.sampleNow()
  const lin = checkLinearizability(history)
  violations.push(...lin.violations)
  const watch = checkWatches(history)
  violations.push(...watch.violations)
  violations.push(...checkAgainstEvents(history, watch.log))
  violations.push(...checkLeases(history, watch.log, injector.maxRate))
  await cluster.close()
  // One update of the history's lines (the same bytes as one per line); only a range's result holds a Map.
  digest.update(history.ops.map((op) => `${op.client} ${op.member} ${JSON.stringify(op.call)} ${op.invoked} ${op.returned} ${op.status} ${JSON.stringify(op.result, op.result?.kind === 'range' ? mapReplacer : undefined)}\n`).join(''))
  digest.update(eventDigest(watch.log))
  return {
    seed: options.seed, members, digest: digest.digest('hex').slice(0, 16), opsIssued: workload.issued, opsChecked: lin.checked, undecided: lin.undecided,
    faults: schedule, injected: injector.injected, violations, virtualMs: cluster.clock.now(), trace, history,
  }
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1')
const mapReplacer = (_k: string, v: unknown): unknown => (v instanceof Map ? [...v.entries()] : v)

function eventDigest(log: EventLog): string {
  return [...log.byRevision.entries()].sort((a, b) => a[0] - b[0]).map(([r, es]) => `${r}:${es.map((e) => `${e.type}${e.key}=${e.value}`).join(',')}`).join(';')
}

/** A member whose WAL fsync failed must stop serving within a second (never go on as if the write landed). */
function checkEio(cluster: SimCluster, violations: Violation[]): void {
  for (const slot of cluster.slots.values()) {
    const fired = slot.eioFired
    const inc = slot.run
    if (fired === undefined || cluster.clock.now() < fired.at + 1000) continue
    slot.eioFired = undefined
    if (inc === undefined || inc.n !== fired.incarnation || !inc.alive || inc.store === undefined) continue
    inc.store.get('k/0', { serializable: true }).then(
      () => void violations.push({ checker: 'fsync-eio', message: `member ${slot.id} still serves 1 s after its WAL fsync failed with EIO` }),
      () => {},
    )
  }
}

/** Apply determinism and raft invariants, sampled: equal applied index, equal state; one leader per term. */
export class Sampler {
  readonly #cluster: SimCluster
  readonly #violations: Violation[]
  readonly #byIndex = new Map<number, string>()
  readonly #leaderOfTerm = new Map<number, number>()
  /** Mismatches already reported (applied index and member): each once. */
  readonly #reported = new Set<string>()
  #next = 0

  constructor(cluster: SimCluster, violations: Violation[]) {
    this.#cluster = cluster
    this.#violations = violations
  }

  maybeSample(): void {
    if (this.#cluster.clock.now() < this.#next) return
    this.#next = this.#cluster.clock.now() + 250
    void this.sampleNow()
  }

  async sampleNow(): Promise<void> {
    for (const s of this.#cluster.live()) {
      const inc = s.run
      const store = inc?.store
      if (inc === undefined || store === undefined || !inc.alive) continue
      const st = store.maintenance.status()
      if (st.leader === s.id) {
        const other = this.#leaderOfTerm.get(st.raftTerm)
        if (other !== undefined && other !== s.id) this.#violations.push({ checker: 'raft', message: `two leaders in term ${st.raftTerm}: ${other} and ${s.id}` })
        this.#leaderOfTerm.set(st.raftTerm, s.id)
      }
      let digest: string
      try {
        const r = await store.get('\0', { end: '\0', serializable: true })
        digest = `rev ${r.header.revision} ${r.kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}/${kv.lease}`).join(',')}`
      } catch {
        continue
      }
      if (!inc.alive) continue
      const st2 = store.maintenance.status()
      if (st2.raftAppliedIndex !== st.raftAppliedIndex) continue
      const seen = this.#byIndex.get(st.raftAppliedIndex)
      if (seen === undefined) this.#byIndex.set(st.raftAppliedIndex, digest)
      else if (seen !== digest && !this.#reported.has(`${st.raftAppliedIndex} ${s.id}`)) {
        this.#reported.add(`${st.raftAppliedIndex} ${s.id}`)
        this.#violations.push({ checker: 'apply-determinism', message: `at applied index ${st.raftAppliedIndex}: member ${s.id} has ${digest}, another had ${seen}` })
      }
    }
  }
}

/** After healing: one leader that every member follows, the same revision and the same hash everywhere (checked every 250 ms for `rounds`). */
export async function convergence(cluster: SimCluster, violations: Violation[], rounds = 40): Promise<void> {
  let last = ''
  for (let round = 0; round < rounds; round++) {
    const live = cluster.live()
    const expected = cluster.ids.filter((id) => cluster.slot(id).refused === undefined)
    const status = live.map((s) => ({ id: s.id, ...s.run!.store!.maintenance.status() }))
    const leaders = new Set(status.map((s) => s.leader))
    const revs = new Set(status.map((s) => s.header.revision))
    const applied = new Set(status.map((s) => s.raftAppliedIndex))
    if (live.length === expected.length && leaders.size === 1 && !leaders.has(0) && revs.size === 1 && applied.size === 1) {
      const rev = status[0]!.header.revision
      const hashes = new Set<string>()
      for (const s of live) {
        const store = s.run?.store
        if (store !== undefined) hashes.add(await cluster.drive(store.maintenance.hashKV(rev), 2000).then((h) => h.hash, (err: Error) => `(${err.message})`))
      }
      if (hashes.size === 1) return
      last = `same revision ${rev}, different hashes: ${[...hashes].join(' ')}`
      if (process.env.SIM_DEBUG !== undefined) console.error(last, status)
    } else {
      last = status.map((s) => `m${s.id}: leader ${s.leader} term ${s.raftTerm} rev ${s.header.revision} applied ${s.raftAppliedIndex}`).join('; ') + ` (${live.length}/${expected.length} running)`
    }
    await cluster.runFor(250)
  }
  violations.push({ checker: 'convergence', message: `no convergence ${rounds / 4} s after healing: ${last}` })
}

export { describeFault }
