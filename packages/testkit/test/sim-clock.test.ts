import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock, rejectsWithCode } from '../src/index.js'

test('time moves only when advanced, and timers fire in time order with ties in arming order', () => {
  const clock = new SimClock({ start: 100 })
  const fired: string[] = []
  clock.setTimer(30, () => fired.push(`c@${clock.now()}`))
  clock.setTimer(10, () => fired.push(`a@${clock.now()}`))
  clock.setTimer(10, () => fired.push(`b@${clock.now()}`))
  clock.setTimer(-5, () => fired.push(`z@${clock.now()}`))
  assert.is(clock.now(), 100)
  assert.is(clock.pendingTimers, 4)
  assert.is(clock.nextTimerAt(), 100)
  assert.is(clock.advance(10), 3)
  assert.equal(fired, ['z@100', 'a@110', 'b@110'])
  assert.is(clock.now(), 110)
  assert.is(clock.advance(19), 0)
  assert.is(clock.advance(1), 1)
  assert.equal(fired.at(-1), 'c@130')
  assert.is(clock.pendingTimers, 0)
  assert.is(clock.nextTimerAt(), undefined)
})

test('timers armed by callbacks during advance fire when they fall due within it', () => {
  const clock = new SimClock()
  const fired: number[] = []
  const tick = (): void => {
    fired.push(clock.now())
    clock.setTimer(10, tick)
  }
  clock.setTimer(10, tick)
  clock.setTimer(25, () => clock.setTimer(0, () => fired.push(-clock.now())))
  clock.advance(50)
  assert.equal(fired, [10, 20, -25, 30, 40, 50])
  assert.is(clock.now(), 50)
  assert.is(clock.pendingTimers, 1)
})

test('a cancelled timer never fires, and cancelling twice or after firing is harmless', () => {
  const clock = new SimClock()
  let a = 0
  let b = 0
  const ta = clock.setTimer(5, () => a++)
  const tb = clock.setTimer(5, () => b++)
  ta.cancel()
  ta.cancel()
  assert.is(clock.pendingTimers, 1)
  clock.advance(5)
  tb.cancel()
  assert.equal([a, b], [0, 1])
  assert.is(clock.pendingTimers, 0)
  const tc = clock.setTimer(1, () => a++)
  clock.setTimer(0, () => tc.cancel())
  clock.advance(1)
  assert.is(a, 0)
})

test('runUntilIdle fires everything in order and stops a timer that re-arms forever', async () => {
  const clock = new SimClock()
  const fired: number[] = []
  clock.setTimer(1000, () => fired.push(clock.now()))
  clock.setTimer(3, () => clock.setTimer(4, () => fired.push(clock.now())))
  assert.is(clock.runUntilIdle(), 3)
  assert.equal(fired, [7, 1000])
  assert.is(clock.now(), 1000)
  const forever = (): void => { clock.setTimer(1, forever) }
  forever()
  await rejectsWithCode(async () => clock.runUntilIdle({ maxTimers: 50 }), 'ERR_SIM_CLOCK_NOT_IDLE')
  assert.is(clock.now(), 1050)
})

test('time never goes backwards', () => {
  const clock = new SimClock()
  clock.advance(5)
  assert.throws(() => clock.advance(-1), /ms must be/)
  assert.throws(() => clock.advanceTo(4), /before now/)
  clock.advanceTo(5)
  assert.is(clock.now(), 5)
})

test.run()
