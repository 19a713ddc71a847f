/** A cancellable timer returned by {@link Clock.setTimer}. */
export interface Timer {
  cancel(): void
}

/**
 * Time as the cores see it. Cores never read the wall clock or arm timers themselves:
 * they take a Clock, so a simulation can drive virtual time (testkit's SimClock).
 */
export interface Clock {
  /** Milliseconds since an arbitrary, fixed origin; never decreases. */
  now(): number
  /** Calls `fn` once, no earlier than `ms` milliseconds from now. */
  setTimer(ms: number, fn: () => void): Timer
}

/**
 * The real clock: monotonic milliseconds (performance.now, so wall-clock jumps cannot make
 * leases expire early) and Node timers. Timers keep the process alive, as a pending operation
 * may depend on one; whoever arms them cancels them on close.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms))
    return { cancel: () => clearTimeout(handle) }
  },
}

/**
 * `systemClock` for background work: timers of more than 0 ms are unref'd, so a periodic job
 * (a watch sync, a victim retry) never keeps the host's process alive on its own; a 0 ms timer
 * (work that is due now) still does, until it ran.
 */
export const backgroundClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms))
    if (ms > 0) handle.unref()
    return { cancel: () => clearTimeout(handle) }
  },
}

/**
 * Resolves on the next turn of the event loop, after pending I/O (`setImmediate`): how a long
 * piece of work gives the host's event loop a turn between two bounded steps.
 */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve))
}
