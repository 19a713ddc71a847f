import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Entry } from '../src/index.js'
import { MemoryStorage } from '../src/index.js'
import { RaftLog, Unstable } from '../src/internal.js'

const ent = (index: number, term: number): Entry => ({ index, term, type: 0, data: new Uint8Array(0) })

function logWith(stable: Entry[], unstable: Entry[] = []): RaftLog {
  const s = new MemoryStorage()
  s.append(stable)
  const l = new RaftLog(s)
  l.append(unstable)
  return l
}

test('findConflict returns the first new or conflicting index (Raft §5.3)', () => {
  const l = logWith([ent(1, 1), ent(2, 2), ent(3, 3)])
  assert.is(l.findConflict([]), 0)
  assert.is(l.findConflict([ent(1, 1), ent(2, 2)]), 0)
  assert.is(l.findConflict([ent(2, 2), ent(3, 3), ent(4, 4)]), 4)
  assert.is(l.findConflict([ent(2, 1), ent(3, 4)]), 2)
})

test('findConflictByTerm skips to the last index of a term no greater than the given one', () => {
  const l = logWith([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 4)])
  assert.equal(l.findConflictByTerm(5, 3), { index: 4, term: 2 })
  assert.equal(l.findConflictByTerm(5, 5), { index: 5, term: 4 })
  assert.equal(l.findConflictByTerm(4, 1), { index: 2, term: 1 })
  assert.equal(l.findConflictByTerm(4, 0), { index: 0, term: 0 })
})

test('maybeAppend appends on a match, truncates conflicts and refuses a mismatch', () => {
  const l = logWith([ent(1, 1), ent(2, 2), ent(3, 3)])
  assert.is(l.maybeAppend(3, 2, 3, [ent(4, 4)]), undefined)
  assert.is(l.maybeAppend(3, 3, 2, [ent(4, 4)]), 4)
  assert.is(l.committed, 2)
  assert.is(l.maybeAppend(1, 1, 4, [ent(2, 2), ent(3, 5)]), 3)
  assert.is(l.lastIndex(), 3)
  assert.is(l.term(3), 5)
  assert.throws(() => l.maybeAppend(0, 0, 4, [ent(1, 9)]), /conflict with committed entry/)
})

test('isUpToDate compares last term first, then last index (Raft §5.4.1)', () => {
  const l = logWith([ent(1, 1), ent(2, 2), ent(3, 3)])
  assert.ok(l.isUpToDate(1, 4))
  assert.ok(l.isUpToDate(3, 3))
  assert.ok(!l.isUpToDate(2, 3))
  assert.ok(!l.isUpToDate(9, 2))
})

test('maybeCommit only commits an entry of the given term (Raft §5.4.2)', () => {
  const l = logWith([ent(1, 1), ent(2, 2)], [ent(3, 3)])
  assert.ok(!l.maybeCommit(2, 3))
  assert.ok(l.maybeCommit(3, 3))
  assert.is(l.committed, 3)
  assert.throws(() => l.commitTo(9), /out of range/)
})

test('slices span storage and the unstable tail, and committed entries wait until applied', () => {
  const l = logWith([ent(1, 1), ent(2, 1)], [ent(3, 2), ent(4, 2)])
  assert.equal(l.slice(1, 5, Infinity).map((e) => e.index), [1, 2, 3, 4])
  l.commitTo(3)
  assert.equal(l.nextCommittedEnts().map((e) => e.index), [1, 2, 3])
  l.appliedTo(3)
  assert.equal(l.nextCommittedEnts().length, 0)
  assert.throws(() => l.appliedTo(4), /out of range/)
})

test('stableTo ignores an ack whose term no longer matches (the entry was replaced)', () => {
  const u = new Unstable(5)
  u.truncateAndAppend([ent(5, 1), ent(6, 1), ent(7, 1)])
  u.truncateAndAppend([ent(6, 2)])
  u.stableTo(7, 1)
  assert.is(u.entries.length, 2)
  u.stableTo(6, 2)
  assert.is(u.entries.length, 0)
  assert.is(u.offset, 7)
})

test('restoring a snapshot makes it the unstable head and moves the commit index', () => {
  const l = logWith([ent(1, 1), ent(2, 1)])
  const cs = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
  l.restore({ data: new Uint8Array(0), metadata: { index: 10, term: 3, confState: cs } })
  assert.is(l.committed, 10)
  assert.is(l.firstIndex(), 11)
  assert.is(l.lastIndex(), 10)
  assert.is(l.term(10), 3)
  assert.ok(l.hasPendingSnapshot())
  assert.equal(l.nextCommittedEnts(), [])
})

test.run()
