import { StrataError } from '@strata/seams'

/**
 * The codes a backend throws (README.md, Errors, says when and what state follows):
 * - `ERR_BACKEND_INVALID_OPTION`: a bad option to `LmdbBackend.open` or `new MemoryBackend`.
 * - `ERR_BACKEND_INVALID_ARGUMENT`: a bad argument to a call (unknown bucket, a key that is not a
 *   non-empty `Uint8Array`, a `WriteTx` used outside its callback, a write during a walk).
 * - `ERR_BACKEND_KEY_TOO_LARGE` / `ERR_BACKEND_VALUE_TOO_LARGE`: over MAX_KEY_BYTES / MAX_VALUE_BYTES.
 * - `ERR_BACKEND_BUSY`: a defragment or restore while another one runs.
 * - `ERR_BACKEND_COMMIT`: a commit failed, now or earlier; writes are refused until a reopen.
 * - `ERR_BACKEND_CLOSED`: a call after `close()` or `crash()`.
 * - `ERR_BACKEND_LOCKED`: `LmdbBackend.open` of a directory open elsewhere.
 * - `ERR_BACKEND_CORRUPT`: a snapshot stream or a data file fails its checks.
 * - `ERR_BACKEND_SCAN`: the thread of a `scanHeads` failed.
 * - `ERR_BACKEND_DEFRAGMENT`: a defragment's copy failed or failed its checks; the data file is kept.
 */
export type BackendErrorCode =
  | 'ERR_BACKEND_INVALID_OPTION' | 'ERR_BACKEND_INVALID_ARGUMENT'
  | 'ERR_BACKEND_KEY_TOO_LARGE' | 'ERR_BACKEND_VALUE_TOO_LARGE' | 'ERR_BACKEND_BUSY'
  | 'ERR_BACKEND_COMMIT' | 'ERR_BACKEND_CLOSED' | 'ERR_BACKEND_LOCKED' | 'ERR_BACKEND_CORRUPT' | 'ERR_BACKEND_SCAN' | 'ERR_BACKEND_DEFRAGMENT'

/** Every error a backend throws on purpose: a {@link StrataError} with a {@link BackendErrorCode}. */
export class BackendError extends StrataError {
  declare readonly code: BackendErrorCode

  constructor(code: BackendErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}

/** A {@link BackendError}; `cause` when it wraps another error. Messages start with `backend: `. */
export function backendError(code: BackendErrorCode, message: string, context?: Record<string, unknown>, cause?: unknown): BackendError {
  return new BackendError(code, `backend: ${message}`, context, cause === undefined ? undefined : { cause })
}

/** What to do about a damaged data file, for the messages of ERR_BACKEND_CORRUPT. */
export const DAMAGED_FILE_ADVICE =
  'restore the data directory from a snapshot or backup, or, for a member of a cluster, discard its data directory and let it catch up from the leader\'s snapshot'
