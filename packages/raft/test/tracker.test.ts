import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ProgressState } from '../src/index.js'
import type { ConfChangeSingle } from '../src/index.js'
import { Changer, describeConfig, Inflights, Progress, ProgressTracker, restoreConfState } from '../src/internal.js'

test('inflights fill up by count, free up to an index and wrap around the ring', () => {
  const inf = new Inflights(3)
  inf.add(1, 10); inf.add(2, 10); inf.add(3, 10)
  assert.ok(inf.full())
  inf.freeLE(2)
  assert.is(inf.count, 1)
  assert.is(inf.bytes, 10)
  inf.add(4, 1); inf.add(5, 1)
  assert.ok(inf.full())
  inf.freeLE(4)
  assert.is(inf.count, 1)
  inf.freeLE(0)
  assert.is(inf.count, 1)
  inf.freeLE(9)
  assert.is(inf.count, 0)
  assert.throws(() => { inf.add(9, 1); inf.add(8, 1) }, /in order/)
})

test('inflights are full once the byte budget is reached', () => {
  const inf = new Inflights(10, 100)
  inf.add(1, 60)
  assert.ok(!inf.full())
  inf.add(2, 40)
  assert.ok(inf.full())
  inf.freeLE(1)
  assert.ok(!inf.full())
})

const pr = (next: number, match = 0): Progress => new Progress({ next, match, inflights: new Inflights(2) })

test('a probing follower pauses after one MsgApp and resumes on an ack', () => {
  const p = pr(5, 4)
  assert.ok(!p.isPaused())
  p.sentEntries(1, 10)
  assert.ok(p.isPaused())
  assert.ok(p.maybeUpdate(5))
  assert.ok(!p.isPaused())
  assert.ok(!p.maybeUpdate(5), 'a stale ack is ignored')
})

test('replicate advances next optimistically and pauses when inflights are full', () => {
  const p = pr(5, 4)
  p.becomeReplicate()
  p.sentEntries(2, 10)
  assert.is(p.next, 7)
  p.sentEntries(1, 10)
  assert.ok(p.isPaused())
  p.inflights.freeLE(6)
  p.msgAppFlowPaused = p.inflights.full()
  assert.ok(!p.isPaused())
})

test('maybeDecrTo ignores stale rejections and backs off to the hint', () => {
  const r = pr(10, 5)
  r.becomeReplicate()
  assert.ok(!r.maybeDecrTo(5, 5), 'rejection at or below match is stale in replicate')
  assert.ok(r.maybeDecrTo(8, 7))
  assert.is(r.next, 6)
  const p = pr(10, 0)
  assert.ok(!p.maybeDecrTo(5, 2), 'probe: only a rejection of next-1 counts')
  assert.ok(p.maybeDecrTo(9, 3))
  assert.is(p.next, 4)
  assert.ok(p.maybeDecrTo(3, 0))
  assert.is(p.next, 1)
})

test('snapshot state pauses, and leaving it resumes after the snapshot', () => {
  const p = pr(3, 2)
  p.becomeSnapshot(10)
  assert.ok(p.isPaused())
  p.becomeProbe()
  assert.is(p.next, 11)
  assert.is(p.state, ProgressState.Probe)
})

const ccs = (s: string): ConfChangeSingle[] => s.split(' ').filter(Boolean).map((t) => {
  const type = { v: 0, r: 1, u: 2, l: 3 }[t[0] as 'v' | 'r' | 'u' | 'l'] as 0 | 1 | 2 | 3
  return { type, nodeId: Number(t.slice(1)) }
})

function start(): { config: ProgressTracker['config']; progress: ProgressTracker['progress'] } {
  const t = new ProgressTracker(10, 0)
  return { config: t.config, progress: t.progress }
}
const opts = { lastIndex: 10, maxInflight: 10, maxInflightBytes: 0 }

test('simple changes alter at most one voter; joint changes go through enter and leave', () => {
  let cur = new Changer(start(), opts).simple(ccs('v1'))
  cur = new Changer(cur, opts).simple(ccs('v2'))
  cur = new Changer(cur, opts).simple(ccs('l3'))
  assert.is(describeConfig(cur.config), 'voters=(1 2) learners=(3)')
  assert.throws(() => new Changer(cur, opts).simple(ccs('v4 v5')), /more than one voter changed/)
  cur = new Changer(cur, opts).enterJoint(true, ccs('v3 r1 v4 l2'))
  assert.is(describeConfig(cur.config), 'voters=(3 4)&&(1 2) learners_next=(2) autoleave')
  assert.throws(() => new Changer(cur, opts).enterJoint(false, ccs('v5')), /already joint/)
  assert.throws(() => new Changer(cur, opts).simple(ccs('v5')), /simple config change in joint/)
  cur = new Changer(cur, opts).leaveJoint()
  assert.is(describeConfig(cur.config), 'voters=(3 4) learners=(2)')
  assert.ok(!cur.progress.has(1))
  assert.ok(cur.progress.get(2)!.isLearner)
  assert.throws(() => new Changer(cur, opts).leaveJoint(), /non-joint/)
  assert.throws(() => new Changer(cur, opts).simple(ccs('r3 r4')), /removed all voters|more than one/)
})

test('restoring a joint ConfState rebuilds the same configuration', () => {
  const cs = { voters: [1, 2, 3], learners: [5], votersOutgoing: [1, 2, 4, 6], learnersNext: [4], autoLeave: true }
  const got = restoreConfState(cs, start(), opts)
  assert.is(describeConfig(got.config), 'voters=(1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4) autoleave')
  const t = new ProgressTracker(10, 0)
  t.config = got.config
  t.progress = got.progress
  assert.equal(t.confState(), cs)
})

test.run()
