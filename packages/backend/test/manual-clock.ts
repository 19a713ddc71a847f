import type { Clock, Timer } from '@strata/seams'

/** A clock that moves only when the test says so; timers fire in due order inside advance(). */
export class ManualClock implements Clock {
  #now = 0
  #timers: Array<{ at: number; fn: () => void; live: boolean }> = []

  now(): number {
    return this.#now
  }

  setTimer(ms: number, fn: () => void): Timer {
    const t = { at: this.#now + Math.max(0, ms), fn, live: true }
    this.#timers.push(t)
    return { cancel: () => { t.live = false } }
  }

  /** Timers armed and not cancelled. */
  get armed(): number {
    return this.#timers.filter((t) => t.live).length
  }

  advance(ms: number): void {
    const until = this.#now + ms
    for (;;) {
      this.#timers = this.#timers.filter((t) => t.live)
      const due = this.#timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      this.#now = due.at
      due.live = false
      due.fn()
    }
    this.#now = until
  }
}
