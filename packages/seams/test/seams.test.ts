import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SeamsError, StrataError, cryptoRng, hasCode, noFailpoint, randomBelow, systemClock, type Rng } from '../src/index.js'

test('StrataError carries a stable code, a message and context, and names its class', () => {
  class WalError extends StrataError {}
  const e = new WalError('ERR_WAL_CORRUPT', 'checksum mismatch in segment 3 at offset 4096', { segment: 3, offset: 4096 })
  assert.is(e.code, 'ERR_WAL_CORRUPT')
  assert.is(e.name, 'WalError')
  assert.equal(e.context, { segment: 3, offset: 4096 })
  assert.ok(hasCode(e, 'ERR_WAL_CORRUPT'))
  assert.not.ok(hasCode(new Error('x'), 'ERR_WAL_CORRUPT'))
  assert.not.ok(hasCode('ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'))
})

test('SeamsError is a StrataError with a seams code', () => {
  const e = new SeamsError('ERR_SEAMS_LOCKED', 'seams: /x/LOCK is locked', { path: '/x/LOCK' })
  assert.instance(e, StrataError)
  assert.is(e.name, 'SeamsError')
  assert.ok(hasCode(e, 'ERR_SEAMS_LOCKED'))
})

test('cryptoRng yields 32-bit unsigned integers that vary', () => {
  const rng = cryptoRng()
  const seen = new Set<number>()
  for (let i = 0; i < 1000; i++) {
    const x = rng.nextU32()
    assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32)
    seen.add(x)
  }
  assert.ok(seen.size > 990)
})

test('randomBelow stays in range, rejects bad bounds and rejects biased draws', () => {
  const draws = [2 ** 32 - 1, 5] // the first is above the unbiased limit for n = 3 and is redrawn
  const rng: Rng = { nextU32: () => draws.shift()! }
  assert.is(randomBelow(rng, 3), 2)
  for (const bad of [0, 1.5, 2 ** 32 + 1, Number.NaN, '3' as unknown as number]) {
    assert.throws(() => randomBelow(cryptoRng(), bad), (err: unknown) => err instanceof SeamsError && err.code === 'ERR_SEAMS_INVALID_ARGUMENT' && /randomBelow/.test(err.message))
  }
  for (let i = 0; i < 100; i++) assert.ok(randomBelow(cryptoRng(), 7) < 7)
})

test('systemClock never goes backwards and fires a timer once; a cancelled timer never fires', async () => {
  const a = systemClock.now()
  let fired = 0
  let cancelledFired = false
  await new Promise<void>((resolve) => {
    systemClock.setTimer(5, () => { fired++; resolve() })
    systemClock.setTimer(1, () => { cancelledFired = true }).cancel()
  })
  await new Promise((r) => setTimeout(r, 10))
  assert.ok(systemClock.now() >= a + 4)
  assert.is(fired, 1)
  assert.is(cancelledFired, false)
})

test('noFailpoint does nothing', () => {
  noFailpoint('raftBeforeSave')
  noFailpoint('wal.custom')
})

test.run()
