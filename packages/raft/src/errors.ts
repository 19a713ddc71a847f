import { StrataError } from '@strata/seams'

/**
 * Operating errors of the raft package: every error raft throws on purpose is a `RaftError`, a
 * `StrataError` with a stable `ERR_RAFT_*` code and a context object. Callers branch on `code`,
 * never on the message.
 *
 * Broken invariants are not RaftErrors: they are `assert` failures and are never caught.
 */
export type RaftErrorCode =
  | 'ERR_RAFT_COMPACTED' | 'ERR_RAFT_UNAVAILABLE' | 'ERR_RAFT_SNAP_OUT_OF_DATE'
  | 'ERR_RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE' | 'ERR_RAFT_PROPOSAL_DROPPED' | 'ERR_RAFT_STEP_LOCAL_MSG'
  | 'ERR_RAFT_STEP_PEER_NOT_FOUND' | 'ERR_RAFT_MALFORMED' | 'ERR_RAFT_CONF_CHANGE'
  | 'ERR_RAFT_INVALID_OPTION' | 'ERR_RAFT_INVALID_ARGUMENT'

/** The base class of every operating failure of this package. */
export class RaftError extends StrataError {
  declare readonly code: RaftErrorCode

  constructor(code: RaftErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}

/** The requested index precedes the first index storage still holds (it was compacted). */
export class CompactedError extends RaftError {
  constructor(index: number) {
    super('ERR_RAFT_COMPACTED', `raft: index ${index} was compacted away; read from a newer index or from the snapshot`, { index })
  }
}

/** The requested index is past the last index storage holds. */
export class UnavailableError extends RaftError {
  constructor(index: number) {
    super('ERR_RAFT_UNAVAILABLE', `raft: no entry at index ${index} yet; ask for an index up to lastIndex()`, { index })
  }
}

/** A snapshot older than (or as old as) the one storage already holds. */
export class SnapOutOfDateError extends RaftError {
  constructor(index: number, current: number) {
    super('ERR_RAFT_SNAP_OUT_OF_DATE', `raft: snapshot at index ${index} is not newer than the stored one at ${current}; drop it`, { index, current })
  }
}

/** Storage cannot produce a snapshot right now; raft retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super('ERR_RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE', 'raft: snapshot is temporarily unavailable; raft asks again later')
  }
}

/**
 * Why a proposal (or read request) was refused, in `context.reason`:
 * - `no-leader`: no leader is known (follower or candidate); retry once one is elected.
 * - `forwarding-disabled`: a follower with `disableProposalForwarding`; propose on the leader.
 * - `leader-transfer`: the leader is handing leadership over; retry on the new leader.
 * - `leader-removed`: the leader is no longer in the configuration; retry on the new leader.
 * - `uncommitted-limit`: `maxUncommittedEntriesSizeBytes` is reached; retry once entries commit.
 * - `conf-change-pending`: a conf change is appended but not yet applied (`pendingIndex`,
 *   `applied`); retry after it is applied.
 * - `conf-change-in-joint`: the configuration is joint and the change is not a leave-joint;
 *   leave the joint configuration first.
 * - `conf-change-not-joint`: a leave-joint change while the configuration is not joint.
 */
export type ProposalDroppedReason =
  | 'no-leader' | 'forwarding-disabled' | 'leader-transfer' | 'leader-removed' | 'uncommitted-limit'
  | 'conf-change-pending' | 'conf-change-in-joint' | 'conf-change-not-joint'

/** A proposal (or read request) was dropped; `context.reason` says why (see ProposalDroppedReason). */
export class ProposalDroppedError extends RaftError {
  declare readonly context: Readonly<{ reason: ProposalDroppedReason } & Record<string, unknown>>

  constructor(reason: ProposalDroppedReason, message: string, context: Record<string, unknown> = {}) {
    super('ERR_RAFT_PROPOSAL_DROPPED', `raft: proposal dropped: ${message}`, { reason, ...context })
  }
}

/** A local-only message type was handed to `RawNode.step` as if it came from the network. */
export class StepLocalMsgError extends RaftError {
  constructor(type: string) {
    super('ERR_RAFT_STEP_LOCAL_MSG', `raft: ${type} is a local message and cannot arrive from a peer; use the RawNode method for it`, { type })
  }
}

/** A response from a peer that is not in the configuration. */
export class StepPeerNotFoundError extends RaftError {
  constructor(from: number) {
    super('ERR_RAFT_STEP_PEER_NOT_FOUND', `raft: response from ${from}, which is not in the configuration; drop it`, { from })
  }
}

/** Bytes that do not decode as the structure asked for (truncated, trailing bytes, bad tag, >2^53). */
export class RaftCodecError extends RaftError {
  constructor(what: string, reason: string, offset: number) {
    super('ERR_RAFT_MALFORMED', `raft: malformed ${what}: ${reason} at byte ${offset}`, { what, reason, offset })
  }
}

/** A configuration change that the changer refuses (etcd's confchange errors). */
export class ConfChangeError extends RaftError {
  constructor(reason: string) {
    super('ERR_RAFT_CONF_CHANGE', `raft: cannot apply conf change: ${reason}`, { reason })
  }
}

/** A bad option to `new RawNode(config)`: out of bounds, of the wrong type, or unknown. */
export class RaftInvalidOptionError extends RaftError {
  constructor(option: string, reason: string) {
    super('ERR_RAFT_INVALID_OPTION', `raft: invalid option ${option}: ${reason}`, { option, reason })
  }
}

/** A bad argument to a call: a fraction or negative number where an id is due, bytes that are not a Uint8Array. */
export class RaftInvalidArgumentError extends RaftError {
  constructor(argument: string, reason: string, context: Record<string, unknown> = {}) {
    super('ERR_RAFT_INVALID_ARGUMENT', `raft: invalid argument ${argument}: ${reason}`, { argument, reason, ...context })
  }
}
