import { StrataError } from '@strata/seams'

/**
 * Every stable code a WAL or snapshotter operation can fail with. Callers branch on `code`,
 * never on the message.
 * - `ERR_WAL_INVALID_OPTION`: an option to `open`/`create`/`Snapshotter.open`/a tool is out of its
 *   bounds or of the wrong type (context: `option`).
 * - `ERR_WAL_INVALID_ARGUMENT`: an argument to a call breaks its contract (unsafe integer, entry
 *   type outside 0..2, non-consecutive entries, a node id ≤ 0, a chunk that is not a Uint8Array).
 * - `ERR_WAL_CALL_ORDER`: a call the object's state does not allow: a write before `readAll`,
 *   `readAll` twice, a write on a log opened with `openForRead`.
 * - `ERR_WAL_CORRUPT`: a record failed its checks where a torn write is impossible (context:
 *   `segment`, `offset`, `reason`). Not repairable by `repair()`.
 * - `ERR_WAL_TORN_TAIL`: the last segment ends in a partly written record (a crash during an
 *   unsynced write). `repair(dir)` cuts it off (context: `segment`, `offset`).
 * - `ERR_WAL_UNSUPPORTED_VERSION`: a segment written by another format version (context:
 *   `segment`, `version`; version 1 logs are not converted).
 * - `ERR_WAL_LOCKED`: another writer holds the directory lock.
 * - `ERR_WAL_GAP`: an entry index skips ahead of the log (on read or on save).
 * - `ERR_WAL_SNAPSHOT_MISMATCH`: a snapshot record for the requested index has another term.
 * - `ERR_WAL_SNAPSHOT_NOT_FOUND`: no snapshot record for the requested index was found.
 * - `ERR_WAL_METADATA_CONFLICT`: two segments carry different metadata.
 * - `ERR_WAL_CLOSED`: the WAL or snapshotter was closed.
 * - `ERR_WAL_FAILED`: an earlier write, fsync or cut failed; the WAL refuses every further write.
 * - `ERR_WAL_RECORD_TOO_LARGE`: a record's payload exceeds `MAX_RECORD_BYTES`.
 * - `ERR_WAL_NOT_FOUND`: the directory holds no WAL, or not the segments a snapshot needs.
 * - `ERR_WAL_QUEUE_FULL`: accepted-but-unwritten saves would exceed `maxQueuedBytes`; retry after
 *   earlier saves resolve.
 * - `ERR_WAL_EXISTS`: `create` on a directory that already holds a WAL.
 * - `ERR_WAL_SNAP_CORRUPT`: a snapshot file's data does not match its checksum (or its trailer
 *   is damaged), found while streaming it (context: `name`, `reason`).
 */
export type WalErrorCode =
  | 'ERR_WAL_INVALID_OPTION' | 'ERR_WAL_INVALID_ARGUMENT' | 'ERR_WAL_CALL_ORDER'
  | 'ERR_WAL_CORRUPT' | 'ERR_WAL_TORN_TAIL' | 'ERR_WAL_UNSUPPORTED_VERSION' | 'ERR_WAL_LOCKED' | 'ERR_WAL_GAP'
  | 'ERR_WAL_SNAPSHOT_MISMATCH' | 'ERR_WAL_SNAPSHOT_NOT_FOUND' | 'ERR_WAL_METADATA_CONFLICT'
  | 'ERR_WAL_CLOSED' | 'ERR_WAL_FAILED' | 'ERR_WAL_RECORD_TOO_LARGE' | 'ERR_WAL_NOT_FOUND'
  | 'ERR_WAL_EXISTS' | 'ERR_WAL_QUEUE_FULL' | 'ERR_WAL_SNAP_CORRUPT'

/** The error class of every operating failure of this package. */
export class WalError extends StrataError {
  declare readonly code: WalErrorCode

  constructor(code: WalErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}

/**
 * Damage the format can prove: a record that must be intact is not. Carries the segment file
 * name and the byte offset of the bad frame.
 */
export class WalCorruptError extends WalError {
  readonly segment: string
  readonly offset: number

  constructor(segment: string, offset: number, reason: string) {
    super('ERR_WAL_CORRUPT', `wal: corrupt record in ${segment} at offset ${offset}: ${reason}`, { segment, offset, reason })
    this.segment = segment
    this.offset = offset
  }
}

/** The last segment ends in a torn (partly written, never acknowledged) record. */
export class WalTornTailError extends WalError {
  readonly segment: string
  readonly offset: number

  constructor(segment: string, offset: number, reason: string) {
    super('ERR_WAL_TORN_TAIL', `wal: torn write at the end of ${segment} at offset ${offset} (${reason}); run repair()`, { segment, offset, reason })
    this.segment = segment
    this.offset = offset
  }
}

/** A bad argument to a call (message: what was wrong and what is expected). */
export function invalidArgument(message: string, context?: Record<string, unknown>): WalError {
  return new WalError('ERR_WAL_INVALID_ARGUMENT', `wal: ${message}`, context)
}

/** A bad option to `open`, `create`, `Snapshotter.open` or a tool. */
export function invalidOption(option: string, message: string): WalError {
  return new WalError('ERR_WAL_INVALID_OPTION', `wal: option ${option} ${message}`, { option })
}

/** A call the object's current state does not allow. */
export function callOrder(message: string): WalError {
  return new WalError('ERR_WAL_CALL_ORDER', `wal: ${message}`)
}
