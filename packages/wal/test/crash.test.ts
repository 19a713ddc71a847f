// Crash tests through SimFileSystem: a random workload (concurrent saves, term changes,
// snapshots, releases that recycle segments) is crashed after its k-th mutating file operation
// for every k, the disk loses/tears/reorders whatever was not synced, and the log is reopened
// (repairing a torn tail). Every record acknowledged as durable must be there, nothing corrupt.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimFileSystem, withSeed } from '@strata/testkit'
import { Wal } from '../src/index.js'
import type { WalError } from '../src/index.js'
import { crashRun, rewriteRun } from './crash-model.js'
import { META } from './helpers.js'

test('a random workload crashed after every file operation keeps everything acknowledged (seeded)', () =>
  withSeed('wal crash every op', async (prng) => {
    const seed = prng.nextU32()
    const total = await crashRun(seed, undefined, 30)
    assert.ok(total > 100)
    for (let k = 1; k <= total; k++) await crashRun(seed, k, 30)
  }))

test('several workloads crashed at random points keep everything acknowledged (seeded)', () =>
  withSeed('wal crash random points', async (prng) => {
    for (let i = 0; i < 40; i++) {
      const seed = prng.nextU32()
      await crashRun(seed, 1 + prng.int(400), 30)
    }
  }))


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
