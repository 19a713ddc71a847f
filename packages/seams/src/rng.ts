import { randomFillSync } from 'node:crypto'
import { SeamsError } from './errors.js'

/** A source of uniformly distributed 32-bit unsigned integers. */
export interface Rng {
  nextU32(): number
}

/** Real randomness from node:crypto, read 1 KiB at a time to amortize the system call. */
export function cryptoRng(): Rng {
  const pool = new Uint32Array(256)
  let next = pool.length
  return {
    nextU32() {
      if (next === pool.length) {
        randomFillSync(pool)
        next = 0
      }
      return pool[next++]!
    },
  }
}

/**
 * A uniform integer in [0, n) from `rng`, without modulo bias. `n` must be an integer in
 * [1, 2^32], else ERR_SEAMS_INVALID_ARGUMENT.
 */
export function randomBelow(rng: Rng, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new SeamsError('ERR_SEAMS_INVALID_ARGUMENT', `seams: randomBelow needs an integer n in [1, 2^32], got ${String(n)}; pass the number of outcomes`, { n })
  const limit = 2 ** 32 - (2 ** 32 % n)
  for (;;) {
    const x = rng.nextU32()
    if (x < limit) return x % n
  }
}
