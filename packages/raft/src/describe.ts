import { decodeConfChange, decodeConfChangeV2 } from './codec.js'
import type { ConfChangeSingle, ConfChangeV2, ConfState, Entry, HardState, Message, Snapshot } from './types.js'
import { ConfChangeType, EntryType, messageTypeName } from './types.js'

/**
 * Compact one-line descriptions of raft data for logs and data-driven test output, in the
 * spirit of etcd's DescribeMessage / DescribeEntry (the wording is our own).
 */

const decoder = new TextDecoder()
const changeLetters: Record<number, string> = {
  [ConfChangeType.AddNode]: 'v', [ConfChangeType.RemoveNode]: 'r', [ConfChangeType.UpdateNode]: 'u', [ConfChangeType.AddLearnerNode]: 'l',
}

export function describeChanges(changes: readonly ConfChangeSingle[]): string {
  return changes.map((c) => `${changeLetters[c.type]}${c.nodeId}`).join(' ')
}

function describeConfChangeV2(cc: ConfChangeV2): string {
  const body = describeChanges(cc.changes)
  const t = cc.transition === 1 ? ' (implicit)' : cc.transition === 2 ? ' (explicit)' : ''
  return body === '' ? `leave-joint${t}` : `${body}${t}`
}

function text(b: Uint8Array): string {
  const s = decoder.decode(b)
  return /^[\x20-\x7e]*$/.test(s) ? JSON.stringify(s) : `0x${Buffer.from(b).toString('hex')}`
}

export function describeEntry(e: Entry): string {
  const id = `${e.term}/${e.index}`
  switch (e.type) {
    case EntryType.ConfChange: {
      const cc = decodeConfChange(e.data)
      return `${id} EntryConfChange ${changeLetters[cc.type]}${cc.nodeId}`
    }
    case EntryType.ConfChangeV2:
      return `${id} EntryConfChangeV2 ${describeConfChangeV2(decodeConfChangeV2(e.data))}`
    default:
      return e.data.length === 0 ? `${id} EntryNormal ""` : `${id} EntryNormal ${text(e.data)}`
  }
}

export function describeEntries(ents: readonly Entry[]): string {
  return ents.map(describeEntry).join(', ')
}

export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${hs.vote} Commit:${hs.commit}`
}

export function describeConfState(cs: ConfState): string {
  let s = `Voters:[${cs.voters.join(' ')}] VotersOutgoing:[${cs.votersOutgoing.join(' ')}] Learners:[${cs.learners.join(' ')}] LearnersNext:[${cs.learnersNext.join(' ')}]`
  if (cs.autoLeave) s += ' AutoLeave:true'
  return s
}

export function describeSnapshot(s: Snapshot): string {
  return `Index:${s.metadata.index} Term:${s.metadata.term} ConfState:${describeConfState(s.metadata.confState)}`
}

export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${messageTypeName(m.type)} Term:${m.term} Log:${m.logTerm}/${m.index}`
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`
  if (m.commit !== 0) s += ` Commit:${m.commit}`
  if (m.entries.length > 0) s += ` Entries:[${describeEntries(m.entries)}]`
  if (m.snapshot !== undefined) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`
  if (m.context !== undefined && m.context.length > 0) s += ` Context:${text(m.context)}`
  return s
}
