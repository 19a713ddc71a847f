import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { KeyIndex } from '../src/key-index.js'
import { revision } from '../src/revision.js'
import { CompactKeys, TreeIndex } from '../src/tree-index.js'

/** a@2 b@3 c@4, b deleted at 5, a put again at 6. */
function sample(): TreeIndex {
  const t = new TreeIndex()
  t.put('a', revision(2))
  t.put('b', revision(3))
  t.put('c', revision(4))
  t.tombstone('b', revision(5))
  t.put('a', revision(6))
  return t
}

test('revisions returns the keys alive at a revision, in key order', () => {
  const t = sample()
  assert.equal(t.revisions('a', '', 4).keys, ['a', 'b', 'c'])
  assert.equal(t.revisions('a', '', 4).revs, [revision(2), revision(3), revision(4)])
  assert.equal(t.revisions('a', '', 6).keys, ['a', 'c'])
  assert.equal(t.revisions('a', '', 6).revs, [revision(6), revision(4)])
  assert.equal(t.revisions('b', 'c', 4).keys, ['b'])
  assert.equal(t.revisions('b', undefined, 5).keys, [])
  assert.equal(t.revisions('c', 'b', 6).keys, [], 'an empty range')
})

test('putAfterGet records the put and says what get returned just before it', () => {
  const t = sample()
  const other = sample()
  // A new key, a key put once (a slot), a key with history, a deleted key.
  for (const [key, main] of [['d', 7], ['c', 8], ['a', 9], ['b', 10], ['c', 11]] as const) {
    const before = other.get(key, main)
    other.put(key, revision(main))
    assert.is(t.putAfterGet(key, revision(main)), before !== undefined, `${key}@${main}`)
    if (before !== undefined) {
      const b = t.before
      assert.equal({ modified: revision(b.modMain, b.modSub), created: before.created.main, version: b.version }, { ...before, created: before.created.main }, `${key}@${main}`)
    }
    assert.equal(t.get(key, main), other.get(key, main))
  }
  assert.equal(t.revisions('a', '', 11), other.revisions('a', '', 11))
  assert.equal(t.get('c', 11), { modified: revision(11), created: revision(4), version: 3 })
})

test('limit caps what is allocated but total counts every alive key', () => {
  const t = sample()
  for (const [limit, keys] of [[1, ['a']], [2, ['a', 'b']], [3, ['a', 'b', 'c']], [4, ['a', 'b', 'c']]] as const) {
    const r = t.revisions('a', '', 4, limit)
    assert.equal(r.keys, keys)
    assert.is(r.revs.length, keys.length)
    assert.is(r.total, 3)
  }
  assert.is(t.revisions('a', '', 4, 1, false).total, 1, 'without total the walk stops at the limit')
})

test('countRevisions agrees with revisions at every revision', () => {
  const t = sample()
  for (let rev = 1; rev <= 7; rev++) {
    for (const [k, e] of [['a', ''], ['a', 'c'], ['b', undefined], ['a', undefined], ['bb', '']] as const) {
      assert.is(t.countRevisions(k, e, rev), t.revisions(k, e, rev).total, `count ${k}..${String(e)} @${rev}`)
    }
  }
})

test('compaction removes keys left empty and returns what to keep', () => {
  const t = sample()
  const keep = t.compact(5)
  assert.equal([...keep].sort(), ['2_0', '4_0', '5_0'])
  assert.is(t.size, 3, 'b keeps its tombstone at the compaction revision')
  const keep2 = t.compact(6)
  assert.equal([...keep2].sort(), ['4_0', '6_0'])
  assert.is(t.size, 2)
  assert.is(t.keyIndex('b'), undefined)
  t.checkValid()
})

test('keep leaves the index unchanged', () => {
  const t = sample()
  assert.equal([...t.keep(5)].sort(), ['2_0', '4_0'])
  assert.is(t.size, 3)
  assert.equal(t.revisions('a', '', 4).keys, ['a', 'b', 'c'])
})

test('rangeSince lists every change from a revision on, sorted', () => {
  const t = sample()
  assert.equal(t.rangeSince('a', '', 4), [revision(4), revision(5), revision(6)])
})

test('fromSorted builds the same index as inserting', () => {
  const keys = ['k1', 'k2', 'k3']
  const kis = keys.map((k, i) => {
    const ki = new KeyIndex(k)
    ki.put(revision(i + 2))
    return ki
  })
  const t = TreeIndex.fromSorted(keys, kis)
  t.checkValid()
  assert.equal(t.revisions('k', '', 10).keys, keys)
  t.put('k0', revision(9))
  assert.is(t.countRevisions('k', 'l', 10), 4)
})

test('bytes above 0x7f sort after ASCII as in the backend', () => {
  const t = new TreeIndex()
  t.put('\u00ff', revision(2))
  t.put('z', revision(3))
  t.put('\u0080a', revision(4))
  assert.equal(t.revisions('\u0000', '', 5).keys, ['z', '\u0080a', '\u00ff'])
})

test('counts by rank agree with a walk over random histories, at every revision', () => {
  let seed = 12345
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n)
  const t = new TreeIndex()
  const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`)
  let rev = 1
  for (let i = 0; i < 3000; i++) {
    const k = keys[rand(keys.length)]!
    rev++
    if (rand(4) === 0 && t.keyIndex(k)?.aliveAt(rev) === true) t.tombstone(k, revision(rev))
    else t.put(k, revision(rev))
  }
  t.checkValid()
  for (let q = 0; q < 300; q++) {
    const a = keys[rand(keys.length)]!
    const b = rand(5) === 0 ? '' : keys[rand(keys.length)]!
    const [lo, hi] = b === '' || a <= b ? [a, b] : [b, a]
    const at = rand(3) === 0 ? rev : 1 + rand(rev)
    assert.is(t.countRevisions(lo, hi, at), t.walkCount(lo, hi, at), `count ${lo}..${hi} @${at}`)
    const limited = t.revisions(lo, hi, at, 5)
    assert.is(limited.total, t.walkCount(lo, hi, at))
    assert.ok(limited.keys.length <= 5)
  }
  t.compact(rev - 500)
  t.checkValid()
  assert.is(t.countRevisions('k', '', rev), t.walkCount('k', '', rev))
})

test('a bulk-loaded index whose keys are all alive shares its live set with the tree until writes make them differ', () => {
  const slots = new CompactKeys()
  const keys = Array.from({ length: 2000 }, (_, i) => `k${String(i).padStart(5, '0')}`)
  const entries = keys.map((_k, i) => slots.alloc(i + 2, i % 3))
  const t = TreeIndex.fromSorted(keys, entries, keys.length + 1, slots)
  t.checkValid()
  assert.is(t.countRevisions('k', 'l', keys.length + 1), 2000)
  let rev = keys.length + 1
  for (let i = 0; i < 2000; i += 7) t.tombstone(keys[i]!, revision(++rev))
  for (let i = 3; i < 2000; i += 11) t.put(keys[i]!, revision(++rev))
  t.put('a-new', revision(++rev))
  // Promoted in place in leaves the live set still shares, then deleted: the set copies the leaf.
  for (let i = 5; i < 2000; i += 13) t.put(keys[i]!, revision(++rev))
  for (let i = 5; i < 2000; i += 26) t.tombstone(keys[i]!, revision(++rev))
  t.checkValid()
  assert.is(t.get('k00005', rev), undefined, 'promoted, then deleted')
  assert.is(t.get('k00018', rev)?.version, 2, 'promoted in a shared leaf')
  for (const [lo, hi] of [['k', 'l'], ['k00100', 'k01000'], ['a', ''], ['k01999', '']] as const) {
    assert.is(t.countRevisions(lo, hi, rev), t.walkCount(lo, hi, rev), `${lo}..${hi}`)
  }
  assert.equal(t.get('k00001', rev), { modified: revision(3, 1), created: revision(3, 1), version: 1 }, 'a slot reads as a put at version 1')
  assert.is(t.get('k00000', rev), undefined, 'deleted')
  assert.is(t.get('k00003', rev)?.version, 2, 'a slot put again became a KeyIndex')
})

test('a key held as a slot is promoted when its history grows, and a revert of its only put removes it', () => {
  const t = new TreeIndex()
  t.put('a', revision(2, 1))
  t.put('b', revision(3))
  t.revert('b', revision(3), false)
  assert.is(t.keyIndex('b'), undefined)
  t.put('a', revision(4))
  t.tombstone('a', revision(5))
  t.revert('a', revision(5), true)
  t.revert('a', revision(4), false)
  assert.equal(t.get('a', 9), { modified: revision(2, 1), created: revision(2, 1), version: 1 })
  assert.equal(t.rangeSince('a', '', 0), [revision(2, 1)])
  assert.equal([...t.keep(9)], ['2_1'])
  t.checkValid()
})

test('bulk loads of every awkward size (the last block balanced with the one before) build valid trees', () => {
  for (const n of [0, 1, 31, 32, 52, 53, 60, 64, 83, 84, 85, 104, 105, 120, 1000, 5001]) {
    const slots = new CompactKeys()
    const keys = Array.from({ length: n }, (_, i) => `k${String(i).padStart(6, '0')}`)
    const entries = keys.map((_k, i) => slots.alloc(i + 2, 0))
    const t = TreeIndex.fromSorted(keys, entries, n + 1, slots)
    t.checkValid()
    assert.is(t.size, n)
    assert.is(t.countRevisions('k', '', n + 1), n, `count of ${n}`)
    if (n > 0) {
      t.tombstone(keys[n - 1]!, revision(n + 2))
      t.put('a', revision(n + 3))
      t.checkValid()
      assert.is(t.countRevisions('\0', '', n + 3), n)
    }
  }
})

test.run()
