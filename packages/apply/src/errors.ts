import { StrataError } from '@strata/seams'

/** The codes `@strata/apply` throws, as `ApplyError.code` (README, errors). */
export type ApplyErrorCode =
  /** An entry payload or stored record that does not decode: damaged, or from a newer format. */
  | 'ERR_APPLY_CORRUPT'
  /** A request that cannot be encoded: a field out of its bounds or of the wrong type. */
  | 'ERR_APPLY_INVALID_ARGUMENT'
  | 'ERR_APPLY_INVALID_OPTION'
  /** An encoded request over `maxRequestBytes` (etcd's ErrRequestTooLarge); nothing was proposed. */
  | 'ERR_APPLY_REQUEST_TOO_LARGE'
  /** The backend's applied index is behind the snapshot the member starts from. */
  | 'ERR_APPLY_INDEX_MISMATCH'
  /** A request checked at an auth revision older than the store's (etcd's ErrAuthOldRevision). */
  | 'ERR_APPLY_AUTH_OLD_REVISION'
  /** A NOSPACE alarm is active: puts, txns with puts and lease grants are refused (etcd's ErrNoSpace). */
  | 'ERR_APPLY_NO_SPACE'
  /** A CORRUPT alarm is active: every write is refused until an operator repairs the member. */
  | 'ERR_APPLY_CORRUPT_ALARM'
  /** `put` with ignoreValue/ignoreLease on a key that does not exist (etcd's ErrKeyNotFound). */
  | 'ERR_APPLY_KEY_NOT_FOUND'
  | 'ERR_APPLY_CLOSED'

export class ApplyError extends StrataError {
  declare readonly code: ApplyErrorCode
  constructor(code: ApplyErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}
