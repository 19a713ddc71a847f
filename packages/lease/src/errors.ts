import { StrataError } from '@strata/seams'

/** The error codes this package throws, as `StrataError.code`. */
export type LeaseErrorCode =
  /** No lease with that id (also: id 0 on grant, as in etcd: the driver picks an id first). */
  | 'ERR_LEASE_NOT_FOUND'
  /** A grant named an id that is already in use; the caller picks another id. */
  | 'ERR_LEASE_EXISTS'
  /** A grant asked for more than the maximum TTL (`maxTtlSeconds`, 9,000,000,000 s by default). */
  | 'ERR_LEASE_TTL_TOO_LARGE'
  /** Renew on a lessor that is not the primary: the driver forwards the keep-alive to the leader. */
  | 'ERR_LEASE_NOT_PRIMARY'
  /**
   * Renew of a lease whose expiry has passed and whose revoke has not applied yet. Retryable:
   * once the revoke applies the lease is gone (ERR_LEASE_NOT_FOUND).
   */
  | 'ERR_LEASE_EXPIRED'
  /** A checkpoint request with more entries than `maxCheckpointBatch`; nothing was applied. */
  | 'ERR_LEASE_CHECKPOINT_TOO_LARGE'
  /** A record in the `lease` bucket that cannot be decoded. */
  | 'ERR_LEASE_CORRUPT'
  /** Revoke of a lease with attached keys while no RangeDeleter is set; nothing was written. */
  | 'ERR_LEASE_NO_RANGE_DELETER'
  /** A bad option to `Lessor.open` (unknown name, wrong type, out of bounds). */
  | 'ERR_LEASE_INVALID_OPTION'
  /**
   * A bad argument to a call: a lease id or TTL that is negative, fractional or beyond 2^53, a
   * key that is neither a string nor a Uint8Array, a malformed checkpoint entry.
   */
  | 'ERR_LEASE_INVALID_ARGUMENT'
  /** A call on a lessor after `close()`. */
  | 'ERR_LEASE_CLOSED'

/** A typed failure of a lessor operation. When a mutating operation throws one, nothing was written. */
export class LeaseError extends StrataError {
  declare readonly code: LeaseErrorCode
  constructor(code: LeaseErrorCode, message: string, context?: Record<string, unknown>) {
    super(code, message, context)
  }
}

export function leaseNotFound(id: number): LeaseError {
  return new LeaseError('ERR_LEASE_NOT_FOUND', `lease: lease ${id} not found; it was never granted or has been revoked`, { id })
}

export function notPrimary(operation: string): LeaseError {
  return new LeaseError('ERR_LEASE_NOT_PRIMARY', `lease: ${operation} needs the primary lessor and this one is not; forward the call to the leader`, { operation })
}

export function invalidArgument(message: string, context?: Record<string, unknown>): LeaseError {
  return new LeaseError('ERR_LEASE_INVALID_ARGUMENT', `lease: ${message}`, context)
}

export function invalidOption(message: string, context?: Record<string, unknown>): LeaseError {
  return new LeaseError('ERR_LEASE_INVALID_OPTION', `lease: ${message}`, context)
}
