import assert from 'node:assert'

/**
 * What a {@link LeaseQueue} holds: a lease (or anything with an id) that records its own
 * position in each of the two queues a primary lessor keeps. Recording the position in the entry
 * makes update and remove O(log n) without an id → position map, and lets a lease sit in both
 * the expiry queue and the checkpoint queue at once.
 */
export interface QueueEntry {
  readonly id: number
  /** Position in the expiry queue (slot 'expiry'); -1 when not in it. */
  expiryPos: number
  /** Position in the checkpoint queue (slot 'checkpoint'); -1 when not in it. */
  checkpointPos: number
}

/** Which position field of its entries a queue maintains. */
export type QueueSlot = 'expiry' | 'checkpoint'

/** The smallest capacity the time array shrinks to. */
const MIN_CAPACITY = 16

/**
 * An indexed binary min-heap of entries ordered by due time (ties: smaller id first, so the
 * order is deterministic), one slot per entry: "register or update" fixes the heap in place
 * instead of pushing duplicates (etcd's LeaseExpiredNotifier keeps an id map for the same reason).
 *
 * Times live in a Float64Array beside the entry array, so a queued lease costs 16 bytes (one
 * pointer, one double) and no object of its own: promote queues a million leases without a
 * million allocations.
 */
export class LeaseQueue<T extends QueueEntry> {
  readonly #expirySlot: boolean
  /** Invariant: a min-heap by (time, id); the entry at i records position i in this queue's slot. */
  #entries: T[] = []
  /** Invariant: #times[i] is the due time (finite clock ms) of #entries[i], for i < size. */
  #times: Float64Array = new Float64Array(MIN_CAPACITY)

  constructor(slot: QueueSlot) {
    this.#expirySlot = slot === 'expiry'
  }

  get size(): number {
    return this.#entries.length
  }

  /** The earliest entry, without removing it. */
  peek(): T | undefined {
    return this.#entries[0]
  }

  /** The due time of the earliest entry; Infinity when the queue is empty. */
  peekTime(): number {
    return this.#entries.length === 0 ? Infinity : this.#times[0]!
  }

  has(entry: T): boolean {
    const i = this.#pos(entry)
    return i >= 0 && this.#entries[i] === entry
  }

  /** The due time of a queued entry. */
  timeOf(entry: T): number {
    assert(this.has(entry), 'LeaseQueue.timeOf: entry is not in this queue')
    return this.#times[this.#pos(entry)]!
  }

  /** Inserts `entry`, due at `time`; it must not be in this queue already. */
  push(entry: T, time: number): void {
    assert(Number.isFinite(time), 'LeaseQueue.push: time must be finite')
    assert(!this.has(entry), 'LeaseQueue.push: entry is already queued')
    const i = this.#entries.length
    if (i === this.#times.length) this.#resize(2 * i)
    this.#entries.push(entry)
    this.#times[i] = time
    this.#up(i)
  }

  /** Moves a queued entry to a new due time. */
  update(entry: T, time: number): void {
    assert(this.has(entry), 'LeaseQueue.update: entry is not in this queue')
    assert(Number.isFinite(time), 'LeaseQueue.update: time must be finite')
    const i = this.#pos(entry)
    const earlier = time < this.#times[i]!
    this.#times[i] = time
    if (earlier) this.#up(i)
    else this.#down(i)
  }

  /** Removes a queued entry; its position becomes -1. */
  remove(entry: T): void {
    assert(this.has(entry), 'LeaseQueue.remove: entry is not in this queue')
    const i = this.#pos(entry)
    const lastIndex = this.#entries.length - 1
    const last = this.#entries.pop()!
    const lastTime = this.#times[lastIndex]!
    this.#setPos(entry, -1)
    if (last !== entry) {
      this.#entries[i] = last
      this.#times[i] = lastTime
      this.#up(i)
      this.#down(this.#pos(last))
    }
    if (this.#times.length > MIN_CAPACITY && this.#entries.length < this.#times.length / 4) this.#resize(this.#times.length / 2)
  }

  /**
   * Replaces the whole content with `entries` due at `times` (same length; both are taken over,
   * not copied) in O(n) by Floyd's heap construction: how promote rebuilds the queue for a
   * million leases without a million sift-ups.
   */
  rebuild(entries: T[], times: Float64Array): void {
    assert.equal(entries.length, times.length, 'LeaseQueue.rebuild: one time per entry')
    this.clear()
    this.#entries = entries
    this.#times = times.length >= MIN_CAPACITY ? times : Float64Array.from({ length: MIN_CAPACITY }, (_, i) => times[i] ?? 0)
    for (let i = 0; i < entries.length; i++) {
      assert(Number.isFinite(this.#times[i]), 'LeaseQueue.rebuild: times must be finite')
      this.#setPos(entries[i]!, i)
    }
    for (let i = (entries.length >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  /** Drops every entry (demote); the arrays are replaced so their memory is released. */
  clear(): void {
    for (const entry of this.#entries) this.#setPos(entry, -1)
    this.#entries = []
    this.#times = new Float64Array(MIN_CAPACITY)
  }

  /** Checks the heap property and the recorded positions; for tests. */
  checkValid(): void {
    const entries = this.#entries
    assert(this.#times.length >= entries.length, 'time array shorter than the heap')
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      assert.equal(this.#pos(entry), i, `entry ${entry.id} records position ${this.#pos(entry)} but sits at ${i}`)
      assert(Number.isFinite(this.#times[i]), `entry ${entry.id} has no finite time`)
      if (i > 0) assert(!this.#less(i, (i - 1) >> 1), `entry ${entry.id} is earlier than its parent`)
    }
  }

  #pos(entry: T): number {
    return this.#expirySlot ? entry.expiryPos : entry.checkpointPos
  }

  #setPos(entry: T, i: number): void {
    if (this.#expirySlot) entry.expiryPos = i
    else entry.checkpointPos = i
  }

  #less(i: number, j: number): boolean {
    const ti = this.#times[i]!
    const tj = this.#times[j]!
    return ti < tj || (ti === tj && this.#entries[i]!.id < this.#entries[j]!.id)
  }

  #swap(i: number, j: number): void {
    const entries = this.#entries
    const times = this.#times
    const a = entries[i]!
    const b = entries[j]!
    entries[i] = b
    entries[j] = a
    const t = times[i]!
    times[i] = times[j]!
    times[j] = t
    this.#setPos(b, i)
    this.#setPos(a, j)
  }

  #up(i: number): void {
    this.#setPos(this.#entries[i]!, i)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(i, p)) break
      this.#swap(i, p)
      i = p
    }
  }

  #down(i: number): void {
    const n = this.#entries.length
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && this.#less(c + 1, c)) c++
      if (!this.#less(c, i)) break
      this.#swap(i, c)
      i = c
    }
  }

  #resize(capacity: number): void {
    const times = new Float64Array(Math.max(MIN_CAPACITY, capacity))
    times.set(this.#times.subarray(0, this.#entries.length))
    this.#times = times
  }
}
