import { RaftInvalidArgumentError } from './errors.js'
import type { ConfChange, ConfChangeV2, Entry, Message, Snapshot } from './types.js'
import { isKnownMessageType, MessageType } from './types.js'

/**
 * Checks of what a driver hands to RawNode and MemoryStorage: numbers that must be ids or
 * indexes, bytes that must be Uint8Arrays, enumerations that must hold a known value. Each
 * failure is a RaftInvalidArgumentError (ERR_RAFT_INVALID_ARGUMENT) naming the argument. They
 * run before raft's state is touched, so a refused call changes nothing.
 */

function fail(argument: string, reason: string): never {
  throw new RaftInvalidArgumentError(argument, reason)
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (v === null || typeof v !== 'object') return String(v)
  return Array.isArray(v) ? 'an array' : v instanceof Uint8Array ? 'a Uint8Array' : 'an object'
}

/** A node id: a positive safe integer (0 is None). */
export function checkNodeId(argument: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(argument, `must be a node id (a positive safe integer), got ${show(v)}`)
}

/** An index, term or count: a non-negative safe integer. */
export function checkIndex(argument: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(argument, `must be a non-negative safe integer, got ${show(v)}`)
}

export function checkBytes(argument: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) fail(argument, `must be a Uint8Array, got ${show(v)}`)
}

function checkObject(argument: string, v: unknown): asserts v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(argument, `must be an object, got ${show(v)}`)
}

function checkChangeType(argument: string, v: unknown): void {
  if (v !== 0 && v !== 1 && v !== 2 && v !== 3) {
    fail(argument, `must be a ConfChangeType (AddNode 0, RemoveNode 1, UpdateNode 2, AddLearnerNode 3), got ${show(v)}`)
  }
}

/** A ConfChange (V1: `type`, `nodeId`, `context`) or a ConfChangeV2 (`transition`, `changes`, `context`). */
export function checkConfChange(argument: string, cc: unknown): asserts cc is ConfChange | ConfChangeV2 {
  checkObject(argument, cc)
  if ('changes' in cc) {
    const t = cc.transition
    if (t !== 0 && t !== 1 && t !== 2) fail(`${argument}.transition`, `must be a ConfChangeTransition (Auto 0, JointImplicit 1, JointExplicit 2), got ${show(t)}`)
    if (!Array.isArray(cc.changes)) fail(`${argument}.changes`, `must be an array of { type, nodeId }, got ${show(cc.changes)}`)
    cc.changes.forEach((c: unknown, i: number) => {
      checkObject(`${argument}.changes[${i}]`, c)
      checkChangeType(`${argument}.changes[${i}].type`, c.type)
      checkNodeId(`${argument}.changes[${i}].nodeId`, c.nodeId)
    })
  } else {
    checkChangeType(`${argument}.type`, cc.type)
    checkNodeId(`${argument}.nodeId`, cc.nodeId)
  }
  if (!(cc.context instanceof Uint8Array)) fail(`${argument}.context`, `must be a Uint8Array (new Uint8Array(0) for none), got ${show(cc.context)}`)
}

function checkEntry(argument: string, e: unknown): asserts e is Entry {
  checkObject(argument, e)
  checkIndex(`${argument}.term`, e.term)
  checkIndex(`${argument}.index`, e.index)
  if (e.type !== 0 && e.type !== 1 && e.type !== 2) fail(`${argument}.type`, `must be an EntryType (Normal 0, ConfChange 1, ConfChangeV2 2), got ${show(e.type)}`)
  checkBytes(`${argument}.data`, e.data)
}

export function checkSnapshot(argument: string, s: unknown): asserts s is Snapshot {
  checkObject(argument, s)
  checkBytes(`${argument}.data`, s.data)
  const meta = s.metadata
  checkObject(`${argument}.metadata`, meta)
  checkIndex(`${argument}.metadata.index`, meta.index)
  checkIndex(`${argument}.metadata.term`, meta.term)
  const cs = meta.confState
  checkObject(`${argument}.metadata.confState`, cs)
  for (const k of ['voters', 'learners', 'votersOutgoing', 'learnersNext'] as const) {
    const ids = cs[k]
    if (!Array.isArray(ids)) fail(`${argument}.metadata.confState.${k}`, `must be an array of node ids, got ${show(ids)}`)
    ids.forEach((id: unknown, i: number) => checkNodeId(`${argument}.metadata.confState.${k}[${i}]`, id))
  }
  if (typeof cs.autoLeave !== 'boolean') fail(`${argument}.metadata.confState.autoLeave`, `must be a boolean, got ${show(cs.autoLeave)}`)
}

const isIndex = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** The valid path of checkEntry without building any label: it runs for every entry of every append. */
function entryOk(e: unknown): boolean {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return false
  const x = e as Record<string, unknown>
  return isIndex(x.term) && isIndex(x.index) && (x.type === 0 || x.type === 1 || x.type === 2) && x.data instanceof Uint8Array
}

export function checkEntries(argument: string, ents: unknown): asserts ents is readonly Entry[] {
  if (!Array.isArray(ents)) fail(argument, `must be an array of entries, got ${show(ents)}`)
  // Labels are built only for an entry that fails (it then throws with the same message).
  for (let i = 0; i < ents.length; i++) if (!entryOk(ents[i])) checkEntry(`${argument}[${i}]`, ents[i])
}

/**
 * A message from the network, as `decodeMessage` would produce it: a known type, a sender id,
 * safe integers, entries and snapshot of the right shape, and what its type needs to be handled.
 * It runs on every stepped message: a valid one without a snapshot passes `messageOk` (no
 * label, no array, no closure); anything else takes `explainMessage`, which throws naming the
 * first field that is wrong (a MsgSnap's snapshot is checked there too).
 */
export function checkMessage(argument: string, m: unknown): asserts m is Message {
  if (!messageOk(m)) explainMessage(argument, m)
}

/** True iff explainMessage accepts `m` and `m` carries no snapshot; builds nothing. */
function messageOk(m: unknown): boolean {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return false
  const x = m as Record<string, unknown>
  const type = x.type
  if (typeof type !== 'number' || !isKnownMessageType(type)) return false
  const from = x.from
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from <= 0) return false
  if (!isIndex(x.to) || !isIndex(x.term) || !isIndex(x.logTerm) || !isIndex(x.index) || !isIndex(x.commit) || !isIndex(x.rejectHint)) return false
  if (typeof x.reject !== 'boolean') return false
  const ents = x.entries
  if (!Array.isArray(ents)) return false
  for (let i = 0; i < ents.length; i++) if (!entryOk(ents[i])) return false
  if (x.snapshot !== undefined || type === MessageType.MsgSnap) return false
  if (x.context !== undefined && !(x.context instanceof Uint8Array)) return false
  if (type === MessageType.MsgProp && ents.length === 0) return false
  if (type === MessageType.MsgReadIndex && ents.length !== 1) return false
  return true
}

/** checkMessage's path for a message messageOk refused: throws for the first wrong field, by name. */
function explainMessage(argument: string, m: unknown): asserts m is Message {
  checkObject(argument, m)
  if (typeof m.type !== 'number' || !isKnownMessageType(m.type)) fail(`${argument}.type`, `must be a MessageType, got ${show(m.type)}`)
  checkNodeId(`${argument}.from`, m.from)
  for (const k of ['to', 'term', 'logTerm', 'index', 'commit', 'rejectHint'] as const) checkIndex(`${argument}.${k}`, m[k])
  if (typeof m.reject !== 'boolean') fail(`${argument}.reject`, `must be a boolean, got ${show(m.reject)}`)
  checkEntries(`${argument}.entries`, m.entries)
  if (m.snapshot !== undefined) checkSnapshot(`${argument}.snapshot`, m.snapshot)
  if (m.context !== undefined) checkBytes(`${argument}.context`, m.context)
  if (m.type === MessageType.MsgSnap && m.snapshot === undefined) fail(`${argument}.snapshot`, 'a MsgSnap must carry a snapshot')
  if (m.type === MessageType.MsgProp && m.entries.length === 0) fail(`${argument}.entries`, 'a MsgProp must carry at least one entry')
  if ((m.type === MessageType.MsgReadIndex) && m.entries.length !== 1) fail(`${argument}.entries`, 'a MsgReadIndex carries exactly one entry (the request context)')
}
