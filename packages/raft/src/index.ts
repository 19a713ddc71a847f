// The public API of @strata/raft: what a driver needs, as listed in the README's API table.
// Engine internals (the Raft state machine, log, tracker, quorum, changer) are exported from
// ./internal.ts (`@strata/raft/internal`) with no promise of stability.
export { RawNode, SnapshotStatus } from './raw-node.js'
export type { ProgressStatus, Ready, Status } from './raw-node.js'
export { StateType, stateTypeName } from './raft-config.js'
export type { RaftConfig, SoftState } from './raft-config.js'
export { MemoryStorage } from './storage.js'
export type { Storage } from './storage.js'
export { ReadOnlyOption } from './read-only.js'
export type { ReadState } from './read-only.js'
export { ProgressState, progressStateName } from './tracker/progress.js'
export type {
  ConfChange, ConfChangeSingle, ConfChangeV2, ConfState, Entry, HardState, Message, Snapshot, SnapshotMetadata,
} from './types.js'
export { ConfChangeTransition, ConfChangeType, EntryType, MessageType, messageTypeName, None } from './types.js'
export {
  decodeConfChange, decodeConfChangeV2, decodeConfState, decodeEntry, decodeHardState, decodeMessage, decodeSnapshot,
  decodeSnapshotMetadata, encodeConfChange, encodeConfChangeV2, encodeConfState, encodeEntry, encodeHardState,
  encodeMessage, encodeSnapshot, encodeSnapshotMetadata, maxDecodedBytes, maxDecodedItems,
} from './codec.js'
export {
  CompactedError, ConfChangeError, ProposalDroppedError, RaftCodecError, RaftError, RaftInvalidArgumentError,
  RaftInvalidOptionError, SnapOutOfDateError, SnapshotTemporarilyUnavailableError, StepLocalMsgError, StepPeerNotFoundError,
  UnavailableError,
} from './errors.js'
export type { ProposalDroppedReason, RaftErrorCode } from './errors.js'
export {
  describeChanges, describeConfState, describeEntries, describeEntry, describeHardState, describeMessage, describeSnapshot,
} from './describe.js'
