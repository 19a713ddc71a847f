import * as assert from 'uvu/assert'
import type { Prng } from '@strata/testkit'
import { Wal, WalError, repair, validSnapshotEntries } from '../src/index.js'
import type { Entry, WalOptions, WalSnapshot } from '../src/index.js'
import { plain } from './helpers.js'

/** What the workload submitted and what the log acknowledged as durable. */
export class Model {
  /** submitted[i] is the entry at index i + 1. */
  readonly submitted: Entry[] = []
  /** Entries 1..ackedIndex are durable. */
  ackedIndex = 0
  ackedTerm = 0
  ackedSnapshot: WalSnapshot = { index: 0, term: 0 }
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
        es.push({ index: first + es.length, term, data })
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
      const snap = { index: m.ackedIndex - prng.int(Math.min(3, m.ackedIndex)), term: 0 }
      const s = { index: snap.index, term: m.submitted[snap.index - 1]!.term }
      await w.saveSnapshot(s)
      // A restart loads the newest snapshot, and may only: a release for a newer one may already
      // have recycled the segments an older one needs.
      if (s.index >= m.ackedSnapshot.index) m.ackedSnapshot = s
      w.releaseTo(s.index)
    }
  }
}

/** Opens at the acknowledged snapshot, repairing a torn tail once. */
export async function recover(opts: WalOptions, snap: WalSnapshot): Promise<{ wal: Wal; entries: Entry[]; term: number }> {
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
    await wal.save({ term: term + 1, vote: 1, commit: 0 }, [{ index: next, term: term + 1, data: new Uint8Array([1, 2, 3]) }])
  } finally {
    await wal.close()
  }
  const again = await recover(opts, snap)
  await again.wal.close()
  assert.is(again.entries.at(-1)!.term, term + 1, what)
}

