import { randomBelow } from '@strata/seams'
import type { Rng } from '@strata/seams'
import { LeaseError, invalidArgument } from './errors.js'

/** The id meaning "no lease" (a key without a lease carries it). Never a valid lease id. */
export const NO_LEASE = 0

/**
 * The largest lease id: ids are positive safe integers, so they survive every JavaScript number
 * path and fit etcd's int64 lease ids (a strict subset of them).
 */
export const MAX_LEASE_ID = Number.MAX_SAFE_INTEGER

/**
 * Throws ERR_LEASE_INVALID_ARGUMENT unless `id` is a non-negative safe integer (0, NO_LEASE,
 * passes: it names no lease, so a lookup of it finds nothing). `what` names the call.
 */
export function checkIdArgument(id: unknown, what: string): asserts id is number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw invalidArgument(`${what}: lease id ${String(id)} is not a non-negative safe integer; pass an integer in [1, 2^53 - 1]`, { id })
  }
}

/**
 * Throws unless `id` is a valid id to grant. Id 0 is ERR_LEASE_NOT_FOUND (etcd's lessor answers
 * a grant of id 0 that way: the server is meant to pick an id first); anything else that is not a
 * positive safe integer is ERR_LEASE_INVALID_ARGUMENT.
 */
export function checkLeaseId(id: number): void {
  checkIdArgument(id, 'grant')
  if (id === NO_LEASE) throw new LeaseError('ERR_LEASE_NOT_FOUND', 'lease: id 0 names no lease; pick an id before the grant (newLeaseId)', { id })
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
