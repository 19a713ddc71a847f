import type { MemberId, Rng, Transport } from '@strata/seams'

/** Faults an {@link InProcessNetwork} injects: probabilities in [0, 1] per message. */
export interface NetworkFaults {
  readonly drop?: number
  readonly duplicate?: number
  /** The message is held back one to three extra turns, so later ones overtake it. */
  readonly reorder?: number
  /** Only messages whose first byte (the frame kind) is listed; default every message. */
  readonly frames?: readonly number[]
}

/** Sees a message before delivery: returns it (changed or not), or undefined to drop it. */
export type NetworkInterceptor = (from: MemberId, to: MemberId, message: Uint8Array) => Uint8Array | undefined

/** A small seeded generator (mulberry32), so a faulty run repeats. */
function seeded(seed: number): Rng {
  let a = seed >>> 0
  return {
    nextU32() {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return (t ^ (t >>> 14)) >>> 0
    },
  }
}

/**
 * Carries messages between members in one process: each member's transport delivers to the
 * others on a later turn of the event loop (never synchronously, as a network would). `cut`
 * isolates a member (messages to and from it are lost) until `heal`; `setFaults` drops,
 * duplicates and reorders messages at random (from `rng`, default seeded 1); `intercept` lets
 * a test see, change or drop each one.
 */
export class InProcessNetwork {
  readonly #handlers = new Map<MemberId, (from: MemberId, message: Uint8Array) => void>()
  readonly #cut = new Set<MemberId>()
  readonly #rng: Rng
  #faults: NetworkFaults = {}
  #intercept: NetworkInterceptor | undefined

  constructor(options: { readonly rng?: Rng } = {}) {
    this.#rng = options.rng ?? seeded(1)
  }

  transport(id: MemberId): Transport {
    return {
      send: (to, message) => {
        if (this.#cut.has(id) || this.#cut.has(to)) return
        let copy: Uint8Array | undefined = message.slice()
        if (this.#intercept !== undefined) copy = this.#intercept(id, to, copy)
        if (copy === undefined) return
        const f = this.#faults
        const faulty = f.frames === undefined || f.frames.includes(copy[0]!)
        if (faulty && this.#chance(f.drop)) return
        const copies = faulty && this.#chance(f.duplicate) ? 2 : 1
        for (let i = 0; i < copies; i++) this.#deliver(id, to, copy, faulty && this.#chance(f.reorder) ? 1 + (this.#rng.nextU32() % 3) : 0)
      },
      onMessage: (fn) => void this.#handlers.set(id, fn),
    }
  }

  #chance(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.#rng.nextU32() / 2 ** 32 < p
  }

  #deliver(from: MemberId, to: MemberId, message: Uint8Array, extraTurns: number): void {
    setImmediate(() => {
      if (extraTurns > 0) return this.#deliver(from, to, message, extraTurns - 1)
      if (this.#cut.has(from) || this.#cut.has(to)) return
      this.#handlers.get(to)?.(from, message)
    })
  }

  cut(id: MemberId): void {
    this.#cut.add(id)
  }

  heal(id: MemberId): void {
    this.#cut.delete(id)
  }

  /** Replaces the injected faults ({} for none). */
  setFaults(faults: NetworkFaults): void {
    this.#faults = faults
  }

  /** Installs (or, with undefined, removes) the interceptor. */
  intercept(fn: NetworkInterceptor | undefined): void {
    this.#intercept = fn
  }
}
