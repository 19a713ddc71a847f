import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimFileSystem, withSeed } from '@strata/testkit'
import type { FileSystem } from '@strata/seams'
import { Wal } from '../src/index.js'
import { Model, recover, workload } from './crash-model.js'
import { META, bind, ents, plain, reopen, snap } from './helpers.js'

/** Counts files opened with mode 'create' (fresh allocations) through `inner`. */
function countingCreates(inner: FileSystem): { fs: FileSystem; creates: () => number } {
  let n = 0
  const fs: FileSystem = {
    ...bind(inner),
    open: (path, mode) => {
      if (mode === 'create' && path.endsWith('.tmp')) n++
      return inner.open(path, mode)
    },
  }
  return { fs, creates: () => n }
}

test('released segments are recycled: 300 fill/snapshot/release cycles allocate no new files and read back exactly', async () => {
  const sim = new SimFileSystem()
  const c = countingCreates(sim)
  const opts = { fs: c.fs, segmentSizeBytes: 512 }
  const w = await Wal.create('/w', META, opts)
  let next = 1
  let createsAfterWarmup = 0
  for (let cycle = 0; cycle < 300; cycle++) {
    const batch = ents(next, next + 3, 1 + cycle, 60 + (cycle % 50))
    await w.save({ term: 1 + cycle, vote: 1, commit: next + 3 }, batch)
    next += 4
    await w.saveSnapshot(snap(next - 1, 1 + cycle))
    w.releaseTo(next - 1)
    if (cycle === 10) createsAfterWarmup = c.creates()
  }
  await w.close()
  assert.is(c.creates(), createsAfterWarmup, 'no fresh file once released segments exist')
  const files = (await sim.readdir('/w')).filter((n) => n.endsWith('.wal'))
  assert.ok(files.length <= 4, `bounded number of segments, got ${files.length}`)
  const r = await reopen('/w', opts, { index: next - 1 - 4, term: 300 - 1 })
  assert.equal(plain(r.entries), plain(ents(next - 4, next - 1, 300, 60 + (299 % 50))))
  await r.wal.close()
})

test('a failed preallocation of the next segment fails the cut; the log then refuses writes and keeps what it acknowledged', async () => {
  const sim = new SimFileSystem()
  const opts = { fs: sim, segmentSizeBytes: 4096 }
  const w = await Wal.create('/w', META, opts)
  // Room for both segments to grow past 4096 bytes by one save each, not for a third file.
  sim.setCapacity(sim.usedBytes + 3800)
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 40, 1, 100))
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(41, 80, 1, 100))
  const err = await w.save({ term: 1, vote: 1, commit: 1 }, ents(81, 81, 1, 100)).then(() => undefined, (e: Error & { code?: string; cause?: { code?: string } }) => e)
  assert.ok(err !== undefined && err.code === 'ERR_WAL_FAILED', 'writes are refused after the failed cut')
  await w.close()
  sim.setCapacity(undefined)
  const r = await reopen('/w', opts)
  assert.equal(plain(r.entries), plain(ents(1, 80, 1, 100)))
  await r.wal.close()
})

test('recycling hundreds of times with a crash in every cycle never yields a stale record or a false corruption (seeded)', () =>
  withSeed('wal recycle with crashes', async (prng) => {
    const fs = new SimFileSystem({ prng: prng.fork() })
    const opts = { fs, segmentSizeBytes: 256, rng: prng.fork() }
    let wal = await Wal.create('/w', META, opts)
    let m = new Model()
    for (let cycle = 0; cycle < 250; cycle++) {
      fs.crashAfter(1 + prng.int(80))
      try {
        await workload(wal, m, prng, 6)
        await wal.close()
      } catch (err) {
        const code = (err as { code?: string }).code
        assert.ok(code === 'ERR_SIM_CRASH' || code === 'ERR_WAL_FAILED', `cycle ${cycle}: ${String(err)}`)
        await wal.close().catch(() => {})
      }
      fs.crash()
      const snap = m.ackedSnapshot
      const r = await recover(opts, snap)
      const acked = m.submitted.slice(snap.index, m.ackedIndex)
      assert.ok(r.entries.length >= acked.length, `cycle ${cycle}: lost acknowledged entries`)
      assert.equal(plain(r.entries), plain(m.submitted.slice(snap.index, snap.index + r.entries.length)), `cycle ${cycle}`)
      // What was recovered is durable now (open syncs the tail): it is the new model.
      const next = new Model()
      next.submitted.push(...m.submitted.slice(0, snap.index), ...r.entries)
      next.ackedIndex = next.submitted.length
      next.ackedSnapshot = snap
      m = next
      wal = r.wal
    }
    await wal.close()
  }))

test.run()
