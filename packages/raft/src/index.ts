export {
  decodeConfChange, decodeConfChangeV2, decodeConfState, decodeEntry, decodeHardState, decodeMessage, decodeSnapshot,
  decodeSnapshotMetadata, encodeConfChange, encodeConfChangeV2, encodeConfState, encodeEntry, encodeHardState,
  encodeMessage, encodeSnapshot, encodeSnapshotMetadata, maxDecodedBytes, maxDecodedItems,
} from './codec.js'
export {
  CompactedError, ConfChangeError, ProposalDroppedError, RaftCodecError, RaftError, RaftInvalidArgumentError, RaftInvalidOptionError,
  SnapOutOfDateError, SnapshotTemporarilyUnavailableError, StepLocalMsgError, StepPeerNotFoundError, UnavailableError,
} from './errors.js'
export { RaftLog } from './log.js'
export { Unstable } from './log-unstable.js'
export { JointConfig } from './quorum/joint.js'
export { MajorityConfig } from './quorum/majority.js'
export type { AckedIndexer } from './quorum/quorum.js'
export { maxIndex, VoteResult } from './quorum/quorum.js'
export type { RaftConfig, SoftState } from './raft.js'
export { Raft, StateType, stateTypeName } from './raft.js'
export type { ProgressStatus, Ready, Status } from './raw-node.js'
export { RawNode, SnapshotStatus } from './raw-node.js'
export type { ReadState } from './read-only.js'
export { ReadOnlyOption } from './read-only.js'
export type { Storage } from './storage.js'
export { MemoryStorage } from './storage.js'
export { Inflights } from './tracker/inflights.js'
export { Progress, ProgressState, progressStateName } from './tracker/progress.js'
export { describeConfig, ProgressTracker } from './tracker/tracker.js'
export type { TrackerConfig } from './tracker/tracker.js'
export { Changer } from './confchange/confchange.js'
export { restoreConfState } from './confchange/restore.js'
export type {
  ConfChange, ConfChangeSingle, ConfChangeV2, ConfState, Entry, HardState, Message, Snapshot, SnapshotMetadata,
} from './types.js'
export {
  confChangeAsV2, ConfChangeTransition, ConfChangeType, emptyConfState, emptyHardState, emptySnapshot, entriesSize,
  entrySize, EntryType, isEmptyHardState, isEmptySnap, limitSize, message, MessageType, messageTypeName, None,
  payloadsSize,
} from './types.js'
export {
  describeChanges, describeConfState, describeEntries, describeEntry, describeHardState, describeMessage, describeSnapshot,
} from './describe.js'
