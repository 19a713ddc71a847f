// Faults, swarm style: each seed enables a random subset of the kinds, then draws a schedule of
// them over the run. A schedule is plain data, so a failing one can be shrunk and replayed.
import type { FailpointName } from '@strata/seams'
import type { Prng } from '@strata/testkit'
import type { Store } from '@strata/embed'
import type { SimCluster } from './cluster.js'

export const FAULT_KINDS = [
  'crash', 'powerLoss', 'clusterPowerLoss', 'failpoint', 'isolateLeader', 'partitionMinority', 'asymmetric',
  'drop', 'delay', 'duplicate', 'reorder', 'pause', 'skew', 'slowFsync', 'fsyncEio', 'bitFlip', 'truncateWal', 'snapshotIsolation',
  'membership',
] as const
/** `membership`: a learner with a fresh disk (a spare id) is added, promoted, then another voter removed. */
export type FaultKind = typeof FAULT_KINDS[number]

export const FAILPOINTS: readonly FailpointName[] = [
  'raftBeforeSave', 'raftAfterSave', 'beforeApplyOne', 'backendBeforeCommit', 'backendAfterCommit',
  'compactBeforeCommitBatch', 'compactAfterCommitBatch', 'snapBeforeSave', 'snapAfterSave', 'snapBeforeApply',
  'walBeforeCut', 'walAfterRename', 'leaseBeforeRevokeExpired',
]

export interface Fault {
  readonly kind: FaultKind
  /** Virtual ms from the start of the run. */
  readonly at: number
  readonly durationMs: number
  /** A member index into the cluster's ids (resolved at injection; -1: the leader then). */
  readonly member: number
  /** A second member, an amount or a failpoint index, by kind. */
  readonly arg: number
}

export function describeFault(f: Fault): string {
  const extra = f.kind === 'failpoint' ? ` ${FAILPOINTS[f.arg % FAILPOINTS.length]} skip ${Math.floor(f.arg / FAILPOINTS.length)}` : f.arg !== 0 ? ` arg ${f.arg}` : ''
  return `${f.at}ms ${f.kind} m${f.member < 0 ? '(leader)' : f.member + 1} for ${f.durationMs}ms${extra}`
}

/** Draws the kinds a seed enables, then `count` faults of those kinds over `spanMs`. */
export function drawSchedule(prng: Prng, members: number, spanMs: number, count: number, only?: readonly FaultKind[]): Fault[] {
  let kinds = (only ?? FAULT_KINDS).filter((k) => members > 1 || !['isolateLeader', 'partitionMinority', 'asymmetric', 'snapshotIsolation', 'bitFlip', 'truncateWal', 'membership'].includes(k))
  if (only === undefined) {
    const chosen = kinds.filter(() => prng.bool(0.4))
    kinds = chosen.length > 0 ? chosen : [kinds[prng.int(kinds.length)]!]
  }
  const out: Fault[] = []
  for (let i = 0; i < count; i++) {
    const kind = kinds[prng.int(kinds.length)]!
    const at = 200 + prng.int(Math.max(1, spanMs - 200))
    const durationMs = kind === 'snapshotIsolation' ? 2000 + prng.int(2000) : kind === 'membership' ? 1000 + prng.int(1500) : 100 + prng.int(1500)
    const member = kind === 'isolateLeader' || (kind === 'pause' && prng.bool(0.5)) ? -1 : prng.int(members)
    const arg = kind === 'failpoint' ? prng.int(FAILPOINTS.length * 4)
      : kind === 'asymmetric' || kind === 'partitionMinority' ? prng.int(members)
        : kind === 'skew' ? prng.int(21) - 10
          : kind === 'slowFsync' ? 1 + prng.int(30)
            : prng.int(1 << 20)
    out.push({ kind, at, durationMs, member, arg })
  }
  return out.sort((a, b) => a.at - b.at || a.member - b.member)
}

export interface Counters {
  readonly injected: Map<FaultKind, number>
}

/**
 * Injects faults at their times and undoes them after their duration. Network faults of the
 * same family do not stack: while one partition holds, another is skipped.
 */
export class Injector {
  readonly #cluster: SimCluster
  readonly #schedule: Fault[]
  readonly #log: (line: string) => void
  readonly injected = new Map<FaultKind, number>()
  readonly #undo: { at: number; fn: () => void | Promise<void> }[] = []
  #next = 0
  #partitioned = false
  /** The fastest any member clock ever ran (the lease checker's bound). */
  maxRate = 1
  #changing = false
  /** Members damaged at rest: at most a minority, ever. */
  readonly damaged = new Set<number>()

  constructor(cluster: SimCluster, schedule: Fault[], log: (line: string) => void) {
    this.#cluster = cluster
    this.#schedule = schedule
    this.#log = log
  }

  get done(): boolean { return this.#next >= this.#schedule.length && this.#undo.length === 0 }

  /** Whether `tick(now)` has anything to inject or undo (the run loop skips the call otherwise). */
  dueBy(now: number): boolean {
    return (this.#next < this.#schedule.length && this.#schedule[this.#next]!.at <= now) || this.#undo.some((u) => u.at <= now)
  }

  /** Injects every fault due by now and undoes every one that ended. */
  async tick(now: number): Promise<void> {
    this.#undo.sort((a, b) => a.at - b.at)
    while (this.#undo.length > 0 && this.#undo[0]!.at <= now) await this.#undo.shift()!.fn()
    while (this.#next < this.#schedule.length && this.#schedule[this.#next]!.at <= now) await this.#inject(this.#schedule[this.#next++]!, now)
  }

  /** Undoes everything still in force (before the convergence check). */
  async healAll(): Promise<void> {
    this.#next = this.#schedule.length
    while (this.#undo.length > 0) await this.#undo.shift()!.fn()
    this.#cluster.net.setFaults({ minDelay: 1, maxDelay: 3 })
  }

  #count(kind: FaultKind): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1)
  }

  #resolve(f: Fault): number | undefined {
    if (f.member >= 0) return this.#cluster.ids[f.member % this.#cluster.ids.length]
    const leaders = this.#cluster.leaders().sort((a, b) => b.term - a.term)
    return leaders[0]?.id
  }

  #later(at: number, fn: () => void | Promise<void>): void {
    this.#undo.push({ at, fn })
  }

  #restartLater(id: number, at: number): void {
    this.#later(at, async () => {
      void this.#cluster.start(id)
    })
  }

  /** The store of the member that leads in the highest term now, if any. */
  #leaderStore(): Store | undefined {
    const l = this.#cluster.leaders().sort((a, b) => b.term - a.term)[0]
    return l === undefined ? undefined : this.#cluster.slot(l.id).run?.store
  }

  /**
   * Reconciles the slots with the membership the leader applied (a change whose call timed out
   * may still have happened): a listed spare joins and starts, an unlisted member is removed
   * and stopped.
   */
  reconcileMembers(): void {
    const c = this.#cluster
    const store = this.#leaderStore()
    if (store === undefined) return
    const listed = store.cluster.members().members.map((m) => m.id)
    for (const id of c.allIds) {
      const slot = c.slot(id)
      if (slot.removed) continue
      if (!slot.joined && listed.includes(id)) {
        slot.joined = true
        slot.initialCluster = [...listed]
        this.#log(`membership: m${id} is in the cluster`)
        void c.start(id)
      } else if (slot.joined && !listed.includes(id)) {
        slot.removed = true
        this.#log(`membership: m${id} was removed`)
        c.crash(id, 'keepAll', 'removed from the cluster')
      }
    }
  }

  /** Adds a spare as a learner now, promotes it halfway, removes another voter at the end. */
  #membership(f: Fault, now: number): boolean {
    const c = this.#cluster
    if (this.#changing) return false
    const spare = c.allIds.find((id) => !c.slot(id).joined && !c.slot(id).removed && !c.slot(id).proposed)
    const store = this.#leaderStore()
    if (spare === undefined || store === undefined) return false
    this.#changing = true
    const slot = c.slot(spare)
    slot.proposed = true
    const settled = (what: string) => (err?: { code?: string }) => {
      this.#log(`membership: ${what} ${err === undefined ? 'done' : `failed (${err.code ?? String(err)})`}`)
      this.reconcileMembers()
    }
    store.cluster.add({ id: spare, isLearner: true }).then(() => settled(`add learner m${spare}`)(), settled(`add learner m${spare}`))
    this.#later(now + Math.floor(f.durationMs / 2), () => {
      const s = this.#leaderStore()
      if (s === undefined || !slot.joined || slot.removed) return
      s.cluster.promote(spare).then(() => settled(`promote m${spare}`)(), settled(`promote m${spare}`))
    })
    this.#later(now + f.durationMs, () => {
      this.#changing = false
      const s = this.#leaderStore()
      if (s === undefined) return
      const voters = s.cluster.members().members.filter((m) => !m.isLearner).map((m) => m.id)
      // Only once the new member votes, so the voters stay as many as at the start.
      if (!voters.includes(spare)) return
      const others = voters.filter((id) => id !== spare)
      const victim = others[f.arg % others.length]!
      s.cluster.remove(victim).then(() => settled(`remove m${victim}`)(), settled(`remove m${victim}`))
    })
    return true
  }

  async #inject(f: Fault, now: number): Promise<void> {
    const c = this.#cluster
    const id = this.#resolve(f)
    if (id === undefined) return
    const slot = c.slot(id)
    const running = slot.run?.alive === true && slot.run.store !== undefined
    const end = now + f.durationMs
    const ids = c.ids
    switch (f.kind) {
      case 'crash':
      case 'powerLoss': {
        if (!running) return
        c.crash(id, f.kind === 'crash' ? 'keepAll' : 'random', f.kind)
        this.#restartLater(id, end)
        break
      }
      case 'clusterPowerLoss': {
        // Half the time the disks keep nothing unsynced (the worst case), else a random part.
        const mode = f.arg % 2 === 0 ? 'pessimistic' : 'random'
        for (const m of ids) {
          if (c.slot(m).run?.alive !== true) continue
          c.crash(m, mode, 'cluster power loss')
          this.#restartLater(m, end)
        }
        break
      }
      case 'failpoint': {
        if (!running) return
        const name = FAILPOINTS[f.arg % FAILPOINTS.length]!
        c.armFailpoint(id, name, Math.floor(f.arg / FAILPOINTS.length))
        // Whether or not it fired, the member is back (or disarmed) after the duration.
        this.#later(end, async () => {
          const s = c.slot(id)
          if (s.run?.alive === true) s.run.kill.disarm()
          else void c.start(id)
        })
        break
      }
      case 'isolateLeader':
      case 'partitionMinority': {
        if (this.#partitioned) return
        this.#partitioned = true
        if (f.kind === 'isolateLeader') c.net.isolate(id)
        else {
          const minority = [id]
          if (ids.length === 5 && f.arg % 2 === 1) minority.push(ids[(ids.indexOf(id) + 1) % ids.length]!)
          c.net.partition([minority])
        }
        this.#later(end, () => {
          c.net.heal()
          this.#partitioned = false
        })
        break
      }
      case 'snapshotIsolation': {
        if (this.#partitioned) return
        this.#partitioned = true
        c.net.isolate(id)
        this.#later(end, () => {
          c.net.heal()
          this.#partitioned = false
        })
        break
      }
      case 'asymmetric': {
        const other = ids[(ids.indexOf(id) + 1 + (f.arg % (ids.length - 1))) % ids.length]!
        slot.port.cutTo.add(other)
        this.#later(end, () => void slot.port.cutTo.delete(other))
        break
      }
      case 'drop':
      case 'delay':
      case 'duplicate':
      case 'reorder': {
        const p = 0.05 + (f.arg % 20) / 100
        if (f.kind === 'duplicate') {
          // Duplicates are made by the senders' ports, which can spare forwarded proposals.
          for (const s of c.slots.values()) {
            s.port.duplicateProbability = p
            s.port.duplicateProposals = c.config.duplicateProposals === true
          }
          this.#later(end, () => { for (const s of c.slots.values()) s.port.duplicateProbability = 0 })
          break
        }
        c.net.setFaults(f.kind === 'drop' ? { dropProbability: p, minDelay: 1, maxDelay: 3 }
          : f.kind === 'delay' ? { minDelay: 1, maxDelay: 5 + (f.arg % 40) }
            : { reorderProbability: 0.3 + p, minDelay: 1, maxDelay: 6 })
        this.#later(end, () => c.net.setFaults({ minDelay: 1, maxDelay: 3 }))
        break
      }
      case 'pause': {
        if (!running) return
        const inc = slot.run!
        inc.clock.pause()
        slot.port.pause()
        this.#later(end, () => {
          slot.port.resume()
          inc.clock.resume()
        })
        break
      }
      case 'skew': {
        // At most 10% fast or slow; the next incarnations keep it.
        const rate = 1 + f.arg / 100
        this.maxRate = Math.max(this.maxRate, rate)
        slot.rate = rate
        slot.run?.clock.setRate(rate)
        break
      }
      case 'slowFsync': {
        slot.syncDelayMs = f.arg
        this.#later(end, () => void (slot.syncDelayMs = 0))
        break
      }
      case 'fsyncEio': {
        if (!running) return
        const inc = slot.run!
        slot.eioArmed = true
        // The member must stop on its own (checked by the runner); the operator restarts it later.
        this.#later(end, async () => {
          slot.eioArmed = false
          if (slot.run === inc && inc.alive) c.crash(id, 'keepAll', 'operator restart after EIO')
          void c.start(id)
        })
        break
      }
      case 'membership': {
        if (!this.#membership(f, now)) return
        break
      }
      case 'bitFlip':
      case 'truncateWal': {
        // Damage at rest: only on a stopped member, only ever a minority of the members.
        if (!this.damaged.has(id) && this.damaged.size + 1 > (ids.length - 1) / 2) return
        this.damaged.add(id)
        if (running) c.crash(id, 'keepAll', f.kind)
        const files = (await slot.fs.readdir(`/m${id}/wal`).catch(() => [] as string[])).filter((n) => n.endsWith('.wal')).sort()
        if (files.length > 0) {
          const path = `/m${id}/wal/${files[f.arg % files.length]!}`
          const size = (await slot.fs.stat(path))?.size ?? 0
          if (size > 0) {
            if (f.kind === 'bitFlip') slot.fs.flipBit(path, f.arg % Math.min(size, 8192), f.arg % 8)
            else {
              const h = await slot.fs.open(path, 'readWrite')
              await h.truncate(Math.max(0, Math.min(size, 4096) - 1 - (f.arg % 512)))
              await h.sync()
              await h.close()
            }
          }
        }
        this.#restartLater(id, end)
        break
      }
    }
    this.#count(f.kind)
    this.#log(`fault ${describeFault(f)} -> m${id}`)
  }
}
