import type { Failpoint, FailpointName } from '@strata/seams'
import { StrataError } from '@strata/seams'

/** What an armed failpoint throws by default: a simulated crash at that point. */
export class FailpointError extends StrataError {
  constructor(name: string, hit: number) {
    super('ERR_FAILPOINT', `failpoint ${name} fired (hit ${hit})`, { name, hit })
  }
}

export interface ArmOptions {
  /** Hits to let pass before firing. Default 0: the next hit fires. */
  readonly skip?: number
  /** How many hits fire once it starts (then it disarms itself). Default 1. */
  readonly times?: number
  /** What to throw. Default: a FailpointError (`ERR_FAILPOINT`). */
  readonly error?: (name: string, hit: number) => Error
}

interface Armed {
  skip: number
  times: number
  readonly error: (name: string, hit: number) => Error
}

/**
 * A controllable Failpoint: pass `failpoints.fn` where a package takes a Failpoint, then arm
 * names to throw at chosen hits. Records every hit, so a test can enumerate the failpoints a
 * workload passes and crash at each in turn.
 */
export class Failpoints {
  /** The Failpoint to hand to the code under test. */
  readonly fn: Failpoint
  readonly #armed = new Map<string, Armed>()
  readonly #hits = new Map<string, number>()
  /** Invariant: every hit in order, armed or not. */
  readonly #log: string[] = []

  constructor() {
    this.fn = (name: FailpointName) => this.#hit(name)
  }

  #hit(name: string): void {
    const hit = (this.#hits.get(name) ?? 0) + 1
    this.#hits.set(name, hit)
    this.#log.push(name)
    const armed = this.#armed.get(name)
    if (armed === undefined) return
    if (armed.skip > 0) {
      armed.skip--
      return
    }
    if (--armed.times === 0) this.#armed.delete(name)
    throw armed.error(name, hit)
  }

  /** Makes `name` throw at its next hit (or later, see options). Replaces an earlier arming. */
  arm(name: FailpointName, options: ArmOptions = {}): void {
    const skip = options.skip ?? 0
    const times = options.times ?? 1
    if (!Number.isSafeInteger(skip) || skip < 0) throw new RangeError(`Failpoints.arm: skip must be a non-negative integer, got ${skip}`)
    if (!Number.isSafeInteger(times) || times < 1) throw new RangeError(`Failpoints.arm: times must be a positive integer, got ${times}`)
    this.#armed.set(name, { skip, times, error: options.error ?? ((n, h) => new FailpointError(n, h)) })
  }

  disarm(name: FailpointName): void { this.#armed.delete(name) }

  /** Whether `name` is armed and has not fired all its times yet. */
  isArmed(name: FailpointName): boolean { return this.#armed.has(name) }

  /** How many times `name` was passed (fired or not). */
  hits(name: FailpointName): number { return this.#hits.get(name) ?? 0 }

  /** The distinct names hit so far, in the order first hit. */
  names(): string[] { return [...new Set(this.#log)] }

  /** Every hit so far, in order. */
  log(): readonly string[] { return [...this.#log] }
}
