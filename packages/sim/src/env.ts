// The seams one member incarnation sees: a clock that can run fast or slow and can be paused,
// a transport that can be cut one way, a failpoint that kills the process, and a disk whose
// fsync can take virtual time. Every wrapper dies with its incarnation: after `kill()` nothing
// it owns fires a timer, sends a message or reaches the member.
import type { Clock, Failpoint, FailpointName, FileHandle, FileSystem, MemberId, Timer, Transport } from '@strata/seams'
import { type Message, MessageType, decodeMessage } from '@strata/raft'
import type { Prng, SimClock } from '@strata/testkit'

/** What kills an incarnation from inside (a failpoint that fired, an error thrown by a timer). */
export type OnDeath = (reason: string) => void

/**
 * The member's view of time: `rate` virtual ms per base ms (clock skew: 1.05 runs 5% fast),
 * and a pause (a GC or VM stop) during which its timers are held and fire on resume.
 */
export class MemberClock implements Clock {
  readonly #base: SimClock
  readonly #onDeath: OnDeath
  #rate = 1
  /** Invariant: the local reading at base time #anchorBase is #anchorLocal (rate changes re-anchor). */
  #anchorBase: number
  #anchorLocal: number
  #paused = false
  #held: (() => void)[] = []
  #dead = false
  readonly #timers = new Set<{ cancel(): void }>()

  constructor(base: SimClock, onDeath: OnDeath, startLocal?: number) {
    this.#base = base
    this.#onDeath = onDeath
    this.#anchorBase = base.now()
    this.#anchorLocal = startLocal ?? base.now()
  }

  get rate(): number { return this.#rate }

  setRate(rate: number): void {
    this.#anchorLocal = this.now()
    this.#anchorBase = this.#base.now()
    this.#rate = rate
  }

  now(): number {
    return this.#anchorLocal + (this.#base.now() - this.#anchorBase) * this.#rate
  }

  setTimer(ms: number, fn: () => void): Timer {
    if (this.#dead) return { cancel: () => {} }
    const run = (): void => {
      this.#timers.delete(handle)
      if (this.#dead) return
      if (this.#paused) {
        this.#held.push(run)
        return
      }
      try {
        fn()
      } catch (err) {
        // A timer that throws kills the process (as an uncaught exception in Node would).
        this.#onDeath(`timer threw: ${(err as Error).message}`)
      }
    }
    const t = this.#base.setTimer(Math.max(0, ms) / this.#rate, run)
    const handle = { cancel: () => { t.cancel(); this.#timers.delete(handle) } }
    this.#timers.add(handle)
    return handle
  }

  pause(): void { this.#paused = true }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    const held = this.#held
    this.#held = []
    for (const run of held) run()
  }

  get paused(): boolean { return this.#paused }

  kill(): void {
    this.#dead = true
    for (const t of [...this.#timers]) t.cancel()
    this.#held = []
  }
}

/** The network switchboard of one member id: cut directions and the current incarnation's handler. */
export class Port {
  readonly id: MemberId
  readonly #net: Transport
  /** Members this one may not send to (an asymmetric partition cuts one direction). */
  readonly cutTo = new Set<MemberId>()
  #handler: ((from: MemberId, message: Uint8Array) => void) | undefined
  #held: [MemberId, Uint8Array][] = []
  #paused = false
  readonly #prng: Prng
  /** Chance a sent message is sent twice (a retrying transport). */
  duplicateProbability = 0
  /** Whether proposals forwarded to the leader may be duplicated too (raft does not deduplicate them; see the report). */
  duplicateProposals = false
  /** A scripted scenario's loss of chosen raft messages: true drops the message to `to`. */
  dropRaft: ((to: MemberId, m: Message) => boolean) | undefined

  constructor(id: MemberId, net: Transport, prng: Prng) {
    this.id = id
    this.#net = net
    this.#prng = prng
    net.onMessage((from, message) => {
      if (this.#paused) {
        if (this.#held.length < 10_000) this.#held.push([from, message])
        return
      }
      this.#handler?.(from, message)
    })
  }

  /**
   * A transport for one incarnation: it sends only while `alive()`. A message handler that
   * throws kills the incarnation (`onDeath`), as an uncaught exception in a socket's callback
   * ends a Node process.
   */
  attach(alive: () => boolean, onDeath: OnDeath): Transport {
    this.#handler = undefined
    this.#held = []
    return {
      send: (to, message) => {
        if (!alive() || this.cutTo.has(to)) return
        if (this.dropRaft !== undefined && message[0] === 0 && this.dropRaft(to, decodeMessage(message.subarray(1)))) return
        this.#net.send(to, message)
        if (this.duplicateProbability > 0 && this.#prng.bool(this.duplicateProbability) && (this.duplicateProposals || !isProposal(message))) this.#net.send(to, message)
      },
      onMessage: (fn) => {
        this.#handler = (from, m) => {
          if (!alive()) return
          try {
            fn(from, m)
          } catch (err) {
            onDeath(`message handler threw: ${(err as Error).message}`)
          }
        }
      },
    }
  }

  detach(): void {
    this.#handler = undefined
    this.#held = []
  }

  pause(): void { this.#paused = true }

  resume(): void {
    this.#paused = false
    const held = this.#held
    this.#held = []
    for (const [from, m] of held) this.#handler?.(from, m)
  }
}

/** A raft MsgProp (a follower forwarding a client's proposal) in embed's frame (kind byte 0, then the message). */
function isProposal(message: Uint8Array): boolean {
  if (message[0] !== 0) return false
  try {
    return decodeMessage(message.subarray(1)).type === MessageType.MsgProp
  } catch {
    return false
  }
}

/** A failpoint that, when armed and reached, kills the process at that instant. */
export class KillSwitch {
  #armed: { name: FailpointName; skip: number } | undefined
  readonly fired: string[] = []
  readonly fn: Failpoint

  constructor(onDeath: OnDeath) {
    this.fn = (name) => {
      const a = this.#armed
      if (a === undefined || a.name !== name) return
      if (a.skip > 0) {
        a.skip--
        return
      }
      this.#armed = undefined
      this.fired.push(name)
      onDeath(`failpoint ${name}`)
      throw new KilledError(name)
    }
  }

  arm(name: FailpointName, skip: number): void { this.#armed = { name, skip } }
  disarm(): void { this.#armed = undefined }
  get armed(): FailpointName | undefined { return this.#armed?.name }
}

export class KilledError extends Error {
  readonly code = 'ERR_SIM_KILLED'
  constructor(at: string) {
    super(`sim: the process died at ${at}`)
  }
}

/** What a member's disk does on each file sync: wait (a slow disk), or fail once (EIO). */
export interface SyncHooks {
  /** Virtual ms the next sync waits first. */
  syncDelayMs(): number
  /** Called before each sync of `path`; returns true to make this sync fail with EIO. */
  failThisSync(path: string): boolean
}

/**
 * A file system whose file syncs first wait `hooks.syncDelayMs()` of virtual time (a slow
 * disk) and may fail with EIO (SimFileSystem's failSync, which also drops the file's unsynced
 * writes, as Linux does); everything else passes straight through.
 */
export function faultyFs(fs: FileSystem & { failSync(o: { path: string }): void }, clock: Clock, hooks: SyncHooks): FileSystem {
  const before = async (path: string): Promise<void> => {
    const ms = hooks.syncDelayMs()
    if (ms > 0) await new Promise<void>((resolve) => void clock.setTimer(ms, resolve))
    if (hooks.failThisSync(path)) fs.failSync({ path })
  }
  const wrap = (h: FileHandle): FileHandle => ({
    path: h.path,
    read: (b, p) => h.read(b, p),
    write: (b, p) => h.write(b, p),
    sync: async () => { await before(h.path); await h.sync() },
    datasync: async () => { await before(h.path); await h.datasync() },
    truncate: (n) => h.truncate(n),
    allocate: (n) => h.allocate(n),
    size: () => h.size(),
    close: () => h.close(),
  })
  return {
    open: async (p, m) => wrap(await fs.open(p, m)),
    readFile: (p) => fs.readFile(p),
    writeFile: (p, d) => fs.writeFile(p, d),
    rename: (a, b) => fs.rename(a, b),
    unlink: (p) => fs.unlink(p),
    mkdir: (p) => fs.mkdir(p),
    rm: (p) => fs.rm(p),
    readdir: (p) => fs.readdir(p),
    stat: (p) => fs.stat(p),
    fsyncDir: (p) => fs.fsyncDir(p),
    lock: (p) => fs.lock(p),
  }
}
