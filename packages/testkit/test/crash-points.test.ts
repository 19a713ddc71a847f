import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, SimCrashError, forEachCrashPoint, isSimCrash } from '../src/index.js'
import type { SimFileSystem } from '../src/index.js'

const RECORD = 700

/** Appends three 700-byte records, each followed by datasync; the file was created durably in setup. */
async function appendThree(fs: SimFileSystem): Promise<void> {
  const f = await fs.open('/log', 'readWrite')
  for (let i = 0; i < 3; i++) {
    await f.write(new Uint8Array(RECORD).fill(i + 1), i * RECORD)
    await f.datasync()
  }
  await f.close()
}

async function setup(fs: SimFileSystem): Promise<void> {
  const f = await fs.open('/log', 'createExclusive')
  await f.sync()
  await fs.fsyncDir('/')
}

test('every crash point is visited, and data synced before it is always there', async () => {
  const seen: number[] = []
  const n = await forEachCrashPoint(appendThree, async (fs, point) => {
    seen.push(point.k)
    assert.is(point.total, 6)
    const data = await fs.readFile('/log')
    const synced = Math.floor(point.k / 2)
    assert.ok(data.length >= synced * RECORD)
    for (let i = 0; i < synced * RECORD; i++) assert.is(data[i], Math.floor(i / RECORD) + 1)
  }, { setup, prng: new Prng(11) })
  assert.is(n, 6)
  assert.equal(seen, [1, 2, 3, 4, 5, 6])
})

test('a broken durability claim is caught and the crash point named', async () => {
  let message = ''
  await forEachCrashPoint(appendThree, async (fs) => {
    assert.is((await fs.readFile('/log')).length, 3 * RECORD, 'all records expected')
  }, { setup, crashMode: 'pessimistic' }).catch((err: Error) => { message = err.message })
  assert.match(message, /^crash point 1\/6: all records expected/)
})

test('maxPoints spreads fewer crash points over the run, always including the last', async () => {
  const seen: number[] = []
  await forEachCrashPoint(appendThree, async (_fs, p) => { seen.push(p.k) }, { setup, maxPoints: 3 })
  assert.equal(seen, [2, 4, 6])
})

test('a crash wrapped as a cause is recognized; a workload hiding the crash behind another error fails the run', async () => {
  const wrapped = await forEachCrashPoint(async (fs) => {
    try {
      await appendThree(fs)
    } catch (err) {
      throw new Error('append failed', { cause: err })
    }
  }, async () => {}, { setup })
  assert.is(wrapped, 6)
  let message = ''
  await forEachCrashPoint(async (fs) => {
    try {
      await appendThree(fs)
    } catch {
      throw new Error('unrelated')
    }
  }, async () => {}, { setup }).catch((err: Error) => { message = err.message })
  assert.match(message, 'crash point 1/6: the workload failed with something other than the crash: Error: unrelated')
  assert.ok(isSimCrash(new Error('x', { cause: new SimCrashError('write', '/a') })))
  assert.not.ok(isSimCrash(new Error('x')))
})

test.run()
