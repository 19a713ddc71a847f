import { randomBytes } from 'node:crypto'
import type { Rng } from '@strata/seams'

/** Expands a 32-bit seed into well-mixed words (splitmix32), so nearby seeds diverge at once. */
export function splitmix32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** FNV-1a over the string's UTF-16 code units: a stable 32-bit seed from a text label. */
export function seedFromString(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/**
 * A seeded pseudo-random generator (sfc32: 128-bit state, passes PractRand to 2^40 bytes, fast
 * in 32-bit JS arithmetic). Every test that needs randomness takes one, so a failure replays
 * from its printed seed. Not for cryptography.
 */
export class Prng implements Rng {
  /** The seed this generator started from (a fork reports its parent's seed). */
  readonly seed: number
  /** Invariant: the four sfc32 state words, each a u32; `#d` is the counter. */
  #a = 0
  #b = 0
  #c = 0
  #d = 0

  /** `seed` is a u32 or a text label (hashed with {@link seedFromString}). */
  constructor(seed: number | string) {
    const n = typeof seed === 'string' ? seedFromString(seed) : seed
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`Prng: seed must be a u32, got ${seed}`)
    this.seed = n
    const mix = splitmix32(n)
    this.#setState(mix(), mix(), mix(), mix())
  }

  #setState(a: number, b: number, c: number, d: number): void {
    this.#a = a; this.#b = b; this.#c = c; this.#d = d
    // The first outputs of sfc32 still correlate with the seed words; discard them.
    for (let i = 0; i < 12; i++) this.nextU32()
  }

  /** A uniform u32. */
  nextU32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0
    this.#d = (this.#d + 1) >>> 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) >>> 0
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0
    this.#c = (this.#c + t) >>> 0
    return t
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.nextU32() >>> 5
    const lo = this.nextU32() >>> 6
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** A uniform integer in [0, n), without modulo bias. `n` is an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`Prng.int: n must be an integer in [1, 2^32], got ${n}`)
    const limit = 2 ** 32 - (2 ** 32 % n)
    for (;;) {
      const x = this.nextU32()
      if (x < limit) return x % n
    }
  }

  /** True with probability `p` (default 0.5). */
  bool(p = 0.5): boolean {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Prng.bool: p must be in [0, 1], got ${p}`)
    return this.float() < p
  }

  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Prng.pick: empty array')
    return items[this.int(items.length)]!
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
    return items
  }

  /**
   * An independent generator seeded from this one's next outputs, so a component can own its
   * stream without shifting everyone else's when it draws more or fewer numbers.
   */
  fork(): Prng {
    const child = new Prng(this.seed)
    child.#setState(this.nextU32(), this.nextU32(), this.nextU32(), this.nextU32())
    return child
  }
}

/** The `SEED` environment variable (a u32, or any text, hashed) if set, else a fresh random u32. */
export function seedFromEnv(): number {
  const text = process.env['SEED']
  if (text === undefined || text === '') return randomBytes(4).readUInt32LE(0)
  return /^\d+$/.test(text) && Number(text) <= 0xffffffff ? Number(text) : seedFromString(text)
}

export interface WithSeedOptions {
  /** Seed to use instead of {@link seedFromEnv}. Default: `SEED` or a random u32. */
  readonly seed?: number
}

/**
 * Runs `fn` with a Prng seeded from `SEED` (or at random). When `fn` throws or its promise
 * rejects, prints `<label>: seed=<n> (replay with SEED=<n>)` to stderr and rethrows, so any
 * randomized failure can be replayed exactly.
 */
export function withSeed<T>(label: string, fn: (prng: Prng) => T, options: WithSeedOptions = {}): T {
  const seed = options.seed ?? seedFromEnv()
  const report = (err: unknown): never => {
    process.stderr.write(`${label}: seed=${seed} (replay with SEED=${seed})\n`)
    throw err
  }
  let result: T
  try {
    result = fn(new Prng(seed))
  } catch (err) {
    return report(err)
  }
  if (result instanceof Promise) return result.catch(report) as T
  return result
}
