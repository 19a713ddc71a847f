import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ProposalPacer } from '../src/proposal-pacer.js'

/** A pacer that measured fsyncs of `fsyncMs` and `cpuUs` µs of main thread per request applied. */
function measured(fsyncMs: number, cpuUs: number): ProposalPacer {
  const p = new ProposalPacer()
  for (let i = 0; i < 50; i++) {
    p.saved(fsyncMs)
    p.applied((cpuUs / 1000) * 128, 128)
  }
  return p
}

test('without measurements (a simulated clock standing still) every pending request is proposed', () => {
  const p = new ProposalPacer()
  assert.is(p.take(256, false), 256)
  assert.is(p.take(256, true), 256)
  p.saved(0)
  p.applied(0, 256)
  assert.is(p.take(256, false), 256)
  assert.is(p.take(0, false), 0)
})

test('a fast disk (group CPU over its fsync) splits one group into two: half now, half at the next Ready', () => {
  // 256 requests at 7 µs: 1.8 ms of CPU against a 0.7 ms fsync.
  const p = measured(0.7, 7)
  assert.is(p.take(256, false), 128)
  assert.is(p.take(255, false), 128)
  // Once a group is to be applied meanwhile, the pending ones go out whole: the groups alternate.
  assert.is(p.take(128, true), 128)
})

test('small groups are not split: the fsync fixed cost dominates them', () => {
  const p = measured(0.01, 7)
  assert.is(p.take(31, false), 31)
  assert.is(p.take(32, false), 16)
})

test('a slow disk (fsync over the group CPU) keeps one group and merges two back into one', () => {
  // 256 requests at 7 µs: 1.8 ms of CPU against a 5 ms fsync.
  const p = measured(5, 7)
  assert.is(p.take(256, false), 256)
  // Two groups of 128: holding the pending group one Ready merges it with the applied one's callers.
  assert.is(p.take(128, true), 0)
})

test('between splitting and merging there is a margin, so the groups do not flap', () => {
  // 256 requests at 7 µs = 1.79 ms: a 1.5 ms fsync splits one group; two groups of 128 stay two.
  const p = measured(1.5, 7)
  assert.is(p.take(256, false), 128)
  assert.is(p.take(128, true), 128)
  // A 2 ms fsync neither splits one group nor merges two.
  const q = measured(2, 7)
  assert.is(q.take(256, false), 256)
  assert.is(q.take(128, true), 128)
})

test('the averages follow a change of disk within tens of Readies', () => {
  const p = measured(0.5, 7)
  assert.is(p.take(256, false), 128)
  for (let i = 0; i < 40; i++) p.saved(10)
  assert.is(p.take(256, false), 256)
  assert.is(p.take(128, true), 0)
})

test.run()
