/**
 * A map from request id to what waits for it, for a table whose entries come and go by the
 * thousand per second (the proposals in flight): a ring of slots indexed by the id's counter
 * (`id = counter * 1024 + memberId % 1024`, counters given out in order), so the requests in
 * flight sit in consecutive slots and each lookup is one slot. A key whose slot is held by
 * another (a request still waiting after `capacity` later ones were proposed, or an id from
 * another member's counter) goes to a small overflow Map.
 *
 * Why not a Map for all: a Map under constant insert and delete rehashes into a new table every
 * few hundred operations, and each old table keeps a pointer to its successor (for iterators
 * that outlive a rehash). Once one old table is promoted to V8's old space, the chain of its
 * successors, and every waiter, promise and payload they hold, is kept alive by it until the
 * next full GC: each scavenge then copied and promoted ~1.7 MB at 256 puts in flight (5-8 ms
 * per scavenge, a fifth of the put path's main-thread time). Here a slot is cleared when its
 * entry goes, so a settled request is garbage at once, and the arrays are only replaced when
 * the table grows. (Linear probing was tried first: consecutive counters make one cluster, and
 * each deletion's backward shift walked all of it, ~0.7 µs per request.)
 *
 * Keys are positive safe integers. The capacity doubles past half full and never shrinks: it
 * is bounded by twice the most entries ever held at once (member.ts bounds that by
 * `maxPendingRequests`); the overflow holds only keys whose slot was taken.
 */
export class IdTable<V> {
  /** Invariant: a power of two, and >= 2 × size. */
  #capacity: number
  /** The keys by slot; 0 marks an empty slot (no key is 0). A key in a slot is in its own slot ({@link #slot}). */
  #keys: Float64Array
  /** The values by slot: undefined exactly where #keys holds 0. */
  #values: (V | undefined)[]
  /** Keys whose slot another key held when they were set; never a key that is also in a slot. */
  readonly #overflow = new Map<number, V>()
  #size = 0

  constructor(initialCapacity = 512) {
    let capacity = 16
    while (capacity < initialCapacity) capacity *= 2
    this.#capacity = capacity
    this.#keys = new Float64Array(capacity)
    this.#values = new Array<V | undefined>(capacity).fill(undefined)
  }

  get size(): number {
    return this.#size
  }

  /** The key's slot: its counter modulo the capacity (exact in doubles: the divisors are powers of two, no fmod). */
  #slot(key: number): number {
    const counter = Math.floor(key / 1024)
    return counter - Math.floor(counter / this.#capacity) * this.#capacity
  }

  get(key: number): V | undefined {
    const i = this.#slot(key)
    if (this.#keys[i] === key) return this.#values[i]
    return this.#overflow.size === 0 ? undefined : this.#overflow.get(key)
  }

  has(key: number): boolean {
    return this.#keys[this.#slot(key)] === key || this.#overflow.has(key)
  }

  /** Sets `key` to `value` (replacing any value it had). `key` must be a positive safe integer. */
  set(key: number, value: V): void {
    if (!(Number.isSafeInteger(key) && key > 0)) throw new RangeError(`IdTable: key must be a positive safe integer, got ${key}`)
    let i = this.#slot(key)
    if (this.#keys[i] === key) {
      this.#values[i] = value
      return
    }
    if (this.#overflow.has(key)) {
      this.#overflow.set(key, value)
      return
    }
    if (2 * (this.#size + 1) > this.#capacity) {
      this.#grow()
      i = this.#slot(key)
    }
    this.#size++
    if (this.#keys[i] === 0) {
      this.#keys[i] = key
      this.#values[i] = value
    } else {
      this.#overflow.set(key, value)
    }
  }

  #grow(): void {
    const keys = this.#keys
    const values = this.#values
    const overflow = [...this.#overflow]
    this.#capacity *= 2
    this.#keys = new Float64Array(this.#capacity)
    this.#values = new Array<V | undefined>(this.#capacity).fill(undefined)
    this.#overflow.clear()
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.#place(keys[i]!, values[i]!)
    for (const [key, value] of overflow) this.#place(key, value)
  }

  #place(key: number, value: V): void {
    const i = this.#slot(key)
    if (this.#keys[i] === 0) {
      this.#keys[i] = key
      this.#values[i] = value
    } else {
      this.#overflow.set(key, value)
    }
  }

  /** Removes `key`; returns its value, or undefined when it had none. */
  take(key: number): V | undefined {
    const i = this.#slot(key)
    if (this.#keys[i] === key) {
      const value = this.#values[i]
      this.#keys[i] = 0
      this.#values[i] = undefined
      this.#size--
      return value
    }
    if (this.#overflow.size === 0) return undefined
    const value = this.#overflow.get(key)
    if (value === undefined && !this.#overflow.has(key)) return undefined
    this.#overflow.delete(key)
    this.#size--
    return value
  }

  /** Removes and returns the entries `pick` chooses (every one when it is omitted), in no set order. */
  takeAll(pick?: (value: V) => boolean): [number, V][] {
    const out: [number, V][] = []
    for (let i = 0; i < this.#capacity; i++) {
      const key = this.#keys[i]!
      if (key !== 0 && (pick === undefined || pick(this.#values[i]!))) out.push([key, this.#values[i]!])
    }
    for (const [key, value] of this.#overflow) if (pick === undefined || pick(value)) out.push([key, value])
    for (const [key] of out) this.take(key)
    return out
  }
}
