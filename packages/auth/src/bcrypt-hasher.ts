import assert from 'node:assert'
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { AuthError, closed, invalidArgument } from './errors.js'
import { HashWorkerPool } from './hash-worker-pool.js'
import { fnOption, intOption, optionsObject } from './options.js'

/** bcrypt's cost bounds (Go's bcrypt.MinCost / MaxCost) and etcd's default. */
export const MIN_BCRYPT_COST = 4
export const MAX_BCRYPT_COST = 31
export const DEFAULT_BCRYPT_COST = 10

/** The default bound on concurrent bcrypt work: one computation per core. */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism())
}

/** The default nice value of the hash threads: the lowest priority there is. */
export const DEFAULT_HASH_NICENESS = 19

/** Event-loop utilization above which {@link eventLoopBusy} reports the process busy. */
export const BUSY_LOOP_UTILIZATION = 0.05
/** The shortest window {@link eventLoopBusy} measures over, in ms of event-loop time. */
export const BUSY_WINDOW_MS = 20

/**
 * The default `busy` probe of a PasswordHasher: true when this thread's event loop was more than
 * `threshold` busy (`performance.eventLoopUtilization`) over the last window of at least
 * `windowMs`; the answer is kept until a new window is complete. Measured on 2 cores: an
 * authentication storm alone keeps the loop 0.75% busy, a put loop (commit + append + fdatasync
 * per put) 19-30%, so 5% tells them apart. It only decides when a hash may start, never what
 * anything decides, so it does not make members disagree.
 */
export function eventLoopBusy(threshold = BUSY_LOOP_UTILIZATION, windowMs = BUSY_WINDOW_MS): () => boolean {
  let mark = performance.eventLoopUtilization()
  let busy = false
  return () => {
    const now = performance.eventLoopUtilization()
    const window = performance.eventLoopUtilization(now, mark)
    if (window.idle + window.active >= windowMs) {
      busy = window.utilization > threshold
      mark = now
    }
    return busy
  }
}

export interface PasswordHasherOptions {
  /** bcrypt cost (log2 of the rounds) for new hashes, an integer in [4, 31]. Default 10 (etcd's); tests use 4. */
  readonly cost?: number
  /**
   * Most bcrypt computations (hash or compare) running at once, in [1, 1024]. Default: the number of cores,
   * so an idle process authenticates at cores × the single-hash rate; while `busy()` says the
   * process has other work, one fewer (see `busy`). The hash threads run at nice 19, so the
   * event loop or an I/O thread that wants a core mostly preempts a hash.
   */
  readonly maxConcurrent?: number
  /** Most calls waiting for a slot, in [0, 1,000,000]; one more fails with ERR_AUTH_BUSY. Default 10,000 calls. */
  readonly maxQueued?: number
  /**
   * The nice value (0 = normal, 19 = lowest priority) of the threads that run bcrypt. Default
   * 19: a woken normal-priority thread (the event loop, a libuv fsync) preempts a nice-19 hash
   * at once and gets ~98% of a shared core; on an idle machine hashing still gets every core it
   * has slots for. Measured on 2 cores: nice 10 with a slot per core let a storm raise a put
   * loop's p99 3-4.5x; nice 19 kept it at ~0.9x.
   */
  readonly niceness?: number
  /**
   * Whether the process has other work to leave a core to. While it returns true, no
   * computation starts while max(1, `maxConcurrent` - 1) run (running ones are never stopped):
   * an idle process hashes on every core, a busy one keeps a core for itself. Asked each time a
   * computation could start.
   * Default: {@link eventLoopBusy}. Measured on 2 cores, an authentication storm with every core
   * hashing raised a concurrent put loop's p99 1.3-1.6x even at nice 19 (a core's work slows
   * while its neighbour computes); with one core left it was 0.82-0.86x.
   */
  readonly busy?: () => boolean
}

/**
 * bcrypt hashing and comparison off the event loop, on worker threads of lowered OS priority
 * (hash-worker-pool.ts), with the number of computations in flight bounded by a FIFO semaphore
 * whose bound drops by one while the process is busy (`busy`).
 *
 * Why: each computation pins a core for its whole duration (~60 ms at cost 10). Run on the
 * libuv pool at normal priority, an authentication storm takes every core and every pool thread
 * (fsyncs queue behind hashes), and an unrelated put's p99 went from 19 ms to 2 s in etcd
 * (toolchain.md). The bound keeps the storm from taking every core; the lowered priority makes
 * the rest of the process win whatever core it shares with a hash (reference §5.4, PR #11735).
 */
export class PasswordHasher {
  /** Invariant: in [4, 31]. */
  readonly cost: number
  /** Invariant: integer >= 1. */
  readonly maxConcurrent: number
  /** Invariant: max(1, maxConcurrent - 1): the bound while `busy()` says the process is busy. */
  readonly busyConcurrent: number
  readonly #maxQueued: number
  readonly #pool: HashWorkerPool
  readonly #busy: () => boolean
  /**
   * Invariant: 0 <= #running <= maxConcurrent; #waiting non-empty only when #running was at the
   * bound (#limit()) when it was last checked.
   */
  #running = 0
  readonly #waiting: { readonly resolve: () => void; readonly reject: (err: AuthError) => void }[] = []
  /** Set by close(); resolves when every running computation ended and the threads are gone. */
  #closing: Promise<void> | undefined
  /** close() waiting for #running to reach 0. */
  readonly #drained: (() => void)[] = []

  constructor(options?: PasswordHasherOptions) {
    const o = optionsObject('PasswordHasher', options)
    const cost = intOption('PasswordHasher', 'cost', o.cost, DEFAULT_BCRYPT_COST, MIN_BCRYPT_COST, MAX_BCRYPT_COST)
    const maxConcurrent = intOption('PasswordHasher', 'maxConcurrent', o.maxConcurrent, defaultHashConcurrency(), 1, 1024)
    const maxQueued = intOption('PasswordHasher', 'maxQueued', o.maxQueued, 10_000, 0, 1_000_000)
    const niceness = intOption('PasswordHasher', 'niceness', o.niceness, DEFAULT_HASH_NICENESS, 0, 19)
    const busy = fnOption('PasswordHasher', 'busy', o.busy)
    this.cost = cost
    this.maxConcurrent = maxConcurrent
    this.busyConcurrent = Math.max(1, maxConcurrent - 1)
    this.#maxQueued = maxQueued
    this.#pool = new HashWorkerPool(maxConcurrent, niceness)
    this.#busy = busy ?? eventLoopBusy()
  }

  /**
   * Stops the worker threads: calls still waiting for a slot fail with ERR_AUTH_CLOSED, running
   * computations finish (close resolves after them), then every thread is terminated. Later
   * calls fail with ERR_AUTH_CLOSED; a second close resolves once the first has. Idle threads
   * never keep the process alive, so a process that only exits need not call it.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    for (const waiter of this.#waiting.splice(0)) waiter.reject(closed('PasswordHasher'))
    this.#closing = (async () => {
      while (this.#running > 0) await new Promise<void>((resolve) => this.#drained.push(resolve))
      await this.#pool.close()
    })()
    return this.#closing
  }

  /** Computations running now and calls waiting for a slot. */
  stats(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#waiting.length }
  }

  /** A bcrypt hash of `password` at this hasher's cost (a fresh random salt each time). */
  async hash(password: string): Promise<string> {
    if (typeof password !== 'string') throw invalidArgument('password', 'a string', password)
    if (password.length === 0) throw new AuthError('ERR_AUTH_PASSWORD_EMPTY', 'auth: password must not be empty (create the user with noPassword instead)')
    return this.#withSlot(async () => (await this.#pool.run({ op: 'hash', password, cost: this.cost })) as string)
  }

  /** True when `password` matches `hash`; false for a malformed hash. */
  async compare(password: string, hash: string): Promise<boolean> {
    if (typeof password !== 'string') throw invalidArgument('password', 'a string', password)
    if (typeof hash !== 'string') throw invalidArgument('hash', 'a string', hash)
    return this.#withSlot(async () => {
      try {
        return (await this.#pool.run({ op: 'verify', password, hash })) === true
      } catch {
        return false // a malformed stored hash matches no password
      }
    })
  }

  /** How many computations may run now. */
  #limit(): number {
    return this.busyConcurrent < this.maxConcurrent && this.#busy() ? this.busyConcurrent : this.maxConcurrent
  }

  async #withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) throw closed('PasswordHasher')
    if (this.#waiting.length > 0 || this.#running >= this.#limit()) {
      if (this.#waiting.length >= this.#maxQueued) {
        throw new AuthError('ERR_AUTH_BUSY', `auth: ${this.#waiting.length} password checks already queued`, { queued: this.#waiting.length })
      }
      // #release counts the slot before waking its waiter, so no newcomer can overtake the
      // queue between a release and this waiter's wake-up.
      await new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }))
    } else {
      this.#running++
    }
    assert.ok(this.#running >= 1 && this.#running <= this.maxConcurrent)
    try {
      return await fn()
    } finally {
      this.#release()
    }
  }

  #release(): void {
    this.#running--
    assert.ok(this.#running >= 0)
    if (this.#running === 0) for (const resolve of this.#drained.splice(0)) resolve()
    // Several may start at once: the process may have gone idle since the bound was lowered.
    if (this.#waiting.length === 0) return
    const limit = this.#limit()
    while (this.#waiting.length > 0 && this.#running < limit) {
      this.#running++
      this.#waiting.shift()!.resolve()
    }
  }
}

/** True when `s` has the shape of a bcrypt hash: `$2a|b|x|y$NN$` and 53 characters of salt+hash. */
export function isBcryptHash(s: string): boolean {
  return /^\$2[abxy]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/.test(s)
}
