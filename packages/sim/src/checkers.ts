// The checkers: linearizability of the KV history (testkit's Wing–Gong–Lowe search, per key),
// watch guarantees against the union of every watcher's events, old-revision reads and
// acknowledged writes against that event log, and lease expiry against the TTL.
import { type HistoryOperation, type Model, checkLinearizable } from '@strata/testkit'
import type { History, KvOp, WatchEventRecord } from './history.js'
import { KEYS } from './workload.js'

export interface Violation {
  readonly checker: string
  readonly message: string
}

// ---- linearizability -------------------------------------------------------------------

/** One key's register: its value and the revision it was written at (0: not known). */
interface Reg { readonly v: string | null; readonly rev: number }

type RegIn =
  | { readonly t: 'read' }
  | { readonly t: 'write'; readonly v: string | null }
  | { readonly t: 'delete' }
  | { readonly t: 'cas'; readonly expect: string | null; readonly v: string }

type RegOut =
  | { readonly v: string | null; readonly rev: number }
  | { readonly rev: number; readonly deleted?: number; readonly succeeded?: boolean; readonly current?: { v: string | null; rev: number } }
  | undefined

interface KeyedIn { readonly key: string; readonly op: RegIn }

/** etcd's key as a register with mod revisions: reads must see the value and the revision of the write they follow. */
export const registerModel: Model<Reg, KeyedIn, RegOut> = {
  init: () => ({ v: null, rev: 0 }),
  step(s, { op }, out) {
    switch (op.t) {
      case 'read': {
        const o = out as { v: string | null; rev: number }
        if (o.v !== s.v) return undefined
        if (o.v === null) return s
        if (s.rev !== 0 && o.rev !== s.rev) return undefined
        return { v: o.v, rev: o.rev }
      }
      case 'write':
        return { v: op.v, rev: out?.rev ?? 0 }
      case 'delete': {
        const o = out as { deleted?: number } | undefined
        if (o?.deleted !== undefined && (o.deleted === 1) !== (s.v !== null)) return undefined
        return { v: null, rev: 0 }
      }
      case 'cas': {
        const o = out as { succeeded?: boolean; rev: number; current?: { v: string | null; rev: number } } | undefined
        const holds = s.v === op.expect
        if (o === undefined) return holds ? { v: op.v, rev: 0 } : s
        if (o.succeeded !== holds) return undefined
        if (holds) return { v: op.v, rev: o.rev }
        if (o.current !== undefined && (o.current.v !== s.v || (s.v !== null && s.rev !== 0 && o.current.rev !== s.rev))) return undefined
        return o.current !== undefined && o.current.v !== null ? { v: o.current.v, rev: o.current.rev } : s
      }
    }
  },
  key: (s) => `${s.v ?? '\u0000'}@${s.rev}`,
  partition(history) {
    const byKey = new Map<string, HistoryOperation<KeyedIn, RegOut>[]>()
    for (const op of history) {
      const list = byKey.get(op.input.key) ?? []
      list.push(op)
      byKey.set(op.input.key, list)
    }
    return [...byKey.keys()].sort().map((k) => byKey.get(k)!)
  },
  describe: (i, o) => `${i.key} ${JSON.stringify(i.op)} -> ${o === undefined ? '?' : JSON.stringify(o)}`,
}

/** The history as per-key register operations (a range read becomes a read of every key at once). */
export function registerHistory(ops: readonly KvOp[]): HistoryOperation<KeyedIn, RegOut>[] {
  const out: HistoryOperation<KeyedIn, RegOut>[] = []
  for (const op of ops) {
    if (op.status === 'fail') continue
    const call = op.call
    const r = op.result
    const ret = op.status === 'ok' ? op.returned : Number.POSITIVE_INFINITY
    const push = (key: string, input: RegIn, output: RegOut): void => void out.push({ input: { key, op: input }, output, call: op.invoked, return: ret, client: op.client })
    switch (call.kind) {
      case 'get':
        if (call.revision !== undefined || r?.kind !== 'get') break
        push(call.key, { t: 'read' }, { v: r.kv?.value ?? null, rev: r.kv?.modRevision ?? 0 })
        break
      case 'range':
        if (r?.kind !== 'range') break
        for (const k of KEYS) {
          const kv = r.kvs.get(k)
          push(k, { t: 'read' }, { v: kv?.value ?? null, rev: kv?.modRevision ?? 0 })
        }
        break
      case 'put':
        push(call.key, { t: 'write', v: call.value }, r?.kind === 'put' ? { rev: r.revision } : undefined)
        break
      case 'txn':
        for (const [k, v] of call.puts) push(k, { t: 'write', v }, r?.kind === 'txn' ? { rev: r.revision } : undefined)
        break
      case 'delete':
        push(call.key, { t: 'delete' }, r?.kind === 'delete' ? { rev: r.revision, deleted: r.deleted } : undefined)
        break
      case 'cas':
        push(call.key, { t: 'cas', expect: call.expect, v: call.value }, r?.kind === 'cas'
          ? { rev: r.revision, succeeded: r.succeeded, current: r.succeeded ? undefined : { v: r.current?.value ?? null, rev: r.current?.modRevision ?? 0 } }
          : undefined)
        break
    }
  }
  return out
}

export function checkLinearizability(history: History, maxSteps = 2_000_000): { violations: Violation[]; checked: number; undecided: number } {
  const ops = registerHistory(history.ops)
  const result = checkLinearizable(registerModel, ops, { maxSteps })
  if (result.result === 'illegal') {
    const lines = result.operations.slice(0, 40)
    return { violations: [{ checker: 'linearizability', message: `key part ${result.part} is not linearizable:\n    ${lines.join('\n    ')}` }], checked: ops.length, undecided: 0 }
  }
  return { violations: [], checked: ops.length, undecided: result.result === 'unknown' ? 1 : 0 }
}

// ---- the event log -----------------------------------------------------------------------

/** Every event any watcher saw, by revision (events of one revision in key order). */
export interface EventLog {
  readonly byRevision: Map<number, WatchEventRecord[]>
  /** The earliest virtual time any watcher saw each revision. */
  readonly firstSeen: Map<number, number>
}

const eventKey = (e: WatchEventRecord): string => `${e.type}|${e.key}|${e.value}|${e.modRevision}`

export function checkWatches(history: History): { violations: Violation[]; log: EventLog } {
  const violations: Violation[] = []
  const byRevision = new Map<number, WatchEventRecord[]>()
  const firstSeen = new Map<number, number>()
  const fail = (message: string): void => void violations.push({ checker: 'watch', message })
  for (const w of history.watches) {
    let last = 0
    for (const r of w.responses) {
      // Atomic: one revision's events arrive in one response; ordered: revisions only grow.
      const revs = new Map<number, WatchEventRecord[]>()
      for (const e of r.events) {
        if (e.modRevision < last) fail(`watcher ${w.id}: revision ${e.modRevision} after ${last} (ordered)`)
        if (e.modRevision === last && !revs.has(e.modRevision)) fail(`watcher ${w.id}: revision ${e.modRevision} delivered twice or split across responses (unique, atomic)`)
        last = e.modRevision
        const list = revs.get(e.modRevision) ?? []
        list.push(e)
        revs.set(e.modRevision, list)
      }
      for (const [rev, events] of revs) {
        const seen = firstSeen.get(rev)
        if (seen === undefined || r.at < seen) firstSeen.set(rev, r.at)
        const known = byRevision.get(rev)
        const mine = events.map(eventKey).sort()
        if (known === undefined) {
          byRevision.set(rev, [...events].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)))
        } else {
          const theirs = known.map(eventKey).sort()
          if (mine.join('\n') !== theirs.join('\n')) fail(`revision ${rev}: watchers disagree: [${mine.join(', ')}] vs [${theirs.join(', ')}]`)
        }
      }
    }
  }
  // Reliable and resumable: from its first start to the last revision it saw, a watcher saw
  // every revision (every revision has at least one event here: no write is a no-op), except
  // ranges it was told were compacted.
  for (const w of history.watches) {
    const seen = new Set<number>()
    for (const r of w.responses) for (const e of r.events) seen.add(e.modRevision)
    const top = Math.max(0, ...seen)
    for (let rev = 2; rev <= top; rev++) {
      if (seen.has(rev)) continue
      if (w.compactedGaps.some(([a, b]) => rev >= a && rev <= b)) continue
      if (!byRevision.has(rev)) continue // nobody saw it: the union cannot tell
      fail(`watcher ${w.id}: missed revision ${rev} (reliable)`)
      break
    }
  }
  return { violations, log: { byRevision, firstSeen } }
}

/** The highest revision R such that the union of events covers every revision 2..R. */
function coveredTo(log: EventLog): number {
  let r = 1
  while (log.byRevision.has(r + 1)) r++
  return r
}

/** Acknowledged writes appear in the event log at their revision; old-revision reads agree with it. */
export function checkAgainstEvents(history: History, log: EventLog): Violation[] {
  const violations: Violation[] = []
  const covered = coveredTo(log)
  const fail = (message: string): void => void violations.push({ checker: 'events', message })
  for (const op of history.ops) {
    if (op.status !== 'ok' || op.result === undefined) continue
    const call = op.call
    const r = op.result
    if ((call.kind === 'put' || call.kind === 'txn' || (call.kind === 'cas' && r.kind === 'cas' && r.succeeded)) && r.revision <= covered) {
      const events = log.byRevision.get(r.revision) ?? []
      const puts = call.kind === 'txn' ? call.puts : [[call.key, (call as { value: string }).value] as const]
      for (const [k, v] of puts) {
        if (!events.some((e) => e.type === 'put' && e.key === k && e.value === v)) fail(`acknowledged write ${k}=${v} at revision ${r.revision} is not among that revision's events`)
      }
    }
    if (call.kind === 'delete' && r.kind === 'delete' && r.deleted === 1 && r.revision <= covered) {
      const events = log.byRevision.get(r.revision) ?? []
      if (!events.some((e) => e.type === 'delete' && e.key === call.key)) fail(`acknowledged delete of ${call.key} at revision ${r.revision} is not among that revision's events`)
    }
    if (call.kind === 'get' && call.revision !== undefined && r.kind === 'get' && call.revision <= covered) {
      let expect: WatchEventRecord | undefined
      for (let rev = call.revision; rev >= 2 && expect === undefined; rev--) expect = log.byRevision.get(rev)?.find((e) => e.key === call.key)
      const want = expect === undefined || expect.type === 'delete' ? null : expect.value
      const got = r.kv?.value ?? null
      if (want !== got) fail(`get ${call.key} at revision ${call.revision} returned ${got ?? '(absent)'}, the event log says ${want ?? '(absent)'}`)
    }
  }
  return violations
}

// ---- leases --------------------------------------------------------------------------------

/**
 * A lease's key disappears (not by a client's revoke) no earlier than its TTL after the last
 * renewal the client saw answered, measured on the fastest member clock (the leader's clock
 * decides; `maxRate` bounds how fast it may have run).
 */
export function checkLeases(history: History, log: EventLog, maxRate: number): Violation[] {
  const violations: Violation[] = []
  for (const [rev, events] of log.byRevision) {
    for (const e of events) {
      if (e.type !== 'delete' || !e.key.startsWith('l/')) continue
      const id = Number(e.key.slice(2))
      const lease = history.leases.get(id)
      if (lease === undefined) continue
      const at = log.firstSeen.get(rev)!
      if (lease.revokedAt.some((t) => t <= at)) continue
      const renewed = Math.max(...lease.renewedAt.filter((t) => t <= at))
      const lived = at - renewed
      if (lived * maxRate < lease.ttlMs) {
        violations.push({ checker: 'lease', message: `lease ${id} (TTL ${lease.ttlMs} ms) expired ${lived} ms after a renewal invoked at ${renewed} (revision ${rev})` })
      }
    }
  }
  return violations
}
