// Crash tests through SimFileSystem: a random workload (concurrent saves, term changes,
// snapshots, releases that recycle segments) is crashed after its k-th mutating file operation
// for every k, the disk loses/tears/reorders whatever was not synced, and the log is reopened
// (repairing a torn tail). Every record acknowledged as durable must be there, nothing corrupt.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, SimFileSystem, withSeed } from '@strata/testkit'
import { Wal } from '../src/index.js'
import type { WalError } from '../src/index.js'
import { Model, check, workload } from './crash-model.js'
import { META } from './helpers.js'

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
