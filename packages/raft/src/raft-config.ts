import type { Rng } from '@strata/seams'
import { cryptoRng } from '@strata/seams'
import { RaftInvalidOptionError } from './errors.js'
import { ReadOnlyOption } from './read-only.js'
import type { Storage } from './storage.js'

export const StateType = { Follower: 0, Candidate: 1, Leader: 2, PreCandidate: 3 } as const
export type StateType = (typeof StateType)[keyof typeof StateType]
const stateNames = ['StateFollower', 'StateCandidate', 'StateLeader', 'StatePreCandidate'] as const
/** `StateLeader` for StateType.Leader, ... (etcd's names, for logs). */
export function stateTypeName(s: StateType): string {
  return stateNames[s] ?? `State?${String(s)}`
}

/**
 * The options of `new RawNode(config)`. Byte quantities end in `Bytes`; ticks are raft's logical
 * time unit (the driver decides how long a tick is). Each name is etcd's `Config` field with its
 * unit appended where it has one.
 */
export interface RaftConfig {
  /** This node's id: a positive safe integer, never reused. Required. */
  readonly id: number
  /** The persisted log and state, read-only to raft. Required. */
  readonly storage: Storage
  /** Randomness for election-timeout jitter only. Default: `cryptoRng()` from @strata/seams. */
  readonly rng?: Rng
  /** Ticks without hearing from a leader before campaigning (randomized per term in [n, 2n − 1]); > heartbeatTick. Default 10. */
  readonly electionTick?: number
  /** Ticks between leader heartbeats; ≥ 1 and < electionTick. Default 1. */
  readonly heartbeatTick?: number
  /** Last index the application applied before a restart (an index ≥ 0); entries ≤ it are not re-delivered. Default 0. */
  readonly applied?: number
  /** Encoded entry bytes per MsgApp (one entry at least, whatever its size); ≥ 0. Default 1 MiB. */
  readonly maxSizePerMsgBytes?: number
  /** Encoded committed-entry bytes per Ready (one entry at least); ≥ 0. Default: maxSizePerMsgBytes. */
  readonly maxCommittedSizePerReadyBytes?: number
  /** Payload bytes of uncommitted entries a leader accepts; 0 means unlimited. Default 0. */
  readonly maxUncommittedEntriesSizeBytes?: number
  /** In-flight MsgApps per follower in Replicate state (a count, ≥ 1). Default 256. */
  readonly maxInflightMsgs?: number
  /** In-flight bytes per follower; 0 means unlimited, otherwise ≥ maxSizePerMsgBytes. Default 0. */
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

/** A RaftConfig with every default filled in. */
export interface ResolvedRaftConfig {
  readonly id: number
  readonly storage: Storage
  readonly rng: Rng
  readonly electionTick: number
  readonly heartbeatTick: number
  readonly applied: number
  readonly maxSizePerMsgBytes: number
  readonly maxCommittedSizePerReadyBytes: number
  readonly maxUncommittedEntriesSizeBytes: number
  readonly maxInflightMsgs: number
  readonly maxInflightBytes: number
  readonly checkQuorum: boolean
  readonly preVote: boolean
  readonly readOnlyOption: ReadOnlyOption
  readonly disableProposalForwarding: boolean
  readonly disableConfChangeValidation: boolean
  readonly stepDownOnRemoval: boolean
  readonly logger: ((line: string) => void) | undefined
}

export interface SoftState {
  /** The leader this node knows of, or None (0). */
  readonly lead: number
  readonly raftState: StateType
}

const numberOptions = [
  'electionTick', 'heartbeatTick', 'applied', 'maxSizePerMsgBytes', 'maxCommittedSizePerReadyBytes',
  'maxUncommittedEntriesSizeBytes', 'maxInflightMsgs', 'maxInflightBytes',
] as const
const booleanOptions = ['checkQuorum', 'preVote', 'disableProposalForwarding', 'disableConfChangeValidation', 'stepDownOnRemoval'] as const
const otherOptions = ['id', 'storage', 'rng', 'readOnlyOption', 'logger'] as const
const knownOptions = new Set<string>([...numberOptions, ...booleanOptions, ...otherOptions])
/** Names of earlier releases, refused with a pointer to the new name rather than silently ignored. */
const renamedOptions: Readonly<Record<string, string>> = {
  random: 'rng (an Rng with nextU32(), e.g. cryptoRng() from @strata/seams)',
  maxSizePerMsg: 'maxSizePerMsgBytes',
  maxCommittedSizePerReady: 'maxCommittedSizePerReadyBytes',
  maxUncommittedEntriesSize: 'maxUncommittedEntriesSizeBytes',
}
const storageMethods = ['initialState', 'entries', 'term', 'lastIndex', 'firstIndex', 'snapshot'] as const

/**
 * Checks every option's type and bounds (and refuses unknown names) and fills in the defaults.
 * Throws RaftInvalidOptionError (ERR_RAFT_INVALID_OPTION).
 */
export function resolveConfig(c: RaftConfig): ResolvedRaftConfig {
  const fail = (option: string, reason: string): never => { throw new RaftInvalidOptionError(option, reason) }
  if (typeof c !== 'object' || c === null) fail('config', `expected an object with at least id and storage, got ${c === null ? 'null' : typeof c}`)
  for (const k of Object.keys(c)) {
    const renamed = renamedOptions[k]
    if (renamed !== undefined) fail(k, `renamed; pass ${renamed}`)
    if (!knownOptions.has(k)) fail(k, 'unknown option; see RaftConfig for the names')
  }
  if (!Number.isSafeInteger(c.id) || c.id <= 0) fail('id', `must be a positive safe integer (0 is None), got ${String(c.id)}`)
  const st = c.storage as unknown as Record<string, unknown> | undefined
  if (typeof st !== 'object' || st === null || storageMethods.some((m) => typeof st[m] !== 'function')) {
    fail('storage', `must implement Storage (${storageMethods.join(', ')}), e.g. a MemoryStorage`)
  }
  if (c.rng !== undefined && (typeof c.rng !== 'object' || c.rng === null || typeof c.rng.nextU32 !== 'function')) fail('rng', 'must be an Rng: an object with nextU32()')
  for (const k of numberOptions) {
    const v = c[k]
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) fail(k, `must be a non-negative safe integer, got ${String(v)}`)
  }
  for (const k of booleanOptions) {
    const v = c[k]
    if (v !== undefined && typeof v !== 'boolean') fail(k, `must be a boolean, got ${typeof v}`)
  }
  if (c.logger !== undefined && typeof c.logger !== 'function') fail('logger', 'must be a function taking one line of text')
  const ro = c.readOnlyOption ?? ReadOnlyOption.Safe
  if (ro !== ReadOnlyOption.Safe && ro !== ReadOnlyOption.LeaseBased) fail('readOnlyOption', `must be ReadOnlyOption.Safe or ReadOnlyOption.LeaseBased, got ${String(ro)}`)
  const heartbeatTick = c.heartbeatTick ?? 1
  const electionTick = c.electionTick ?? 10
  if (heartbeatTick <= 0) fail('heartbeatTick', 'must be at least 1 tick')
  if (electionTick <= heartbeatTick) fail('electionTick', `must be greater than heartbeatTick (${heartbeatTick}); etcd suggests 10 × heartbeatTick`)
  const maxInflightMsgs = c.maxInflightMsgs ?? 256
  if (maxInflightMsgs <= 0) fail('maxInflightMsgs', 'must be at least 1')
  const maxSizePerMsgBytes = c.maxSizePerMsgBytes ?? 1024 * 1024
  const maxInflightBytes = c.maxInflightBytes ?? 0
  if (maxInflightBytes !== 0 && maxInflightBytes < maxSizePerMsgBytes) fail('maxInflightBytes', `must be 0 (unlimited) or at least maxSizePerMsgBytes (${maxSizePerMsgBytes})`)
  const checkQuorum = c.checkQuorum ?? false
  if (ro === ReadOnlyOption.LeaseBased && !checkQuorum) fail('readOnlyOption', 'LeaseBased relies on the leader lease: set checkQuorum: true too')
  return {
    id: c.id, storage: c.storage, rng: c.rng ?? cryptoRng(), electionTick, heartbeatTick, applied: c.applied ?? 0,
    maxSizePerMsgBytes, maxCommittedSizePerReadyBytes: c.maxCommittedSizePerReadyBytes ?? maxSizePerMsgBytes,
    maxUncommittedEntriesSizeBytes: c.maxUncommittedEntriesSizeBytes ?? 0, maxInflightMsgs, maxInflightBytes, checkQuorum,
    preVote: c.preVote ?? false, readOnlyOption: ro, disableProposalForwarding: c.disableProposalForwarding ?? false,
    disableConfChangeValidation: c.disableConfChangeValidation ?? false, stepDownOnRemoval: c.stepDownOnRemoval ?? false,
    logger: c.logger,
  }
}

/**
 * The config key (a symbol, so no user sets it by accident, and resolveConfig's option check
 * never sees it) of deliberate bugs for the cluster simulation: `{ commitPreviousTerm: true }`
 * commits an entry of an earlier term once a quorum holds it (Raft §5.4.2's Figure 8).
 * Exported only from `@strata/raft/internal`.
 */
export const RAFT_PLANTED_BUGS: unique symbol = Symbol.for('strata.raft.plantedBugs')
