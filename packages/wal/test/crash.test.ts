// Crash tests through SimFileSystem: a random workload (concurrent saves, term changes,
// snapshots, releases that recycle segments) is crashed after its k-th mutating file operation
// for every k, the disk loses/tears/reorders whatever was not synced, and the log is reopened
// (repairing a torn tail). Every record acknowledged as durable must be there, nothing corrupt.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, SimFileSystem, withSeed } from '@strata/testkit'
import { Wal } from '../src/index.js'
import type { WalError } from '../src/index.js'
import type { Entry } from '../src/index.js'
import { Model, check, recover, workload } from './crash-model.js'
import { META, plain } from './helpers.js'

async function runOnce(seed: number, crashAt: number | undefined, rounds: number): Promise<number> {
  const p = new Prng(seed)
  const fs = new SimFileSystem({ prng: p.fork() })
  const opts = { fs, segmentSizeBytes: 256, rng: p.fork() }
  const w = await Wal.create('/w', META, opts)
  const start = fs.operationCount
  if (crashAt !== undefined) fs.crashAfter(crashAt)
  const m = new Model()
  try {
    await workload(w, m, p.fork(), rounds)
    await w.close()
  } catch (err) {
    const code = (err as { code?: string }).code
    assert.ok(code === 'ERR_SIM_CRASH' || code === 'ERR_WAL_FAILED', `unexpected failure: ${String(err)}`)
    await w.close().catch(() => {})
  }
  const ops = fs.operationCount - start
  fs.crash()
  await check(opts, m, `seed ${seed} crash after ${crashAt}`)
  return ops
}

test('a random workload crashed after every file operation keeps everything acknowledged (seeded)', () =>
  withSeed('wal crash every op', async (prng) => {
    const seed = prng.nextU32()
    const total = await runOnce(seed, undefined, 30)
    assert.ok(total > 100)
    for (let k = 1; k <= total; k++) await runOnce(seed, k, 30)
  }))

test('several workloads crashed at random points keep everything acknowledged (seeded)', () =>
  withSeed('wal crash random points', async (prng) => {
    for (let i = 0; i < 40; i++) {
      const seed = prng.nextU32()
      await runOnce(seed, 1 + prng.int(400), 30)
    }
  }))

/**
 * With Raft rewrites in the workload the log after a crash must be the log after some prefix of
 * the saves — all of the acknowledged ones, then possibly more, and possibly the first entries
 * of the next one (a batch is written in order) — never a mixture.
 */
async function rewriteRun(seed: number, crashAt: number): Promise<void> {
  const p = new Prng(seed)
  const fs = new SimFileSystem({ prng: p.fork() })
  const opts = { fs, segmentSizeBytes: 256, rng: p.fork() }
  const w = await Wal.create('/w', META, opts)
  fs.crashAfter(crashAt)
  const saves: Entry[][] = []
  let acked = 0
  let term = 1
  let last = 0
  try {
    for (let round = 0; round < 25; round++) {
      const calls: Array<Promise<void>> = []
      for (let j = 1 + p.int(3); j > 0; j--) {
        if (p.bool(0.2)) term++
        const first = Math.max(1, last + 1 - (p.bool(0.3) ? p.int(3) : 0))
        const es = Array.from({ length: 1 + p.int(3) }, (_, i) => ({ index: first + i, term, data: new Uint8Array(1 + p.int(60)).fill(p.int(256)) }))
        last = es.at(-1)!.index
        saves.push(es)
        const n = saves.length
        calls.push(w.save({ term, vote: 1, commit: 0 }, es).then(() => { acked = Math.max(acked, n) }))
      }
      await Promise.all(calls)
    }
    await w.close()
  } catch (err) {
    const code = (err as { code?: string }).code
    assert.ok(code === 'ERR_SIM_CRASH' || code === 'ERR_WAL_FAILED', String(err))
    await w.close().catch(() => {})
  }
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

test('a workload with rewrites, crashed at random points, recovers the log of a prefix of its saves (seeded)', () =>
  withSeed('wal crash rewrites', async (prng) => {
    for (let i = 0; i < 150; i++) await rewriteRun(prng.nextU32(), 1 + prng.int(250))
  }))

test('a crash at any point of create leaves no log or an empty, usable one', async () => {
  for (let k = 1; ; k++) {
    const fs = new SimFileSystem()
    fs.crashAfter(k)
    let created = false
    try {
      await (await Wal.create('/w', META, { fs, segmentSizeBytes: 256 })).close()
      created = true
    } catch (err) {
      assert.is((err as { code?: string }).code, 'ERR_SIM_CRASH')
    }
    fs.crash()
    const w = await Wal.open('/w', { index: 0, term: 0 }, { fs }).catch((err: WalError) => {
      assert.is(err.code, 'ERR_WAL_NOT_FOUND')
      assert.not.ok(created, 'a completed create survives the crash')
      return undefined
    })
    if (w !== undefined) {
      assert.equal((await w.readAll()).entries, [])
      await w.close()
    }
    if (created) break
  }
})

test.run()
