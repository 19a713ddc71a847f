/**
 * A map from request id to what waits for it, for a table whose entries come and go by the
 * thousand per second (the proposals in flight): open addressing over two arrays, linear
 * probing, deletion by backward shift (no tombstones).
 *
 * Why not a Map: a Map under constant insert and delete rehashes into a new table every few
 * hundred operations, and each old table keeps a pointer to its successor (for iterators that
 * outlive a rehash). Once one old table is promoted to V8's old space, the chain of its
 * successors, and every waiter, promise and payload they hold, is kept alive by it until the
 * next full GC: each scavenge then copied and promoted ~1.7 MB at 256 puts in flight (5-8 ms
 * per scavenge, a fifth of the put path's main-thread time). Here a slot is cleared when its
 * entry goes, so a settled request is garbage at once, and the arrays are only replaced when
 * the table grows.
 *
 * Keys are positive safe integers (the ids `counter * 1024 + memberId % 1024` of member.ts);
 * the slot is chosen by the counter, so consecutive ids fill consecutive slots. The capacity
 * doubles past half full and never shrinks: it is bounded by twice the most entries ever held
 * at once (member.ts bounds that by `maxPendingRequests`).
 */
export class IdTable<V> {
  /** Invariant: a power of two, and > 2 × size. */
  #capacity: number
  /** The keys by slot; 0 marks an empty slot (no key is 0). */
  #keys: Float64Array
  /** The values by slot: undefined exactly where #keys holds 0. */
  #values: (V | undefined)[]
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

  /** The slot a key's probe starts at. */
  #home(key: number): number {
    return Math.floor(key / 1024) % this.#capacity
  }

  /** The slot holding `key`, or -1. */
  #find(key: number): number {
    const mask = this.#capacity - 1
    const keys = this.#keys
    for (let i = this.#home(key); ; i = (i + 1) & mask) {
      const k = keys[i]!
      if (k === key) return i
      if (k === 0) return -1
    }
  }

  get(key: number): V | undefined {
    const i = this.#find(key)
    return i < 0 ? undefined : this.#values[i]
  }

  has(key: number): boolean {
    return this.#find(key) >= 0
  }

  /** Sets `key` to `value` (replacing any value it had). `key` must be a positive safe integer. */
  set(key: number, value: V): void {
    if (!(Number.isSafeInteger(key) && key > 0)) throw new RangeError(`IdTable: key must be a positive safe integer, got ${key}`)
    const at = this.#find(key)
    if (at >= 0) {
      this.#values[at] = value
      return
    }
    if (2 * (this.#size + 1) > this.#capacity) this.#grow()
    this.#place(key, value)
    this.#size++
  }

  #place(key: number, value: V): void {
    const mask = this.#capacity - 1
    let i = this.#home(key)
    while (this.#keys[i] !== 0) i = (i + 1) & mask
    this.#keys[i] = key
    this.#values[i] = value
  }

  #grow(): void {
    const keys = this.#keys
    const values = this.#values
    this.#capacity *= 2
    this.#keys = new Float64Array(this.#capacity)
    this.#values = new Array<V | undefined>(this.#capacity).fill(undefined)
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.#place(keys[i]!, values[i]!)
  }

  /** Removes `key`; returns its value, or undefined when it had none. */
  take(key: number): V | undefined {
    let i = this.#find(key)
    if (i < 0) return undefined
    const value = this.#values[i]
    // Backward shift: move later entries of the probe run into the hole when their home slot
    // does not lie (cyclically) after the hole, so every key stays reachable from its home.
    const mask = this.#capacity - 1
    const keys = this.#keys
    const values = this.#values
    for (let j = (i + 1) & mask; keys[j] !== 0; j = (j + 1) & mask) {
      const home = this.#home(keys[j]!)
      const movable = i <= j ? home <= i || home > j : home <= i && home > j
      if (!movable) continue
      keys[i] = keys[j]!
      values[i] = values[j]
      i = j
    }
    keys[i] = 0
    values[i] = undefined
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
    if (out.length === this.#size) this.#clear()
    else for (const [key] of out) this.take(key)
    return out
  }

  #clear(): void {
    this.#keys.fill(0)
    this.#values.fill(undefined)
    this.#size = 0
  }
}
