// `@strata/raft/internal`: the engine behind RawNode, for this package's tests, benchmarks and
// tools. No promise of stability: anything here may change in any release. Drivers use the
// main entry (./index.ts).
export { rawNodeRaft } from './raw-node.js'
export { Raft } from './raft.js'
export { RAFT_PLANTED_BUGS, resolveConfig } from './raft-config.js'
export type { ResolvedRaftConfig } from './raft-config.js'
export { confChangeRefusal, leaderPropose } from './raft-leader.js'
export type { ConfChangeRefusal } from './raft-leader.js'
export { RaftLog } from './log.js'
export { Unstable } from './log-unstable.js'
export { JointConfig } from './quorum/joint.js'
export { MajorityConfig } from './quorum/majority.js'
export type { AckedIndexer } from './quorum/quorum.js'
export { maxIndex, VoteResult } from './quorum/quorum.js'
export { ReadOnly } from './read-only.js'
export { Inflights } from './tracker/inflights.js'
export { Progress } from './tracker/progress.js'
export { describeConfig, emptyTrackerConfig, ProgressTracker } from './tracker/tracker.js'
export type { TrackerConfig } from './tracker/tracker.js'
export { Changer } from './confchange/confchange.js'
export type { ConfigAndProgress } from './confchange/confchange.js'
export { restoreConfState } from './confchange/restore.js'
export {
  confChangeAsV2, emptyConfState, emptyHardState, emptySnapshot, enterJoint, entriesSize, entryHeaderSize, entrySize,
  hardStateEqual, isEmptyHardState, isEmptySnap, isKnownMessageType, isLocalMsg, isResponseMsg, leaveJoint, limitSize,
  message, payloadSize, payloadsSize,
} from './types.js'
export { checkConfChange, checkMessage, checkNodeId } from './validate.js'
