import { StrataError } from '@strata/seams'

/**
 * The error codes this package throws, as `StrataError.code` (README, errors). A code keeps its
 * meaning once released.
 */
export type MvccErrorCode =
  /** A read, hash or compact at a revision below the compact revision. */
  | 'ERR_MVCC_COMPACTED'
  /** A read, hash or compact at a revision above the current one. */
  | 'ERR_MVCC_FUTURE_REV'
  /** A call on a closed MvccStore or WatchableStore. */
  | 'ERR_MVCC_CLOSED'
  /** A bad option to `MvccStore.open` or `WatchableStore.open`. */
  | 'ERR_MVCC_INVALID_OPTION'
  /** A bad argument to a call: a key that is not a string or bytes, a negative revision, ... */
  | 'ERR_MVCC_INVALID_ARGUMENT'
  /** An empty key. */
  | 'ERR_MVCC_EMPTY_KEY'
  /** A key or range end over `maxKeyBytes`. */
  | 'ERR_MVCC_KEY_TOO_LARGE'
  /** A value over `maxValueBytes`. */
  | 'ERR_MVCC_VALUE_TOO_LARGE'
  /** A range end below its key. */
  | 'ERR_MVCC_INVALID_RANGE'
  /** A txn branch with more than `maxTxnOps` operations (or more compares). */
  | 'ERR_MVCC_TOO_MANY_OPS'
  /** More live watchers than `maxWatchers`. */
  | 'ERR_MVCC_TOO_MANY_WATCHERS'
  /** A write, compact or restore while an mvcc write or a restore of the same store runs. */
  | 'ERR_MVCC_BUSY'
  /** A second WatchableStore over one MvccStore. */
  | 'ERR_MVCC_WATCHABLE_EXISTS'
  /**
   * Stored data failed its checks (a record's checksum, the record totals, the file's
   * structure); the store refuses writes from then on. The message names the revision, key and
   * file, and says what to do.
   */
  | 'ERR_MVCC_CORRUPT'

/** A typed failure of an mvcc operation; nothing was written when it is thrown by a write. */
export class MvccError extends StrataError {
  declare readonly code: MvccErrorCode
  constructor(code: MvccErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}

export function compactedError(requested: number, compactRevision: number): MvccError {
  return new MvccError('ERR_MVCC_COMPACTED', `mvcc: revision ${requested} has been compacted (compact revision ${compactRevision}); read at ${compactRevision} or later`, { requested, compactRevision })
}

export function futureRevError(requested: number, currentRevision: number): MvccError {
  return new MvccError('ERR_MVCC_FUTURE_REV', `mvcc: revision ${requested} is in the future (current revision ${currentRevision}); read at ${currentRevision} or earlier, or 0 for the current one`, { requested, currentRevision })
}

export function closedError(what: string): MvccError {
  return new MvccError('ERR_MVCC_CLOSED', `mvcc: the ${what} is closed; open a new one`)
}

export function invalidArgument(message: string, context?: Record<string, unknown>): MvccError {
  return new MvccError('ERR_MVCC_INVALID_ARGUMENT', `mvcc: ${message}`, context)
}

export function invalidOption(message: string, context?: Record<string, unknown>): MvccError {
  return new MvccError('ERR_MVCC_INVALID_OPTION', `mvcc: ${message}`, context)
}

/** What a value is, for messages: `number 5`, `object`, `undefined`. */
export function describe(x: unknown): string {
  if (x === null) return 'null'
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return `${typeof x} ${String(x)}`
  if (Array.isArray(x)) return 'an array'
  return typeof x
}
