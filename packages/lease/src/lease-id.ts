import { randomBelow } from '@strata/seams'
import type { Rng } from '@strata/seams'
import { LeaseError } from './errors.js'

/** The id meaning "no lease" (a key without a lease carries it). Never a valid lease id. */
export const NO_LEASE = 0

/**
 * The largest lease id: ids are positive safe integers, so they survive every JavaScript number
 * path and fit etcd's int64 lease ids (a strict subset of them).
 */
export const MAX_LEASE_ID = Number.MAX_SAFE_INTEGER

/**
 * Throws unless `id` is a valid lease id. Id 0 is ERR_LEASE_NOT_FOUND (etcd's lessor answers
 * a grant of id 0 that way: the server is meant to pick an id first); anything else that is not a
 * positive safe integer is ERR_LEASE_ID_INVALID.
 */
export function checkLeaseId(id: number): void {
  if (id === NO_LEASE) throw new LeaseError('ERR_LEASE_NOT_FOUND', 'lease id 0 names no lease; pick an id first (newLeaseId)', { id })
  if (!Number.isSafeInteger(id) || id < 0) throw new LeaseError('ERR_LEASE_ID_INVALID', `lease id ${id} is not a positive safe integer`, { id })
}

/**
 * A uniformly random lease id in [1, MAX_LEASE_ID], drawn from `rng` (the driver's job before it
 * proposes a grant whose client asked for id 0). On ERR_LEASE_EXISTS draw again.
 */
export function newLeaseId(rng: Rng): number {
  // 53 bits from two draws: 21 high bits, 32 low bits.
  for (;;) {
    const id = randomBelow(rng, 2 ** 21) * 2 ** 32 + rng.nextU32()
    if (id !== NO_LEASE) return id
  }
}
