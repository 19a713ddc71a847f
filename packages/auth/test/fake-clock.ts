import type { Clock, Timer } from '@strata/seams'

/** A manual clock for tests: time moves only through advance(), which fires due timers in order. */
export class FakeClock implements Clock {
  #now: number
  #timers: { at: number; fn: () => void; cancelled: boolean }[] = []

  constructor(start = 0) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimer(ms: number, fn: () => void): Timer {
    const t = { at: this.#now + Math.max(0, ms), fn, cancelled: false }
    this.#timers.push(t)
    return { cancel: () => void (t.cancelled = true) }
  }

  advance(ms: number): void {
    const until = this.#now + ms
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= until).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      due.cancelled = true
      this.#now = due.at
      due.fn()
    }
    this.#now = until
  }
}
