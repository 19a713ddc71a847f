import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { KeyIndex } from '../src/key-index.js'
import { revision } from '../src/revision.js'

/** The worked example: put(1); put(2); tombstone(3); put(4); tombstone(5). */
function example(): KeyIndex {
  const ki = new KeyIndex('foo')
  ki.put(revision(1))
  ki.put(revision(2))
  ki.tombstone(revision(3))
  ki.put(revision(4))
  ki.tombstone(revision(5))
  return ki
}

function shape(ki: KeyIndex): number[][] {
  return ki.generations.map((g) => g.revs.map((r) => r.main))
}

test('the worked example builds three generations, the last one empty', () => {
  assert.equal(shape(example()), [[1, 2, 3], [4, 5], []])
})

test('get finds the newest put at or before a revision, with its version and creation', () => {
  const ki = example()
  assert.is(ki.get(0), undefined)
  assert.equal(ki.get(1), { modified: revision(1), created: revision(1), version: 1 })
  assert.equal(ki.get(2), { modified: revision(2), created: revision(1), version: 2 })
  assert.is(ki.get(3), undefined, 'deleted at 3')
  assert.equal(ki.get(4), { modified: revision(4), created: revision(4), version: 1 })
  assert.is(ki.get(5), undefined)
  assert.is(ki.get(100), undefined)
  assert.not.ok(ki.aliveAt(3))
  assert.ok(ki.aliveAt(4))
})

test('compaction of the worked example drops history revision by revision', () => {
  const cases: Array<[number, number[][], string[]]> = [
    [1, [[1, 2, 3], [4, 5], []], ['1_0']],
    [2, [[2, 3], [4, 5], []], ['2_0']],
    [3, [[3], [4, 5], []], ['3_0']],
    [4, [[4, 5], []], ['4_0']],
    [5, [[5], []], ['5_0']],
    [6, [[]], []],
  ]
  for (const [at, want, kept] of cases) {
    const ki = example()
    const available = new Set<string>()
    ki.compact(at, available)
    assert.equal(shape(ki), want, `compact(${at})`)
    assert.equal([...available], kept, `available after compact(${at})`)
  }
})

test('a tombstone exactly at the compaction revision is kept by compact but not by keep', () => {
  const ki = example()
  const kept = new Set<string>()
  ki.keep(5, kept)
  assert.equal([...kept], [], 'keep leaves the tombstone out')
  assert.equal(shape(ki), [[1, 2, 3], [4, 5], []], 'keep changes nothing')
  const compacted = new Set<string>()
  ki.compact(5, compacted)
  assert.equal([...compacted], ['5_0'])
  assert.is(ki.get(5), undefined)
  assert.not.ok(ki.isEmpty())
  ki.compact(6, new Set())
  assert.ok(ki.isEmpty())
})

test('compacting step by step equals compacting at once', () => {
  const ki = example()
  for (let at = 1; at <= 4; at++) ki.compact(at, new Set())
  assert.equal(shape(ki), [[4, 5], []])
})

test('tombstone of a deleted key is a broken invariant (the store tombstones only keys found alive)', () => {
  const ki = example()
  assert.throws(() => ki.tombstone(revision(6)), (err: unknown) => (err as { code?: string }).code === 'ERR_ASSERTION')
  assert.equal(shape(ki), [[1, 2, 3], [4, 5], []])
})

test('a put not after the last revision is a broken invariant', () => {
  const ki = example()
  assert.throws(() => ki.put(revision(5)))
  assert.throws(() => ki.put(revision(4, 9)))
})

test('since keeps the highest sub of each main revision', () => {
  const ki = new KeyIndex('k')
  ki.put(revision(2, 0))
  ki.put(revision(2, 1))
  ki.tombstone(revision(3, 0))
  ki.put(revision(4, 0))
  assert.equal(ki.since(2), [revision(2, 1), revision(3), revision(4)])
  assert.equal(ki.since(4), [revision(4)])
})

test('restorePut and restoreTombstone rebuild a compacted history', () => {
  const ki = new KeyIndex('k')
  ki.restorePut(revision(2), revision(7), 3)
  assert.equal(ki.get(7), { modified: revision(7), created: revision(2), version: 3 })
  ki.put(revision(8))
  assert.equal(ki.get(9)?.version, 4)
  const t = new KeyIndex('t')
  t.restoreTombstone(revision(5))
  assert.equal(shape(t), [[5], []])
  assert.is(t.get(5), undefined)
  t.put(revision(6))
  assert.equal(t.get(6), { modified: revision(6), created: revision(6), version: 1 })
})

test('a delete and a put of the same key in one txn: compaction keeps the put', () => {
  const ki = new KeyIndex('k')
  ki.put(revision(2))
  ki.tombstone(revision(5, 0))
  ki.put(revision(5, 1))
  ki.tombstone(revision(7))
  const kept = new Set<string>()
  ki.compact(5, kept)
  assert.equal([...kept], ['5_1'])
  assert.equal(shape(ki), [[5, 7], []])
  assert.equal(ki.get(5)?.modified, revision(5, 1))
  const k2 = new KeyIndex('k2')
  k2.put(revision(5, 0))
  k2.tombstone(revision(5, 1))
  const kept2 = new Set<string>()
  k2.compact(5, kept2)
  assert.equal([...kept2], ['5_1'], 'the tombstone at the compaction revision is kept')
})

test('a key put once (kept without generation objects) answers every query as one generation does', () => {
  const once = (): KeyIndex => {
    const ki = new KeyIndex('k')
    ki.put(revision(5))
    return ki
  }
  const ki = once()
  assert.equal(shape(ki), [[5]])
  assert.is(ki.get(4), undefined)
  assert.equal(ki.get(5), { modified: revision(5), created: revision(5), version: 1 })
  assert.equal(ki.get(9), { modified: revision(5), created: revision(5), version: 1 })
  assert.equal(ki.revisionAt(4), undefined)
  assert.equal(ki.revisionAt(7), revision(5))
  assert.not.ok(ki.aliveAt(4))
  assert.ok(ki.aliveAt(5))
  assert.equal(ki.since(6), [])
  assert.equal(ki.since(5), [revision(5)])
  assert.not.ok(ki.isEmpty())
  for (const [atRev, expected] of [[4, []], [5, ['5_0']], [9, ['5_0']]] as const) {
    const kept = new Set<string>()
    ki.keep(atRev, kept)
    assert.equal([...kept], expected, `keep(${atRev})`)
    const compacted = once()
    const available = new Set<string>()
    compacted.compact(atRev, available)
    assert.equal([...available], expected, `compact(${atRev})`)
    assert.equal(shape(compacted), [[5]])
  }
  // Growing the history leaves the compact form with nothing lost.
  const grown = once()
  grown.put(revision(6))
  assert.equal(grown.get(6), { modified: revision(6), created: revision(5), version: 2 })
  const deleted = once()
  deleted.tombstone(revision(7))
  assert.equal(shape(deleted), [[5, 7], []])
  assert.not.ok(deleted.aliveAt(7))
  const reverted = once()
  reverted.revert(reverted.revisionAt(5)!, false)
  assert.ok(reverted.isEmpty())
  assert.equal(shape(reverted), [[]])
})

test('a restored put keeps the stored creation and version, and later puts count on from them', () => {
  const ki = new KeyIndex('k')
  ki.restorePut(revision(3), revision(7), 4)
  assert.equal(ki.get(7), { modified: revision(7), created: revision(3), version: 4 })
  assert.equal(ki.generations[0]!.ver, 4)
  ki.put(revision(8))
  assert.equal(ki.get(8), { modified: revision(8), created: revision(3), version: 5 })
  assert.equal(ki.get(7), { modified: revision(7), created: revision(3), version: 4 })
})

test.run()
