import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import type { Entry } from '../src/index.js'
import { MemoryStorage } from '../src/index.js'

const ent = (index: number, term: number, size = 0): Entry => ({ index, term, type: 0, data: new Uint8Array(size) })

function storageWith(ents: Entry[]): MemoryStorage {
  // Start from a snapshot point at ents[0] (the dummy), as etcd's storage tests do.
  const s = new MemoryStorage()
  s.applySnapshot({ data: new Uint8Array(0), metadata: { index: ents[0]!.index, term: ents[0]!.term, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } })
  s.append(ents.slice(1))
  return s
}

test('term() reports compacted below the dummy and unavailable past the end', () => {
  const s = storageWith([ent(3, 3), ent(4, 4), ent(5, 5)])
  throwsWithCode(() => s.term(2), 'ERR_RAFT_COMPACTED')
  assert.is(s.term(3), 3)
  assert.is(s.term(5), 5)
  throwsWithCode(() => s.term(6), 'ERR_RAFT_UNAVAILABLE')
})

test('entries() refuses compacted ranges and limits by size but returns at least one entry', () => {
  const s = storageWith([ent(3, 3), ent(4, 4, 10), ent(5, 5, 10), ent(6, 6, 10)])
  throwsWithCode(() => s.entries(3, 5, Infinity), 'ERR_RAFT_COMPACTED')
  assert.equal(s.entries(4, 7, Infinity).map((e) => e.index), [4, 5, 6])
  assert.equal(s.entries(4, 7, 0).map((e) => e.index), [4])
  assert.equal(s.entries(4, 7, 62).map((e) => e.index), [4, 5])
  throwsWithCode(() => new MemoryStorage().entries(1, 1, 10), 'ERR_RAFT_UNAVAILABLE')
  assert.throws(() => s.entries(4, 9, Infinity), /out of bound/)
})

test('first and last index follow the dummy entry', () => {
  const s = storageWith([ent(3, 3), ent(4, 4), ent(5, 5)])
  assert.is(s.firstIndex(), 4)
  assert.is(s.lastIndex(), 5)
  s.compact(4)
  assert.is(s.firstIndex(), 5)
  assert.is(s.term(4), 4)
})

test('compact() refuses an already compacted index and panics past the end', () => {
  const s = storageWith([ent(3, 3), ent(4, 4), ent(5, 5)])
  throwsWithCode(() => s.compact(3), 'ERR_RAFT_COMPACTED')
  s.compact(5)
  assert.is(s.lastIndex(), 5)
  throwsWithCode(() => s.compact(6), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => s.compact(1.5), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => s.createSnapshot(99), 'ERR_RAFT_INVALID_ARGUMENT')
})

test('createSnapshot() and applySnapshot() refuse out-of-date snapshots', () => {
  const s = storageWith([ent(3, 3), ent(4, 4), ent(5, 5)])
  const snap = s.createSnapshot(4, { data: new Uint8Array([1]) })
  assert.is(snap.metadata.term, 4)
  throwsWithCode(() => s.createSnapshot(3), 'ERR_RAFT_SNAP_OUT_OF_DATE')
  const t = new MemoryStorage()
  t.applySnapshot(snap)
  throwsWithCode(() => t.applySnapshot(snap), 'ERR_RAFT_SNAP_OUT_OF_DATE')
  assert.is(t.firstIndex(), 5)
})

test('append() ignores a compacted prefix, truncates a conflicting tail and refuses gaps', () => {
  const s = storageWith([ent(3, 3), ent(4, 4), ent(5, 5)])
  s.append([ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4)])
  assert.is(s.lastIndex(), 4, 'entries from the first new index on replace the old tail')
  s.append([ent(4, 6)])
  assert.is(s.lastIndex(), 4)
  assert.is(s.term(4), 6)
  s.append([ent(5, 6), ent(6, 6)])
  assert.is(s.lastIndex(), 6)
  assert.match(throwsWithCode(() => s.append([ent(8, 6)]), 'ERR_RAFT_INVALID_ARGUMENT').message, /missing log entry/)
  throwsWithCode(() => s.append([{ term: 1, index: -1, type: 0, data: new Uint8Array(0) }]), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => s.setHardState({ term: 1, vote: 0.5, commit: 0 }), 'ERR_RAFT_INVALID_ARGUMENT')
})

test.run()
