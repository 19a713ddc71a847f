import { StrataError } from '@strata/seams'

/**
 * The codes `@strata/embed` adds to those of the layers below (which pass through unchanged:
 * `ERR_MVCC_COMPACTED`, `ERR_LEASE_NOT_FOUND`, `ERR_AUTH_PERMISSION_DENIED`, ...). Each has
 * etcd's meaning where etcd has one.
 */
export type EmbedErrorCode =
  /** The store is closed (or closing); open it again. */
  | 'ERR_EMBED_CLOSED'
  /** Another process (or another `open` in this one) holds the data directory. */
  | 'ERR_EMBED_LOCKED'
  | 'ERR_EMBED_INVALID_OPTION'
  | 'ERR_EMBED_INVALID_ARGUMENT'
  /** An encoded request over `maxRequestBytes` (etcd's ErrRequestTooLarge); nothing was proposed. */
  | 'ERR_EMBED_REQUEST_TOO_LARGE'
  /** The request did not apply within `requestTimeoutMs` (etcd's ErrTimeout): it may still apply. */
  | 'ERR_EMBED_TIMEOUT'
  /** Too many requests wait to apply (etcd's ErrTooManyRequests); retry later. */
  | 'ERR_EMBED_TOO_MANY_REQUESTS'
  /** No leader is known (an election is running, or the member is cut off); retry. */
  | 'ERR_EMBED_NO_LEADER'
  /** The call must run on the leader (a lease keep-alive, a leadership transfer); `context.leader` names it. */
  | 'ERR_EMBED_NOT_LEADER'
  /** The backend would grow past `quotaBackendBytes` (etcd's ErrNoSpace); the NOSPACE alarm is raised. */
  | 'ERR_EMBED_NO_SPACE'
  /** The member stopped after a failure it cannot recover from alone (a failed fsync, a corrupt file). */
  | 'ERR_EMBED_STOPPED'
  /** A txn branch writes one key twice: two puts, or a put inside a deleted range (etcd's ErrDuplicateKey). */
  | 'ERR_EMBED_DUPLICATE_KEY'
  /** The member was removed from its cluster. */
  | 'ERR_EMBED_REMOVED'

export class EmbedError extends StrataError {
  declare readonly code: EmbedErrorCode
  constructor(code: EmbedErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}
