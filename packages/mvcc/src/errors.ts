import { StrataError } from '@strata/seams'

/** The error codes this package throws, as `StrataError.code`. */
export type MvccErrorCode =
  | 'ERR_COMPACTED'
  | 'ERR_FUTURE_REV'
  | 'ERR_REVISION_NOT_FOUND'
  | 'ERR_EMPTY_KEY'
  | 'ERR_KEY_TOO_LARGE'
  | 'ERR_VALUE_TOO_LARGE'
  | 'ERR_INVALID_RANGE'
  | 'ERR_INVALID_REVISION'
  | 'ERR_INVALID_OPTION'
  | 'ERR_TOO_MANY_OPS'
  | 'ERR_STORE_CLOSED'
  | 'ERR_TOO_MANY_WATCHERS'

/** A typed failure of an mvcc operation; nothing was written when it is thrown by a write. */
export class MvccError extends StrataError {
  declare readonly code: MvccErrorCode
  constructor(code: MvccErrorCode, message: string, context?: Record<string, unknown>) {
    super(code, message, context)
  }
}

export function compactedError(requested: number, compactRevision: number): MvccError {
  return new MvccError('ERR_COMPACTED', 'mvcc: required revision has been compacted', { requested, compactRevision })
}

export function futureRevError(requested: number, currentRevision: number): MvccError {
  return new MvccError('ERR_FUTURE_REV', 'mvcc: required revision is a future revision', { requested, currentRevision })
}
