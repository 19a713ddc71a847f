import { StrataError } from '@strata/seams'

/** The error codes this package throws, as `StrataError.code`. */
export type LeaseErrorCode =
  /** No lease with that id (also: id 0 on grant, as in etcd). */
  | 'ERR_LEASE_NOT_FOUND'
  /** A grant named an id that is already in use; the caller picks another id. */
  | 'ERR_LEASE_EXISTS'
  /** A grant asked for more than the maximum TTL (9,000,000,000 s by default). */
  | 'ERR_LEASE_TTL_TOO_LARGE'
  /** A TTL that is not a safe integer number of seconds. */
  | 'ERR_LEASE_TTL_INVALID'
  /** A lease id that is not a positive safe integer. */
  | 'ERR_LEASE_ID_INVALID'
  /** Renew or timeToLive on a lessor that is not the primary: the driver forwards to the leader. */
  | 'ERR_NOT_PRIMARY'
  /**
   * Renew of a lease whose expiry has passed and whose revoke has not applied yet. Retryable:
   * once the revoke applies the lease is gone (ERR_LEASE_NOT_FOUND).
   */
  | 'ERR_LEASE_EXPIRED'
  /** A checkpoint request with more entries than `maxCheckpointBatch`; nothing was applied. */
  | 'ERR_LEASE_CHECKPOINT_TOO_LARGE'
  /** A checkpoint entry whose remaining TTL is not a non-negative safe integer; nothing was applied. */
  | 'ERR_LEASE_CHECKPOINT_INVALID'
  /** A record in the `lease` bucket that cannot be decoded. */
  | 'ERR_LEASE_CORRUPT'
  /** Revoke of a lease with attached keys before a RangeDeleter was set; nothing was written. */
  | 'ERR_NO_RANGE_DELETER'

/** A typed failure of a lessor operation. When a mutating operation throws one, nothing was written. */
export class LeaseError extends StrataError {
  declare readonly code: LeaseErrorCode
  constructor(code: LeaseErrorCode, message: string, context?: Record<string, unknown>) {
    super(code, message, context)
  }
}

export function leaseNotFound(id: number): LeaseError {
  return new LeaseError('ERR_LEASE_NOT_FOUND', `lease ${id} not found`, { id })
}

export function notPrimary(operation: string): LeaseError {
  return new LeaseError('ERR_NOT_PRIMARY', `${operation}: this lessor is not the primary; ask the leader`, { operation })
}
