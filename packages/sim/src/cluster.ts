// A whole cluster of embed members in one process, on virtual time: one SimClock, one
// SimNetwork, a SimFileSystem and a MemoryBackend (its committed state survives a crash, the
// pending batch does not) per member, every random choice from one seeded Prng.
import { MemoryBackend } from '@strata/backend'
import { type OpenOptions, type Store, open } from '@strata/embed'
import { SIM_TUNING } from '@strata/embed/internal'
import type { FailpointName } from '@strata/seams'
import { type CrashMode, Prng, SimClock, SimFileSystem, SimNetwork } from '@strata/testkit'
import { KillSwitch, MemberClock, Port, faultyFs } from './env.js'
import type { PlantedBugs } from './planted.js'
import { plantedBugOptions } from './planted.js'

export interface ClusterConfig {
  readonly members: 1 | 3 | 5
  readonly tickMs: number
  readonly electionTicks: number
  readonly requestTimeoutMs: number
  readonly snapshotCount: number
  readonly snapshotCatchUpEntries: number
  readonly planted?: PlantedBugs
  /** Let the duplicate fault duplicate forwarded proposals too (they then may apply twice). */
  readonly duplicateProposals?: boolean
  /** Raft's append message cap (1: one entry per message; default raft's 1 MiB). */
  readonly raftMaxSizePerMsgBytes?: number
  /** Member ids beyond the initial cluster that membership changes may add (default 0). */
  readonly spares?: number
}

/** One member id: its disk, its durable backend state, its port; and the running incarnation. */
export interface Slot {
  readonly id: number
  readonly fs: SimFileSystem
  /** The running incarnation's backend, or the dead one whose committed state the next reopens. */
  backend: MemoryBackend | undefined
  readonly port: Port
  /** Virtual ms an fsync waits (slow disk fault); 0: instant. */
  syncDelayMs: number
  /** The next WAL sync fails with EIO (armed by the fault; cleared when it fires). */
  eioArmed: boolean
  /** When an armed EIO fired, and in which incarnation. */
  eioFired: { at: number; incarnation: number } | undefined
  /** Clock rate of the next incarnations (skew). */
  rate: number
  incarnation: number
  run: Incarnation | undefined
  /** Why the member is not running (undefined while it runs). */
  down: string | undefined
  /** Set when a restart refused (typed error): the member stays down. */
  refused: string | undefined
  /** In the cluster: an initial member, or a spare once a membership change added it. */
  joined: boolean
  /** Removed by a membership change: it never starts again. */
  removed: boolean
  /** A membership change proposed to add it (whatever came of it). */
  proposed: boolean
  /** The initialCluster it starts with (the initial members, or the members when it was added). */
  initialCluster: number[]
}

export interface Incarnation {
  readonly n: number
  readonly clock: MemberClock
  readonly kill: KillSwitch
  store: Store | undefined
  alive: boolean
  /** Set by a death from inside (failpoint, throwing timer): the driver finishes the crash. */
  died: string | undefined
}

export type Log = (line: string) => void

export class SimCluster {
  readonly clock = new SimClock()
  readonly prng: Prng
  readonly net: SimNetwork
  readonly slots = new Map<number, Slot>()
  readonly config: ClusterConfig
  readonly #log: Log
  /** Every slot's id: the initial members, then the spares. */
  readonly allIds: number[]
  #pendingCrash: Slot[] = []

  constructor(prng: Prng, config: ClusterConfig, log: Log) {
    this.prng = prng
    this.config = config
    this.#log = log
    this.net = new SimNetwork({ prng: prng.fork(), clock: this.clock, maxQueued: 20_000 })
    const initial = Array.from({ length: config.members }, (_, i) => i + 1)
    this.allIds = Array.from({ length: config.members + (config.spares ?? 0) }, (_, i) => i + 1)
    for (const id of this.allIds) {
      const fs = new SimFileSystem({ prng: prng.fork(), crashMode: 'random' })
      this.slots.set(id, {
        id, fs, backend: undefined, port: new Port(id, this.net.endpoint(id), prng.fork()),
        syncDelayMs: 0, eioArmed: false, eioFired: undefined, rate: 1, incarnation: 0, run: undefined, down: 'not started', refused: undefined,
        joined: id <= config.members, removed: false, proposed: false, initialCluster: initial,
      })
    }
  }

  /** Adds a line to the run's trace (and digest). */
  log(line: string): void {
    this.#log(line)
  }

  slot(id: number): Slot {
    const s = this.slots.get(id)
    if (s === undefined) throw new RangeError(`sim: no member ${id}`)
    return s
  }

  /** The members now: initial ones and added spares, less the removed (resolved at each call). */
  get ids(): number[] {
    return this.allIds.filter((id) => {
      const s = this.slot(id)
      return s.joined && !s.removed
    })
  }

  /** Running members (started, not dead). */
  live(): Slot[] {
    return this.ids.map((id) => this.slot(id)).filter((s) => s.run?.alive === true && s.run.store !== undefined)
  }

  /** Starts (or restarts) member `id` over its disk and durable backend state. */
  async start(id: number): Promise<boolean> {
    const s = this.slot(id)
    if (s.run?.alive === true || s.refused !== undefined || !s.joined || s.removed) return false
    const n = ++s.incarnation
    const inc: Incarnation = { n, clock: undefined as unknown as MemberClock, kill: undefined as unknown as KillSwitch, store: undefined, alive: true, died: undefined }
    const onDeath = (reason: string): void => this.#die(s, inc, reason)
    ;(inc as { clock: MemberClock }).clock = new MemberClock(this.clock, onDeath)
    inc.clock.setRate(s.rate)
    ;(inc as { kill: KillSwitch }).kill = new KillSwitch(onDeath)
    s.run = inc
    s.down = undefined
    const transport = s.port.attach(() => inc.alive, onDeath)
    const backendOptions = { clock: inc.clock, failpoint: inc.kill.fn, batchIntervalMs: 5 }
    const backend = s.backend === undefined ? new MemoryBackend(backendOptions) : s.backend.reopen(backendOptions)
    s.backend = backend
    const options: OpenOptions = {
      dir: `/m${id}`, memberId: id, initialCluster: s.initialCluster.map((i) => ({ id: i })), transport, backend,
      initialClusterState: s.id <= this.config.members ? 'new' : 'existing',
      fs: faultyFs(s.fs, inc.clock, {
        syncDelayMs: () => s.syncDelayMs,
        failThisSync: (path) => {
          if (!s.eioArmed || !inc.alive || !path.includes('/wal/')) return false
          s.eioArmed = false
          s.eioFired = { at: this.clock.now(), incarnation: n }
          this.#log(`m${id}#${n}: fsync of ${path} fails with EIO`)
          return true
        },
      }), clock: inc.clock, rng: this.prng.fork(), failpoint: inc.kill.fn,
      tickMs: this.config.tickMs, electionTicks: this.config.electionTicks, requestTimeoutMs: this.config.requestTimeoutMs,
      snapshotCount: this.config.snapshotCount, snapshotCatchUpEntries: this.config.snapshotCatchUpEntries,
      walSegmentSizeBytes: 64 * 1024, corruptCheckIntervalMs: 0, quotaBackendBytes: 0, bcryptCost: 4,
      ...plantedBugOptions(this.config.planted),
      ...(this.config.raftMaxSizePerMsgBytes === undefined ? {} : { [SIM_TUNING]: { raftMaxSizePerMsgBytes: this.config.raftMaxSizePerMsgBytes } }),
    }
    try {
      const store = await open(options)
      if (!inc.alive) {
        void store.close().catch(() => {})
        return false
      }
      inc.store = store
      this.#log(`start m${id}#${n}`)
      return true
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'unknown'
      if (inc.alive) {
        // A refusal to start (a damaged disk, a lost log) is a typed error: the member stays
        // down. Anything else (an I/O error) is transient: a later start tries again.
        this.#log(`start m${id}#${n} refused: ${code}: ${(err as Error).message}`)
        if (code.startsWith('ERR_')) s.refused = code
        this.crash(id, 'keepAll', `refused ${code}`)
      }
      return false
    }
  }

  #die(s: Slot, inc: Incarnation, reason: string): void {
    if (!inc.alive || s.run !== inc) return
    inc.died = reason
    this.crash(s.id, 'keepAll', reason)
  }

  /**
   * Kills member `id`'s process now. `mode` says what its disk keeps of unsynced writes:
   * 'keepAll' for a process crash (the kernel still flushes), 'random' or 'pessimistic' for a
   * power loss. The backend keeps exactly its committed batches.
   */
  crash(id: number, mode: CrashMode, reason: string): void {
    const s = this.slot(id)
    const inc = s.run
    if (inc === undefined || !inc.alive) return
    inc.alive = false
    inc.clock.kill()
    s.port.detach()
    s.fs.crash({ mode })
    s.down = reason
    this.#log(`crash m${id}#${inc.n} (${mode}): ${reason}`)
    this.#pendingCrash.push(s)
    this.#finishCrashes()
  }

  /**
   * Drops each dead member's uncommitted backend batch (a crash inside a backend write callback
   * must wait until the callback returned), then releases the dead incarnation's memory: its
   * store is closed only once its disk and backend are gone from under it, so closing commits
   * nothing.
   */
  #finishCrashes(): void {
    const waiting: Slot[] = []
    for (const s of this.#pendingCrash) {
      try {
        s.backend?.crash()
      } catch {
        waiting.push(s)
        continue
      }
      const inc = s.run
      const store = inc?.store
      if (inc !== undefined) inc.store = undefined
      if (store !== undefined) void store.close().catch(() => {})
    }
    this.#pendingCrash = waiting
  }

  /** Arms a kill at the `skip`+1-th hit of a named failpoint in member `id`'s running process. */
  armFailpoint(id: number, name: FailpointName, skip: number): void {
    this.slot(id).run?.kill.arm(name, skip)
  }

  /**
   * Delivers ready messages and lets promise chains and immediates run until the network is
   * quiet: each round waits until every promise chain has run (see {@link #drain}), then
   * delivers what is due; a round that delivers nothing ends it.
   */
  async settle(): Promise<void> {
    for (let i = 0; i < 64; i++) {
      await this.#drain()
      if (this.#pendingCrash.length > 0) this.#finishCrashes()
      if (this.net.deliverAll() === 0) return
    }
  }

  /**
   * Resolves once every promise chain started so far has run, and the immediates a member
   * queued meanwhile (a member yielding the event loop). The chains take no event-loop turn: a
   * `process.nextTick` queued from a microtask runs only once the microtask queue is empty, so
   * it sees the chains done (a turn of the event loop, `setImmediate`, was most of a step's
   * fixed cost; one is taken only when an immediate is pending).
   */
  async #drain(): Promise<void> {
    await new Promise<void>((resolve) => queueMicrotask(() => process.nextTick(resolve)))
    if (immediatePending()) await new Promise<void>((resolve) => setImmediate(resolve))
  }

  /** Moves virtual time to the next timer (at most `maxStep` ms ahead), settling after. */
  async step(maxStep: number): Promise<void> {
    const now = this.clock.now()
    const next = this.clock.nextTimerAt()
    const due = this.net.nextDueAt()
    const soonest = next === undefined ? due : due === undefined ? next : Math.min(next, due)
    const target = soonest === undefined ? now + maxStep : Math.min(Math.max(soonest, now), now + maxStep)
    this.clock.advanceTo(target)
    // Messages due by now were sent at least a millisecond ago (every delay is >= 1 ms):
    // delivered in the same turn as the timers, what they start and what the timers start
    // run in the one event-loop turn settle() takes, instead of a turn each.
    this.net.deliverAll()
    await this.settle()
  }

  /** Steps virtual time until `p` settles (at most `maxMs`); its result, or its error. */
  async drive<T>(p: Promise<T>, maxMs: number): Promise<T> {
    let settled = false
    const watched = p.finally(() => void (settled = true))
    watched.catch(() => {})
    const end = this.clock.now() + maxMs
    await this.settle()
    while (!settled && this.clock.now() < end) await this.step(20)
    if (!settled) throw new Error(`sim: no answer within ${maxMs} virtual ms`)
    return watched
  }

  async runFor(ms: number, maxStep = 50): Promise<void> {
    const end = this.clock.now() + ms
    while (this.clock.now() < end) await this.step(Math.min(maxStep, end - this.clock.now()))
  }

  /** The members that think they lead, with their terms. */
  leaders(): { id: number; term: number }[] {
    const out: { id: number; term: number }[] = []
    for (const s of this.live()) {
      const st = s.run!.store!.maintenance.status()
      if (st.leader === s.id) out.push({ id: s.id, term: st.raftTerm })
    }
    return out
  }

  async close(): Promise<void> {
    for (const s of this.slots.values()) {
      const inc = s.run
      if (inc?.alive !== true) continue
      inc.alive = false
      inc.clock.kill()
      const store = inc.store
      inc.store = undefined
      if (store !== undefined) void store.close().catch(() => {})
    }
    await this.settle()
  }
}

/** Whether a `setImmediate` callback is waiting to run (Node lists each as an 'Immediate' resource). */
function immediatePending(): boolean {
  return process.getActiveResourcesInfo().includes('Immediate')
}
