import type { ConfState } from '@strata/raft'
import { getU64, setU64 } from './u64.js'
import { invalidArgument } from './errors.js'

/**
 * The binary form of a raft `ConfState`, shared by the WAL's snapshot record and the snapshot
 * file's metadata (FORMAT.md, "Conf state"): six little-endian u32 words — autoLeave (0 or 1),
 * the counts of voters, learners, outgoing voters and next learners, and a reserved zero — then
 * every node id as a u64, list after list in that order.
 */
export const CONF_STATE_FIXED_BYTES = 24

/**
 * Most node ids a conf state may hold, over its four lists: far above any real cluster, and it
 * keeps a snapshot record (8 bytes per id) well under the record size limit.
 */
export const MAX_CONF_STATE_IDS = 65_536

/** An empty configuration: what a new log's initial snapshot record {0, 0} carries. */
export const EMPTY_CONF_STATE: ConfState = Object.freeze({
  voters: Object.freeze([]), learners: Object.freeze([]), votersOutgoing: Object.freeze([]),
  learnersNext: Object.freeze([]), autoLeave: false,
})

const LISTS = ['voters', 'learners', 'votersOutgoing', 'learnersNext'] as const

/** Bytes the encoded conf state occupies. */
export function confStateBytes(cs: ConfState): number {
  return CONF_STATE_FIXED_BYTES + 8 * (cs.voters.length + cs.learners.length + cs.votersOutgoing.length + cs.learnersNext.length)
}

/** ERR_WAL_INVALID_ARGUMENT unless `cs` is a ConfState of node ids (safe integers ≥ 1). */
export function checkConfState(what: string, cs: unknown): asserts cs is ConfState {
  if (typeof cs !== 'object' || cs === null) throw invalidArgument(`${what} must be a ConfState object, got ${String(cs)}`)
  const c = cs as Record<string, unknown>
  if (typeof c['autoLeave'] !== 'boolean') throw invalidArgument(`${what}.autoLeave must be a boolean, got ${String(c['autoLeave'])}`)
  let total = 0
  for (const list of LISTS) {
    const ids = c[list]
    if (!Array.isArray(ids)) throw invalidArgument(`${what}.${list} must be an array of node ids`)
    for (const id of ids) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw invalidArgument(`${what}.${list} holds ${String(id)}; node ids are safe integers >= 1`)
    }
    total += ids.length
  }
  if (total > MAX_CONF_STATE_IDS) throw invalidArgument(`${what} holds ${total} node ids; the maximum is ${MAX_CONF_STATE_IDS}`)
}

/** Writes `cs` at `at`; returns the offset after it. */
export function putConfState(view: DataView, at: number, cs: ConfState): number {
  view.setUint32(at, cs.autoLeave ? 1 : 0, true)
  LISTS.forEach((list, i) => view.setUint32(at + 4 + 4 * i, cs[list].length, true))
  view.setUint32(at + 20, 0, true)
  let p = at + CONF_STATE_FIXED_BYTES
  for (const list of LISTS) {
    for (const id of cs[list]) { setU64(view, p, id); p += 8 }
  }
  return p
}

/**
 * Reads the conf state that fills `view` from `at` to exactly `end`; returns a reason string
 * when the bytes are not what `putConfState` writes (the caller decides what damage means).
 */
export function getConfState(view: DataView, at: number, end: number): ConfState | string {
  if (end - at < CONF_STATE_FIXED_BYTES) return 'conf state cut short'
  const autoLeave = view.getUint32(at, true)
  if (autoLeave > 1 || view.getUint32(at + 20, true) !== 0) return 'conf state flags are not 0 or 1'
  const counts = LISTS.map((_, i) => view.getUint32(at + 4 + 4 * i, true))
  const total = counts.reduce((a, b) => a + b, 0)
  if (total > MAX_CONF_STATE_IDS || end - at !== CONF_STATE_FIXED_BYTES + 8 * total) return 'conf state length does not match its counts'
  let p = at + CONF_STATE_FIXED_BYTES
  const lists: number[][] = []
  for (const n of counts) {
    const ids: number[] = []
    for (let i = 0; i < n; i++, p += 8) {
      const id = getU64(view, p)
      if (id === undefined || id < 1) return 'conf state holds a node id that is 0 or beyond 2^53'
      ids.push(id)
    }
    lists.push(ids)
  }
  return { voters: lists[0]!, learners: lists[1]!, votersOutgoing: lists[2]!, learnersNext: lists[3]!, autoLeave: autoLeave === 1 }
}
