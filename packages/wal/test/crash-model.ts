// The randomized runs shared by the crash and model tests and by `node scripts/sim.mjs wal`.
import * as assert from 'uvu/assert'
import { Prng, SimFileSystem } from '@strata/testkit'
import { Wal, WalError, repair, validSnapshotEntries } from '../src/index.js'
import type { Entry } from '@strata/raft'
import type { SnapshotPoint, WalOptions, WalSnapshot } from '../src/index.js'
import { EMPTY_CONF, META, entryType, plain, reopen, simOptions, snap as marker } from './helpers.js'

/** What the workload submitted and what the log acknowledged as durable. */
export class Model {
  /** submitted[i] is the entry at index i + 1. */
  readonly submitted: Entry[] = []
  /** Entries 1..ackedIndex are durable. */
  ackedIndex = 0
  ackedTerm = 0
  ackedSnapshot: WalSnapshot = marker(0, 0, EMPTY_CONF)
}

/** Runs the workload until it ends or the log fails (the crash point fired). */
export async function workload(w: Wal, m: Model, prng: Prng, rounds: number): Promise<void> {
  let term = 1
  for (let round = 0; round < rounds; round++) {
    if (prng.bool(0.1)) term++
    const calls: Array<Promise<void>> = []
    for (let j = 1 + prng.int(3); j > 0; j--) {
      const first = m.submitted.length + 1
      const es: Entry[] = []
      for (let n = prng.int(4); n > 0; n--) {
        const data = new Uint8Array(1 + prng.int(80)).map(() => prng.int(256))
        es.push({ index: first + es.length, term, type: entryType(first + es.length), data })
      }
      m.submitted.push(...es)
      const last = m.submitted.length
      const t = term
      calls.push(w.save({ term, vote: 1, commit: m.ackedIndex }, es).then(() => {
        if (es.length > 0) m.ackedIndex = Math.max(m.ackedIndex, last)
        m.ackedTerm = Math.max(m.ackedTerm, t)
      }))
    }
    await Promise.all(calls)
    if (m.ackedIndex > 0 && prng.bool(0.2)) {
      const index = m.ackedIndex - prng.int(Math.min(3, m.ackedIndex))
      const s = marker(index, m.submitted[index - 1]!.term)
      await w.saveSnapshot(s)
      // A restart loads the newest snapshot, and may only: a release for a newer one may already
      // have recycled the segments an older one needs.
      if (s.index >= m.ackedSnapshot.index) m.ackedSnapshot = s
      w.releaseTo(s.index)
    }
  }
}

/** Opens at the acknowledged snapshot, repairing a torn tail once. */
export async function recover(opts: WalOptions, snap: SnapshotPoint): Promise<{ wal: Wal; entries: Entry[]; term: number }> {
  for (let attempt = 0; ; attempt++) {
    const wal = await Wal.open('/w', snap, opts)
    try {
      const r = await wal.readAll()
      return { wal, entries: r.entries, term: r.hardState.term }
    } catch (err) {
      await wal.close()
      if (attempt > 0 || !(err instanceof WalError) || err.code !== 'ERR_WAL_TORN_TAIL') throw err
    }
    await repair('/w', { fs: opts.fs })
  }
}

/** Checks the recovered log against the model, then proves it still appends. */
export async function check(opts: WalOptions, m: Model, what: string): Promise<void> {
  // etcd's restart path: every reader must cope with the first segments having been recycled.
  const valid = await validSnapshotEntries('/w', { fs: opts.fs })
  assert.ok(valid.every((s) => s.index <= Math.max(m.submitted.length, m.ackedSnapshot.index)), what)
  const snap = m.ackedSnapshot
  const { wal, entries, term } = await recover(opts, snap)
  try {
    const mustHave = m.submitted.slice(snap.index, m.ackedIndex)
    assert.ok(entries.length >= mustHave.length, `${what}: recovered ${entries.length} entries after ${snap.index}, acknowledged ${mustHave.length}`)
    assert.equal(plain(entries), plain(m.submitted.slice(snap.index, snap.index + entries.length)), what)
    assert.ok(term >= m.ackedTerm, `${what}: term ${term} < acknowledged ${m.ackedTerm}`)
    const next = snap.index + entries.length + 1
    await wal.save({ term: term + 1, vote: 1, commit: 0 }, [{ index: next, term: term + 1, type: 0, data: new Uint8Array([1, 2, 3]) }])
  } finally {
    await wal.close()
  }
  const again = await recover(opts, snap)
  await again.wal.close()
  assert.is(again.entries.at(-1)!.term, term + 1, what)
}

/** A new log on a SimFileSystem with tiny segments, everything drawn from `seed`. */
async function seededLog(seed: number): Promise<{ p: Prng; fs: SimFileSystem; opts: WalOptions & { fs: SimFileSystem }; w: Wal }> {
  const p = new Prng(seed)
  const fs = new SimFileSystem({ prng: p.fork() })
  const opts = { fs, segmentSizeBytes: 256, rng: p.fork() }
  return { p, fs, opts, w: await Wal.create('/w', META, opts) }
}

/** Runs `work` and closes `w`; a failure may only be the armed crash or the log it failed. */
async function untilCrash(w: Wal, work: () => Promise<void>): Promise<void> {
  try {
    await work()
    await w.close()
  } catch (err) {
    const code = (err as { code?: string }).code
    assert.ok(code === 'ERR_SIM_CRASH' || code === 'ERR_WAL_FAILED', `unexpected failure: ${String(err)}`)
    await w.close().catch(() => {})
  }
}

/**
 * A random workload (seeded by `seed`) crashed after its `crashAt`-th mutating file operation (or
 * run to the end when undefined), then checked; returns how many operations it performed.
 */
export async function crashRun(seed: number, crashAt: number | undefined, rounds: number): Promise<number> {
  const { p, fs, opts, w } = await seededLog(seed)
  const start = fs.operationCount
  if (crashAt !== undefined) fs.crashAfter(crashAt)
  const m = new Model()
  await untilCrash(w, () => workload(w, m, p.fork(), rounds))
  const ops = fs.operationCount - start
  fs.crash()
  await check(opts, m, `seed ${seed} crash after ${crashAt}`)
  return ops
}

/**
 * With Raft rewrites in the workload the log after a crash must be the log after some prefix of
 * the saves — all of the acknowledged ones, then possibly more, and possibly the first entries
 * of the next one (a batch is written in order) — never a mixture.
 */
export async function rewriteRun(seed: number, crashAt: number): Promise<void> {
  const { p, fs, opts, w } = await seededLog(seed)
  fs.crashAfter(crashAt)
  const saves: Entry[][] = []
  let acked = 0
  let term = 1
  let last = 0
  await untilCrash(w, async () => {
    for (let round = 0; round < 25; round++) {
      const calls: Array<Promise<void>> = []
      for (let j = 1 + p.int(3); j > 0; j--) {
        if (p.bool(0.2)) term++
        const first = Math.max(1, last + 1 - (p.bool(0.3) ? p.int(3) : 0))
        const es = Array.from({ length: 1 + p.int(3) }, (_, i) => ({ index: first + i, term, type: entryType(first + i), data: new Uint8Array(1 + p.int(60)).fill(p.int(256)) }))
        last = es.at(-1)!.index
        saves.push(es)
        const n = saves.length
        calls.push(w.save({ term, vote: 1, commit: 0 }, es).then(() => { acked = Math.max(acked, n) }))
      }
      await Promise.all(calls)
    }
  })
  fs.crash()
  const { wal, entries } = await recover(opts, { index: 0, term: 0 })
  await wal.close()
  const got = JSON.stringify(plain(entries))
  const log: Entry[] = []
  for (let j = 0; j <= saves.length; j++) {
    // Candidates: every save up to j applied, plus the first k entries of save j + 1.
    const next = saves[j] ?? []
    for (let k = 0; k <= next.length; k++) {
      if (j < acked) break
      const cand = k === 0 ? log : [...log.slice(0, next[0]!.index - 1), ...next.slice(0, k)]
      if (JSON.stringify(plain(cand)) === got) return
    }
    if (j < saves.length) log.splice(next[0]!.index - 1, log.length, ...next)
  }
  assert.unreachable(`seed ${seed} crash after ${crashAt}: recovered ${entries.length} entries match no prefix of the saves at or after the ${acked} acknowledged`)
}

// Property test against a dumb model (an array): random appends, Raft rewrites (a first index
// at or below the last), snapshots with releases (recycling), and reopens at the last snapshot.
export async function modelRun(prng: Prng): Promise<void> {
  const o = simOptions({ segmentSizeBytes: 512, rng: prng.fork() })
  let w = await Wal.create('/w', META, o)
  const model: Entry[] = []
  let snap: WalSnapshot = marker(0, 0, EMPTY_CONF)
  let term = 1
  for (let step = 0; step < 400; step++) {
    const r = prng.int(100)
    if (r < 60) {
      const first = Math.max(snap.index + 1, model.length + 1 - (prng.bool(0.2) ? prng.int(4) : 0))
      if (prng.bool(0.1)) term++
      const es = Array.from({ length: prng.int(5) }, (_, i) => ({ index: first + i, term, type: entryType(first + i), data: new Uint8Array(prng.int(120)).map(() => prng.int(256)) }))
      await w.save({ term, vote: 1, commit: snap.index }, es)
      if (es.length > 0) model.length = first - 1
      model.push(...es)
    } else if (r < 75 && model.length > snap.index) {
      const index = snap.index + 1 + prng.int(model.length - snap.index)
      snap = marker(index, model[index - 1]!.term)
      await w.saveSnapshot(snap)
      w.releaseTo(index)
    } else if (r < 85) {
      await w.close()
      const again = await reopen('/w', o, snap)
      assert.equal(plain(again.entries), plain(model.slice(snap.index)), `step ${step}`)
      w = again.wal
    }
  }
  await w.close()
  const last = await reopen('/w', o, snap)
  assert.equal(plain(last.entries), plain(model.slice(snap.index)))
  await last.wal.close()
}
