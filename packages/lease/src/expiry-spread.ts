import assert from 'node:assert'

/**
 * Spreads expiry times so that no one-second window holds more than `perSecond` of them
 * (etcd's pile-up avoidance on promote). After an election every lease restarts its countdown at
 * once, so leases granted in a burst would all expire in the same instant and the revokes would
 * crowd out every other proposal.
 *
 * The rule is a leaky bucket over the expiries in time order: each expiry moves to
 * `max(its own time, previous expiry + spacing)` with `spacing` just over `1 s / perSecond` (the next whole
 * microsecond above it, so float rounding can never squeeze one expiry too many into a window). Expiries only ever move later, never earlier; a lease is delayed only as
 * much as the leases due before it force; and consecutive expiries are at least `spacing` apart,
 * so any half-open one-second window holds at most `perSecond`.
 *
 * `times` (clock ms) is rewritten in place; equal times keep their array order. Sorting only
 * the distinct times keeps this O(n + d log d) for d distinct times — promote computes whole
 * seconds from a common origin, so d is usually tiny even for a million leases.
 */
export function spreadExpiries(times: Float64Array, perSecond: number): void {
  assert(Number.isInteger(perSecond) && perSecond >= 1, 'spreadExpiries: perSecond must be a positive integer')
  if (times.length <= perSecond) return // no window can hold more than all of them
  const spacing = (Math.floor(1e6 / perSecond) + 1) / 1000
  const counts = new Map<number, number>()
  for (const t of times) counts.set(t, (counts.get(t) ?? 0) + 1)
  const distinct = [...counts.keys()].sort((a, b) => a - b)
  // For each distinct time, the slot its first expiry takes; advanced as the group is placed.
  const next = new Map<number, number>()
  let cursor = -Infinity
  for (const t of distinct) {
    const start = Math.max(t, cursor)
    next.set(t, start)
    cursor = start + counts.get(t)! * spacing
  }
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!
    const slot = next.get(t)!
    times[i] = slot
    next.set(t, slot + spacing)
  }
}
