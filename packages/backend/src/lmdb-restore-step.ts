import type { BucketName } from './backend.js'
import type { LmdbEnv } from './lmdb-env.js'

/** Pairs per transaction of a restore's staging file (a few ms of puts between two turns of the event loop). */
export const RESTORE_STEP_PAIRS = 2_000
/** Key and value bytes per transaction of a restore's staging file (a step ends at whichever limit comes first). */
export const RESTORE_STEP_BYTES = 1 << 20

/**
 * The pairs of one step of `LmdbBackend.restore`, copied into one reused slab as they are
 * decoded (the decoder hands views valid for one call), then put into the staging file in one
 * LMDB transaction. A copy of each key and value of their own (two off-heap arrays per pair)
 * cost more than the puts.
 */
export class RestoreStep {
  readonly #env: LmdbEnv
  readonly #slab = new Uint8Array(RESTORE_STEP_BYTES)
  /** Invariant: pair i of the step is bucket #buckets[i], key slab[#at[i], + #keyLengths[i]), then its value of #valueLengths[i] bytes; [0, #count). */
  readonly #buckets = new Array<BucketName>(RESTORE_STEP_PAIRS)
  readonly #at = new Int32Array(RESTORE_STEP_PAIRS)
  readonly #keyLengths = new Int32Array(RESTORE_STEP_PAIRS)
  readonly #valueLengths = new Int32Array(RESTORE_STEP_PAIRS)
  #count = 0
  /** Invariant: the bytes of the slab the step's pairs fill. */
  #used = 0

  constructor(env: LmdbEnv) {
    this.#env = env
  }

  /**
   * Takes one pair, whose bytes may change once this returns. True when the step was written
   * (it is full): the caller lets the event loop run before the next pair.
   */
  add(bucket: BucketName, key: Uint8Array, value: Uint8Array): boolean {
    const n = key.length + value.length
    if (n > this.#slab.length) {
      // Longer than a step: written alone, straight from the views, after what came before.
      this.flush()
      this.#env.root.transactionSync(() => this.#env.dbs.get(bucket)!.putSync(key, value))
      return true
    }
    // A pair that does not fit ends the step before it; a pair that fills it, at once.
    const ended = this.#used + n > this.#slab.length
    if (ended) this.flush()
    this.#put(bucket, key, value)
    if (this.#count < RESTORE_STEP_PAIRS && this.#used < this.#slab.length) return ended
    this.flush()
    return true
  }

  /** Writes the pairs taken since the last flush in one transaction. */
  flush(): void {
    const count = this.#count
    if (count === 0) return
    const slab = this.#slab
    const dbs = this.#env.dbs
    this.#env.root.transactionSync(() => {
      for (let i = 0; i < count; i++) {
        const at = this.#at[i]!
        const keyEnd = at + this.#keyLengths[i]!
        dbs.get(this.#buckets[i]!)!.putSync(slab.subarray(at, keyEnd), slab.subarray(keyEnd, keyEnd + this.#valueLengths[i]!))
      }
    })
    this.#count = 0
    this.#used = 0
  }

  #put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void {
    const i = this.#count++
    const at = this.#used
    this.#buckets[i] = bucket
    this.#at[i] = at
    this.#keyLengths[i] = key.length
    this.#valueLengths[i] = value.length
    this.#used = copyInto(this.#slab, copyInto(this.#slab, at, key), value)
  }
}

/** Copies `from` into `to` at `at` (a short one byte by byte: cheaper than set()); returns the end. */
function copyInto(to: Uint8Array, at: number, from: Uint8Array): number {
  const n = from.length
  if (n <= 128) for (let i = 0; i < n; i++) to[at + i] = from[i]!
  else to.set(from, at)
  return at + n
}
