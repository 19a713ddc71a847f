import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { spreadExpiries } from '../src/internal.js'

/** The most expiries in any half-open one-second window. */
function busiestSecond(times: Float64Array): number {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

test('at most perSecond as or fewer times than that are left alone', async () => {
  const times = new Float64Array([5, 5, 5, 7])
  spreadExpiries(times, 4)
  assert.equal([...times], [5, 5, 5, 7])
})

test('a burst at one instant becomes a steady stream at the allowed rate', async () => {
  const times = new Float64Array(3000).fill(10_000)
  spreadExpiries(times, 750)
  assert.is(busiestSecond(times), 750)
  assert.is(times[0], 10_000)
  assert.ok(times[2999]! < 10_000 + 4_001, `last expiry at ${times[2999]}`)
})

test('an exact divisor of a second still never fits one expiry too many', async () => {
  const times = new Float64Array(100).fill(0)
  spreadExpiries(times, 8)
  assert.is(busiestSecond(times), 8)
})

test('random expiries: never earlier, never more than perSecond in a second, order kept', async () => {
  await withSeed('spread-expiries', async (prng) => {
    for (let round = 0; round < 20; round++) {
      const perSecond = 1 + prng.int(50)
      const n = prng.int(2000)
      const original = Float64Array.from({ length: n }, () => 1000 * prng.int(30) + (prng.bool() ? 0 : prng.int(1000)))
      const times = original.slice()
      spreadExpiries(times, perSecond)
      assert.ok(busiestSecond(times) <= perSecond)
      for (let i = 0; i < n; i++) assert.ok(times[i]! >= original[i]!, 'an expiry moved earlier')
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < Math.min(n, i + 20); j++) {
          if (original[i]! < original[j]!) assert.ok(times[i]! < times[j]!, 'spreading reordered two expiries')
        }
      }
    }
  })
})

test.run()
