import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MvccStore } from '../src/index.js'
import { decodeRevision, encodeRevision, isTombstoneKey, readTotals, storedChecksum, writeTotals } from '../src/internal.js'
import { codeOf, memoryBackend, newStore, text } from './helpers.js'
import type { MemoryBackend } from '@strata/backend'

const enc = new TextEncoder()

function storedRevisions(backend: MemoryBackend): string[] {
  const out: string[] = []
  backend.read((tx) => tx.forEach('key', new Uint8Array(0), undefined, (k) => {
    const r = decodeRevision(k)
    out.push(`${r.main}.${r.sub}${isTombstoneKey(k) ? 't' : ''}`)
  }))
  return out
}

function metaRev(backend: MemoryBackend, name: string): number | undefined {
  const b = backend.read((tx) => tx.get('meta', enc.encode(name)))
  return b === undefined ? undefined : decodeRevision(b).main
}

test('compaction deletes what no read at or after it needs, keeping the tombstone at its revision', async () => {
  const { store, backend } = await newStore({ compactionBatchLimit: 2 })
  store.put('a', '1') // 2
  store.put('a', '2') // 3
  store.put('b', '1') // 4
  store.deleteRange('b') // 5
  store.put('c', '1') // 6
  store.deleteRange('c') // 7
  store.put('a', '3') // 8
  await store.compact(7).done
  assert.equal(storedRevisions(backend), ['3.0', '7.0t', '8.0'])
  assert.is(metaRev(backend, 'scheduledCompactRev'), 7)
  assert.is(metaRev(backend, 'finishedCompactRev'), 7)
  assert.is(text(store.range('a', undefined, { revision: 7 }).kvs[0]!.value), '2')
  assert.is(store.range('a', '\0', { revision: 7 }).count, 1)
  await store.compact(8).done
  assert.equal(storedRevisions(backend), ['8.0'])
  assert.is(store.indexSize, 1)
})

test('the logical compaction is immediate and the physical one runs in batches that yield', async () => {
  let yields = 0
  const { store, backend } = await newStore({ compactionBatchLimit: 10, yieldFn: () => (yields++, Promise.resolve()) })
  for (let i = 0; i < 100; i++) store.put('k', String(i))
  const handle = store.compact(90)
  assert.is(codeOf(() => store.range('k', undefined, { revision: 89 })), 'ERR_MVCC_COMPACTED')
  await handle.scheduled
  await handle.done
  assert.is(yields, 8, '90 revisions in batches of 10: 9 full batches, an empty last one')
  assert.is(storedRevisions(backend).length, 12)
})

test('a crash between compaction batches resumes on open; reads below stay refused', async () => {
  let batches = 0
  const crashAt = 3
  const backend = memoryBackend()
  const store = await MvccStore.open(backend, {
    compactionBatchLimit: 5,
    yieldFn: () => Promise.resolve(),
    failpoint: (name) => {
      if (name === 'compactAfterCommitBatch' && ++batches === crashAt) throw new Error('crash')
    },
  })
  for (let i = 0; i < 40; i++) store.put(`k${i % 4}`, String(i))
  await backend.commit()
  const expected = store.range('k', '\0', { revision: 30 })
  try {
    await store.compact(30).done
    assert.unreachable('the failpoint crashes the compaction')
  } catch (err) {
    assert.is((err as Error).message, 'crash')
  }
  const survivor = backend.crash()
  assert.is(metaRev(survivor, 'finishedCompactRev'), undefined)
  assert.ok(storedRevisions(survivor).length > 8, 'the compaction was interrupted half way')
  const again = await MvccStore.open(survivor, { compactionBatchLimit: 5, yieldFn: () => Promise.resolve() })
  assert.is(again.compactRevision, 30)
  assert.is(again.revision, 41)
  assert.is(codeOf(() => again.range('k0', undefined, { revision: 2 })), 'ERR_MVCC_COMPACTED')
  await again.waitCompactions()
  assert.is(metaRev(survivor, 'finishedCompactRev'), 30)
  assert.equal(again.range('k', '\0', { revision: 30 }), expected)
  assert.equal(storedRevisions(survivor).filter((r) => Number(r.split('.')[0]) <= 30).length, 4)
})

test('the revision never goes backwards after a crash during compaction', async () => {
  const backend = memoryBackend()
  const store = await MvccStore.open(backend)
  store.put('a', '1')
  store.put('a', '2')
  await backend.commit()
  // As if the compaction to 9 was scheduled and its first batch had removed revisions the
  // index would have kept (the shape etcd PR #17865 guards against).
  backend.write((tx) => {
    tx.put('meta', enc.encode('scheduledCompactRev'), encodeRevision({ main: 9, sub: 0 }))
    const gone = encodeRevision({ main: 3, sub: 0 })
    // A compaction batch takes the deleted record out of the totals in its transaction.
    const totals = readTotals(tx, 'test')!
    totals.remove(storedChecksum(tx.get('key', gone)!, 0))
    writeTotals(tx, totals)
    tx.delete('key', gone)
  })
  await backend.commit()
  const again = await MvccStore.open(backend.crash(), { yieldFn: () => Promise.resolve() })
  assert.is(again.revision, 9)
  assert.is(again.put('b', '1').revision, 10)
})

test('restore during a 100,000-revision compaction in small batches finishes (#11817)', async () => {
  const { store, backend } = await newStore({ compactionBatchLimit: 100, yieldFn: () => new Promise((r) => setImmediate(r)) })
  for (let i = 0; i < 1000; i++) {
    store.write((txn) => {
      for (let j = 0; j < 100; j++) txn.put(`k${j}`, String(i))
    })
  }
  assert.is(store.revision, 1001)
  await backend.commit()
  const handle = store.compact(1000)
  let batches = 0
  while (batches < 5) {
    await new Promise((r) => setImmediate(r))
    batches++
  }
  await store.restore()
  await handle.done
  assert.is(store.compactRevision, 1000)
  await store.waitCompactions()
  assert.equal(storedRevisions(backend).length, 200, 'the resumed compaction finished')
  assert.is(store.range('k', '\0', { countOnly: true }).count, 100)
  assert.is(store.put('x', 'y').revision, 1002)
})

test('restoring a snapshot while a 100,000-revision compaction runs stops it first, then rebuilds (#11817)', async () => {
  const { store, backend } = await newStore({ compactionBatchLimit: 50, yieldFn: () => new Promise((r) => setImmediate(r)) })
  for (let i = 0; i < 1000; i++) {
    store.write((txn) => {
      for (let j = 0; j < 100; j++) txn.put(`k${j}`, String(i))
    })
  }
  await backend.commit()
  const leader = await newStore()
  for (let i = 0; i < 20; i++) leader.store.put(`x${i % 4}`, String(i))
  await leader.store.compact(10).done
  const handle = store.compact(900)
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r))
  await store.restore(() => backend.restore(leader.backend.snapshot()))
  await handle.done
  await store.waitCompactions()
  assert.is(store.revision, 21)
  assert.is(store.compactRevision, 10)
  assert.equal(store.hash(), leader.store.hash())
  assert.equal(store.range('x', '\0'), leader.store.range('x', '\0'))
  assert.is(store.put('y', '1').revision, 22)
})

test('restore from another backend replaces the whole state', async () => {
  const { store } = await newStore()
  store.put('a', '1')
  const other = await newStore()
  other.store.put('x', '1')
  other.store.put('y', '1')
  other.store.put('z', '1')
  await other.backend.commit()
  await store.restore(other.backend)
  assert.is(store.revision, 4)
  assert.equal(store.range('a', '\0').kvs.map((kv) => text(kv.key)), ['x', 'y', 'z'])
})

test('close stops compaction between batches and later calls fail', async () => {
  const { store } = await newStore({ compactionBatchLimit: 1 })
  for (let i = 0; i < 20; i++) store.put('k', String(i))
  const h = store.compact(20)
  await store.close()
  await h.done
  assert.is(codeOf(() => store.put('a', 'b')), 'ERR_MVCC_CLOSED')
})

test('hashes are equal on two stores given the same writes, whatever their compaction progress', async () => {
  const a = await newStore({ compactionBatchLimit: 3 })
  const b = await newStore({ compactionBatchLimit: 1000 })
  for (const s of [a.store, b.store]) {
    for (let i = 0; i < 60; i++) {
      if (i % 7 === 6) s.deleteRange(`k${i % 5}`)
      else s.put(`k${i % 5}`, String(i))
    }
  }
  assert.equal(a.store.hashByRev(40), b.store.hashByRev(40))
  assert.equal(a.store.hash(), b.store.hash())
  await b.store.compact(30).done
  const seen = new Set<string>()
  const hashes: string[] = []
  const slow = await newStore({ compactionBatchLimit: 3, yieldFn: async () => { hashes.push(slow.store.hashByRev(55).hash) } })
  for (let i = 0; i < 60; i++) {
    if (i % 7 === 6) slow.store.deleteRange(`k${i % 5}`)
    else slow.store.put(`k${i % 5}`, String(i))
  }
  await slow.store.compact(30).done
  for (const h of hashes) seen.add(h)
  assert.ok(hashes.length > 5, 'hashed between batches')
  assert.is(seen.size, 1, 'stable while the compaction runs')
  assert.equal(slow.store.hashByRev(55), b.store.hashByRev(55))
  assert.is(b.store.hashByRev(55).compactRevision, 30)
  assert.is(codeOf(() => b.store.hashByRev(20)), 'ERR_MVCC_COMPACTED')
  assert.is(codeOf(() => b.store.hashByRev(99)), 'ERR_MVCC_FUTURE_REV')
  assert.is.not(a.store.hashByRev(40).hash, a.store.hashByRev(41).hash)
})

test.run()
