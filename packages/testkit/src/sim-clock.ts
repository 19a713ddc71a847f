import type { Clock, Timer } from '@strata/seams'
import { StrataError } from '@strata/seams'

interface Entry {
  readonly at: number
  /** Arming order: timers due at the same time fire in the order they were armed. */
  readonly seq: number
  readonly fn: () => void
  cancelled: boolean
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

export interface SimClockOptions {
  /** The virtual time the clock starts at, in ms. Default 0. */
  readonly start?: number
}

export interface RunUntilIdleOptions {
  /** Most timers to fire before giving up (a timer re-arming itself forever). Default 100000. */
  readonly maxTimers?: number
}

/**
 * Virtual time for simulations: `now()` moves only when the test calls `advance`, and timers
 * fire inside that call, in time order (ties in arming order), including timers their
 * callbacks arm that fall due before the target time.
 */
export class SimClock implements Clock {
  /** Invariant: never decreases. */
  #now: number
  /** Invariant: a binary min-heap by (at, seq); cancelled entries are dropped when they surface. */
  #heap: Entry[] = []
  #seq = 0
  /** Invariant: the number of entries in the heap that are not cancelled. */
  #live = 0

  constructor(options: SimClockOptions = {}) {
    this.#now = options.start ?? 0
    if (!Number.isFinite(this.#now)) throw new RangeError(`SimClock: start must be finite, got ${this.#now}`)
  }

  now(): number { return this.#now }

  setTimer(ms: number, fn: () => void): Timer {
    if (Number.isNaN(ms)) throw new RangeError('SimClock.setTimer: ms is NaN')
    const entry: Entry = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#push(entry)
    this.#live++
    return {
      cancel: () => {
        if (entry.cancelled) return
        entry.cancelled = true
        this.#live--
      },
    }
  }

  /** Timers armed and neither fired nor cancelled. */
  get pendingTimers(): number { return this.#live }

  /** When the next timer falls due, or undefined when none is pending. */
  nextTimerAt(): number | undefined {
    this.#dropCancelled()
    return this.#heap[0]?.at
  }

  /** Moves time forward by `ms`, firing every timer due by then; returns how many fired. */
  advance(ms: number): number {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`SimClock.advance: ms must be finite and >= 0, got ${ms}`)
    return this.advanceTo(this.#now + ms)
  }

  /** Moves time forward to `time` (no earlier than now), firing every timer due by then. */
  advanceTo(time: number): number {
    if (!(time >= this.#now)) throw new RangeError(`SimClock.advanceTo: ${time} is before now (${this.#now})`)
    let fired = 0
    for (;;) {
      this.#dropCancelled()
      const next = this.#heap[0]
      if (next === undefined || next.at > time) break
      this.#fire()
      fired++
    }
    this.#now = time
    return fired
  }

  /**
   * Fires timers in order, moving time to each, until none is pending; returns how many fired.
   * Throws ERR_SIM_CLOCK_NOT_IDLE after `maxTimers`, as a timer that re-arms itself never ends.
   */
  runUntilIdle(options: RunUntilIdleOptions = {}): number {
    const max = options.maxTimers ?? 100_000
    let fired = 0
    for (;;) {
      this.#dropCancelled()
      if (this.#heap.length === 0) return fired
      if (fired >= max) throw new StrataError('ERR_SIM_CLOCK_NOT_IDLE', `SimClock.runUntilIdle: still ${this.#live} timers after firing ${max}`, { fired, pending: this.#live, now: this.#now })
      this.#fire()
      fired++
    }
  }

  #fire(): void {
    const entry = this.#pop()
    this.#now = Math.max(this.#now, entry.at)
    entry.cancelled = true
    this.#live--
    entry.fn()
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop()
  }

  #push(entry: Entry): void {
    const heap = this.#heap
    heap.push(entry)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  #pop(): Entry {
    const heap = this.#heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length === 0) return top
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < heap.length && before(heap[l]!, heap[min]!)) min = l
      if (r < heap.length && before(heap[r]!, heap[min]!)) min = r
      if (min === i) return top
      ;[heap[i], heap[min]] = [heap[min]!, heap[i]!]
      i = min
    }
  }
}
