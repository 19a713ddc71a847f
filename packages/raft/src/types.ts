/**
 * The data raft exchanges with its driver: entries, hard state, conf state, snapshots and
 * messages. Plain readonly objects; numeric fields are safe integers (indexes and terms are
 * u64 on the wire and refused above 2^53 - 1 by the codec).
 */

/** No node / no leader. Node ids are non-zero and never reused. */
export const None = 0

export const EntryType = { Normal: 0, ConfChange: 1, ConfChangeV2: 2 } as const
export type EntryType = (typeof EntryType)[keyof typeof EntryType]

export interface Entry {
  readonly term: number
  readonly index: number
  readonly type: EntryType
  /** The payload; for conf-change entries the encoded ConfChange / ConfChangeV2. */
  readonly data: Uint8Array
}

export interface HardState {
  readonly term: number
  /** The candidate voted for in `term`, or None. */
  readonly vote: number
  readonly commit: number
}

export interface ConfState {
  readonly voters: readonly number[]
  readonly learners: readonly number[]
  /** Voters of the outgoing configuration while joint; empty otherwise. */
  readonly votersOutgoing: readonly number[]
  /** Voters being demoted to learners, who become learners when the joint config is left. */
  readonly learnersNext: readonly number[]
  readonly autoLeave: boolean
}

export interface SnapshotMetadata {
  readonly confState: ConfState
  readonly index: number
  readonly term: number
}

export interface Snapshot {
  readonly data: Uint8Array
  readonly metadata: SnapshotMetadata
}

export const MessageType = {
  MsgHup: 0, MsgBeat: 1, MsgProp: 2, MsgApp: 3, MsgAppResp: 4, MsgVote: 5, MsgVoteResp: 6,
  MsgSnap: 7, MsgHeartbeat: 8, MsgHeartbeatResp: 9, MsgUnreachable: 10, MsgSnapStatus: 11,
  MsgCheckQuorum: 12, MsgTransferLeader: 13, MsgTimeoutNow: 14, MsgReadIndex: 15,
  MsgReadIndexResp: 16, MsgPreVote: 17, MsgPreVoteResp: 18, MsgForgetLeader: 23,
} as const
export type MessageType = (typeof MessageType)[keyof typeof MessageType]

const messageTypeNames = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]))

/** `MsgApp` for 3, ... ; `Msg?<n>` for unknown values. */
export function messageTypeName(t: number): string {
  return messageTypeNames.get(t) ?? `Msg?${t}`
}

/** True for the values of MessageType. */
export function isKnownMessageType(t: number): t is MessageType {
  return messageTypeNames.has(t)
}

/** True for the types that only the local node may step (never arrive from the network). */
export function isLocalMsg(t: MessageType): boolean {
  return t === MessageType.MsgHup || t === MessageType.MsgBeat || t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus || t === MessageType.MsgCheckQuorum
}

/** True for responses (the sender must be a known peer). */
export function isResponseMsg(t: MessageType): boolean {
  return t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp || t === MessageType.MsgHeartbeatResp ||
    t === MessageType.MsgUnreachable || t === MessageType.MsgPreVoteResp
}

/** The response type for a vote request type. */
export function voteRespMsgType(t: MessageType): MessageType {
  return t === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp
}

export interface Message {
  readonly type: MessageType
  readonly to: number
  readonly from: number
  readonly term: number
  readonly logTerm: number
  readonly index: number
  readonly entries: readonly Entry[]
  readonly commit: number
  readonly snapshot: Snapshot | undefined
  readonly reject: boolean
  readonly rejectHint: number
  /** Opaque bytes: read-index request contexts, heartbeat sequence numbers, campaign kind. */
  readonly context: Uint8Array | undefined
}

const noEntries: readonly Entry[] = Object.freeze([])

/** A Message with every field not given set to its zero value. */
export function message(m: Partial<Message> & { readonly type: MessageType }): Message {
  return {
    type: m.type, to: m.to ?? 0, from: m.from ?? 0, term: m.term ?? 0, logTerm: m.logTerm ?? 0,
    index: m.index ?? 0, entries: m.entries ?? noEntries, commit: m.commit ?? 0, snapshot: m.snapshot,
    reject: m.reject ?? false, rejectHint: m.rejectHint ?? 0, context: m.context,
  }
}

export const ConfChangeType = { AddNode: 0, RemoveNode: 1, UpdateNode: 2, AddLearnerNode: 3 } as const
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType]

/** How a ConfChangeV2 moves through joint consensus. */
export const ConfChangeTransition = { Auto: 0, JointImplicit: 1, JointExplicit: 2 } as const
export type ConfChangeTransition = (typeof ConfChangeTransition)[keyof typeof ConfChangeTransition]

export interface ConfChangeSingle {
  readonly type: ConfChangeType
  readonly nodeId: number
}

/** The V1 change: exactly one node changes. */
export interface ConfChange {
  readonly type: ConfChangeType
  readonly nodeId: number
  readonly context: Uint8Array
}

export interface ConfChangeV2 {
  readonly transition: ConfChangeTransition
  readonly changes: readonly ConfChangeSingle[]
  readonly context: Uint8Array
}

const emptyBytes = new Uint8Array(0)

/** A V1 change as the equivalent V2 change (Auto transition, one change). */
export function confChangeAsV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if ('changes' in cc) return cc
  return { transition: ConfChangeTransition.Auto, changes: [{ type: cc.type, nodeId: cc.nodeId }], context: cc.context }
}

/** An empty V2 change with the Auto transition means "leave the joint configuration". */
export function leaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.Auto && cc.changes.length === 0
}

/** Whether the change goes through a joint configuration, and if so whether it leaves it alone. */
export function enterJoint(cc: ConfChangeV2): { readonly autoLeave: boolean; readonly joint: boolean } {
  if (cc.transition === ConfChangeTransition.Auto && cc.changes.length <= 1) return { autoLeave: false, joint: false }
  return { autoLeave: cc.transition !== ConfChangeTransition.JointExplicit, joint: true }
}

export const emptyConfState: ConfState = Object.freeze({
  voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false,
})

export const emptySnapshot: Snapshot = Object.freeze({
  data: emptyBytes, metadata: Object.freeze({ confState: emptyConfState, index: 0, term: 0 }),
})

export const emptyHardState: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 })

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0
}

export function isEmptySnap(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

/** The encoded size of an entry's payload, the unit of every byte limit in raft. */
export function payloadSize(e: Entry): number {
  return e.data.length
}

export function payloadsSize(ents: readonly Entry[]): number {
  let s = 0
  for (const e of ents) s += e.data.length
  return s
}

/** Bytes of an entry's header in the codec (type u8, term u64, index u64, data length u32). */
export const entryHeaderSize = 21

/** The encoded size of an entry: the unit of `maxSizePerMsgBytes` and `maxCommittedSizePerReadyBytes`. */
export function entrySize(e: Entry): number {
  return entryHeaderSize + e.data.length
}

export function entriesSize(ents: readonly Entry[]): number {
  let s = 0
  for (const e of ents) s += entryHeaderSize + e.data.length
  return s
}

/**
 * The longest prefix of `ents` whose encoded size stays within `maxSize` bytes; always at least
 * one entry, so a single oversized entry still makes progress.
 */
export function limitSize(ents: readonly Entry[], maxSize: number): readonly Entry[] {
  if (ents.length === 0) return ents
  let size = entrySize(ents[0]!)
  let n = 1
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!)
    if (size > maxSize) break
  }
  return n === ents.length ? ents : ents.slice(0, n)
}
