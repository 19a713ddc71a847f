import { RaftConfigError } from './errors.js'
import { ReadOnlyOption } from './read-only.js'
import type { Storage } from './storage.js'

export const StateType = { Follower: 0, Candidate: 1, Leader: 2, PreCandidate: 3 } as const
export type StateType = (typeof StateType)[keyof typeof StateType]
const stateNames = ['StateFollower', 'StateCandidate', 'StateLeader', 'StatePreCandidate'] as const
export function stateTypeName(s: StateType): string {
  return stateNames[s]
}

export interface RaftConfig {
  /** This node's id: non-zero, never reused. */
  readonly id: number
  /** The persisted log and state, read-only to raft. */
  readonly storage: Storage
  /** Returns a uniform u32 (e.g. an Rng's `nextU32`), used only for election-timeout jitter. */
  readonly random: () => number
  /** Ticks without hearing from a leader before campaigning (randomized in [n, 2n-1]). Default 10. */
  readonly electionTick?: number
  /** Ticks between leader heartbeats; must be < electionTick. Default 1. */
  readonly heartbeatTick?: number
  /** Last index the application applied before a restart; entries ≤ it are not re-delivered. Default 0. */
  readonly applied?: number
  /** Bytes of entries per MsgApp (encoded size; one entry at least). Default 1 MiB. */
  readonly maxSizePerMsg?: number
  /** Bytes of committed entries per Ready. Default: maxSizePerMsg. */
  readonly maxCommittedSizePerReady?: number
  /** Payload bytes of uncommitted entries a leader accepts; 0 means unlimited. Default 0. */
  readonly maxUncommittedEntriesSize?: number
  /** In-flight MsgApps per follower in Replicate state. Default 256. */
  readonly maxInflightMsgs?: number
  /** In-flight bytes per follower; 0 means unlimited. Default 0. */
  readonly maxInflightBytes?: number
  /** Leader steps down without a quorum of recently active voters per election timeout. Default false. */
  readonly checkQuorum?: boolean
  /** Run a pre-vote round before bumping the term (thesis §9.6). Default false. */
  readonly preVote?: boolean
  /** How ReadIndex confirms leadership; LeaseBased requires checkQuorum. Default Safe. */
  readonly readOnlyOption?: ReadOnlyOption
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  readonly disableProposalForwarding?: boolean
  /** Skip the leader's propose-time checks on conf changes. Default false. */
  readonly disableConfChangeValidation?: boolean
  /** A leader removed from (or demoted in) the configuration steps down when applying it. Default false. */
  readonly stepDownOnRemoval?: boolean
  /** Receives one line per notable event (role changes, votes, snapshots, config switches). Default: none. */
  readonly logger?: (line: string) => void
}

export interface SoftState {
  readonly lead: number
  readonly raftState: StateType
}

/** Refuses a config etcd would refuse, with ERR_RAFT_CONFIG. */
export function validateConfig(c: RaftConfig): void {
  const fail = (reason: string): never => { throw new RaftConfigError(reason) }
  if (!Number.isSafeInteger(c.id) || c.id <= 0) fail('cannot use none as id')
  const et = c.electionTick ?? 10
  const ht = c.heartbeatTick ?? 1
  if (!Number.isSafeInteger(ht) || ht <= 0) fail('heartbeat tick must be greater than 0')
  if (!Number.isSafeInteger(et) || et <= ht) fail('election tick must be greater than heartbeat tick')
  if ((c.maxInflightMsgs ?? 256) <= 0) fail('max inflight messages must be greater than 0')
  const maxMsg = c.maxSizePerMsg ?? 1024 * 1024
  if ((c.maxInflightBytes ?? 0) !== 0 && (c.maxInflightBytes ?? 0) < maxMsg) fail('max inflight bytes must be >= max message size')
  if (c.readOnlyOption === ReadOnlyOption.LeaseBased && c.checkQuorum !== true) fail('CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased')
  if (typeof c.random !== 'function') fail('random must be a function returning a u32')
}
