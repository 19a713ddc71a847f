import assert from 'node:assert'
import { availableParallelism } from 'node:os'
import { AuthError } from './errors.js'
import { HashWorkerPool } from './hash-worker-pool.js'

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

export interface PasswordHasherOptions {
  /** bcrypt cost (log2 of the rounds) for new hashes, in [4, 31]. Default 10. */
  readonly cost?: number
  /**
   * Most bcrypt computations (hash or compare) running at once. Default: the number of cores,
   * so an idle machine authenticates at cores × the single-hash rate. The hash threads run at
   * nice 19, so whenever the event loop or an I/O thread wants a core it preempts a hash (the
   * put-latency figures in the README show a storm at this setting leaves puts unharmed).
   */
  readonly maxConcurrent?: number
  /** Most calls waiting for a slot; one more fails with ERR_AUTH_BUSY. Default 10,000 calls. */
  readonly maxQueued?: number
  /**
   * The nice value (0 = normal, 19 = lowest priority) of the threads that run bcrypt. Default
   * 19: a woken normal-priority thread (the event loop, a libuv fsync) preempts a nice-19 hash
   * at once and gets ~98% of a shared core; on an idle machine hashing still gets every core it
   * has slots for. Measured on 2 cores: nice 10 with a slot per core let a storm raise a put
   * loop's p99 3-4.5x; nice 19 kept it at ~0.9x.
   */
  readonly niceness?: number
}

/**
 * bcrypt hashing and comparison off the event loop, on worker threads of lowered OS priority
 * (hash-worker-pool.ts), with the number of computations in flight bounded by a FIFO semaphore.
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
  readonly #maxQueued: number
  readonly #pool: HashWorkerPool
  /** Invariant: 0 <= #running <= maxConcurrent; #waiting non-empty only when #running is full. */
  #running = 0
  readonly #waiting: (() => void)[] = []

  constructor(options: PasswordHasherOptions = {}) {
    const cost = options.cost ?? DEFAULT_BCRYPT_COST
    if (!Number.isInteger(cost) || cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST) {
      throw new RangeError(`PasswordHasher: cost must be an integer in [${MIN_BCRYPT_COST}, ${MAX_BCRYPT_COST}], got ${cost}`)
    }
    const maxConcurrent = options.maxConcurrent ?? defaultHashConcurrency()
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`PasswordHasher: maxConcurrent must be an integer >= 1, got ${maxConcurrent}`)
    const maxQueued = options.maxQueued ?? 10_000
    if (!Number.isInteger(maxQueued) || maxQueued < 0) throw new RangeError(`PasswordHasher: maxQueued must be an integer >= 0, got ${maxQueued}`)
    const niceness = options.niceness ?? DEFAULT_HASH_NICENESS
    if (!Number.isInteger(niceness) || niceness < 0 || niceness > 19) throw new RangeError(`PasswordHasher: niceness must be an integer in [0, 19], got ${niceness}`)
    this.cost = cost
    this.maxConcurrent = maxConcurrent
    this.#maxQueued = maxQueued
    this.#pool = new HashWorkerPool(maxConcurrent, niceness)
  }

  /** Stops the worker threads (idle ones now, busy ones after their job). Idle workers never keep the process alive, so this is optional. */
  close(): Promise<void> {
    return this.#pool.close()
  }

  /** Computations running now and calls waiting for a slot. */
  stats(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#waiting.length }
  }

  /** A bcrypt hash of `password` at this hasher's cost (a fresh random salt each time). */
  async hash(password: string): Promise<string> {
    if (password.length === 0) throw new AuthError('ERR_PASSWORD_EMPTY', 'auth: password must not be empty (create the user with noPassword instead)')
    return this.#withSlot(async () => (await this.#pool.run({ op: 'hash', password, cost: this.cost })) as string)
  }

  /** True when `password` matches `hash`; false for a malformed hash. */
  async compare(password: string, hash: string): Promise<boolean> {
    return this.#withSlot(async () => {
      try {
        return (await this.#pool.run({ op: 'verify', password, hash })) === true
      } catch {
        return false // a malformed stored hash matches no password
      }
    })
  }

  async #withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.maxConcurrent) {
      if (this.#waiting.length >= this.#maxQueued) {
        throw new AuthError('ERR_AUTH_BUSY', `auth: ${this.#waiting.length} password checks already queued`, { queued: this.#waiting.length })
      }
      // The slot is handed over by #release without #running dropping, so no newcomer can
      // overtake the queue between a release and this waiter's wake-up.
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
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
    const next = this.#waiting.shift()
    if (next !== undefined) next()
    else this.#running--
    assert.ok(this.#running >= 0)
  }
}

/** True when `s` has the shape of a bcrypt hash: `$2a|b|x|y$NN$` and 53 characters of salt+hash. */
export function isBcryptHash(s: string): boolean {
  return /^\$2[abxy]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/.test(s)
}
