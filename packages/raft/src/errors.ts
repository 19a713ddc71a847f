/**
 * Operating errors of the raft package. raft imports nothing from the repository, so it keeps a
 * base class of its own with the same shape as `StrataError` (a stable `code` and context), and
 * `hasCode` from @strata/seams recognises these too.
 *
 * Broken invariants are not RaftErrors: they are `assert` failures and are never caught.
 */
export class RaftError extends Error {
  readonly code: string
  readonly context: Readonly<Record<string, unknown>> | undefined

  constructor(code: string, message: string, context?: Record<string, unknown>) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.context = context
  }
}

/** The requested index precedes the first index storage still holds (it was compacted). */
export class CompactedError extends RaftError {
  constructor(index: number) {
    super('ERR_RAFT_COMPACTED', `requested index ${index} is unavailable due to compaction`, { index })
  }
}

/** The requested index is past the last index storage holds. */
export class UnavailableError extends RaftError {
  constructor(index: number) {
    super('ERR_RAFT_UNAVAILABLE', `requested entry at index ${index} is unavailable`, { index })
  }
}

/** A snapshot older than (or as old as) the one storage already holds. */
export class SnapOutOfDateError extends RaftError {
  constructor(index: number, current: number) {
    super('ERR_RAFT_SNAP_OUT_OF_DATE', `snapshot at index ${index} is out of date (storage has ${current})`, { index, current })
  }
}

/** Storage cannot produce a snapshot right now; raft retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super('ERR_RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE', 'snapshot is temporarily unavailable')
  }
}

/** A proposal (or read request) was dropped: no leader, forwarding disabled, transfer, limits. */
export class ProposalDroppedError extends RaftError {
  constructor(reason: string) {
    super('ERR_RAFT_PROPOSAL_DROPPED', `raft proposal dropped: ${reason}`, { reason })
  }
}

/** A local-only message type was handed to `RawNode.step` as if it came from the network. */
export class StepLocalMsgError extends RaftError {
  constructor(type: string) {
    super('ERR_RAFT_STEP_LOCAL_MSG', `cannot step raft local message ${type}`, { type })
  }
}

/** A response from a peer that is not in the configuration. */
export class StepPeerNotFoundError extends RaftError {
  constructor(from: number) {
    super('ERR_RAFT_STEP_PEER_NOT_FOUND', `cannot step a response from unknown peer ${from}`, { from })
  }
}

/** Bytes that do not decode as the structure asked for (truncated, trailing bytes, bad tag, >2^53). */
export class RaftCodecError extends RaftError {
  constructor(what: string, reason: string, offset: number) {
    super('ERR_RAFT_MALFORMED', `malformed ${what}: ${reason} at byte ${offset}`, { what, reason, offset })
  }
}

/** A configuration change that the changer refuses (etcd's confchange errors). */
export class ConfChangeError extends RaftError {
  constructor(reason: string) {
    super('ERR_RAFT_CONF_CHANGE', reason, { reason })
  }
}

/** Invalid `RaftConfig`. */
export class RaftConfigError extends RaftError {
  constructor(reason: string) {
    super('ERR_RAFT_CONFIG', `invalid raft config: ${reason}`, { reason })
  }
}
