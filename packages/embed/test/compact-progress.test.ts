import assert from 'node:assert/strict'
import { join } from 'node:path'
import { rejectsWithCode, tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { type Progress, open } from '../src/index.js'

test('compact reports progress through onProgress: batch by batch, in revisions, ending at the compaction revision', async () => {
  const d = await tempDir('strata-compactprog-')
  const events: Progress[] = []
  const store = await open({ dir: join(d.path, 'm'), backend: 'memory', onProgress: (e) => events.push(e) })
  try {
    // 40 revisions of 100 puts each: 4,000 stored versions, four physical batches of 1,000 and one more.
    for (let r = 0; r < 40; r++) {
      await store.txn({ success: Array.from({ length: 100 }, (_, i) => ({ put: { key: `k${i}`, value: `v${r}` } })) })
    }
    const rev = (await store.get('k0')).header.revision
    events.length = 0
    await store.compact(rev, { physical: true })
    const compact = events.filter((e) => e.phase === 'compact')
    assert.ok(compact.length >= 4, `one report per batch, got ${JSON.stringify(compact)}`)
    assert.ok(compact.every((e) => e.total === rev), 'total is the compaction revision')
    assert.ok(compact.every((e, i) => i === 0 || e.done >= compact[i - 1]!.done), 'done never goes back')
    assert.ok(compact[0]!.done < rev, 'the first batch reports part of the way')
    assert.equal(compact.at(-1)!.done, rev, 'the last report says done')
    assert.equal((await store.get('k0')).kvs.length, 1, 'the newest version stays')
  } finally {
    await store.close()
    await d.cleanup()
  }
})

test('an onProgress that throws does not break the compaction it reports on', async () => {
  const d = await tempDir('strata-compactthrow-')
  let calls = 0
  const store = await open({ dir: join(d.path, 'm'), backend: 'memory', onProgress: () => { calls++; throw new Error('a broken progress bar') } })
  try {
    for (let r = 0; r < 12; r++) await store.txn({ success: Array.from({ length: 100 }, (_, i) => ({ put: { key: `k${i}`, value: `v${r}` } })) })
    const rev = (await store.get('k0')).header.revision
    await store.compact(rev, { physical: true })
    assert.ok(calls >= 2, 'it was called')
    await rejectsWithCode(store.get('k0', { revision: rev - 1 }), 'ERR_MVCC_COMPACTED')
    assert.equal((await store.put('after', 'x')).header.revision, rev + 1, 'the store goes on')
  } finally {
    await store.close()
    await d.cleanup()
  }
})


test('defragment reports progress through onProgress in key-value pairs copied, ending at the total', async () => {
  const d = await tempDir('strata-defragprog-')
  const events: Progress[] = []
  const store = await open({ dir: join(d.path, 'm'), onProgress: (e) => events.push(e) })
  try {
    await store.txn({ success: Array.from({ length: 100 }, (_, i) => ({ put: { key: `d${i}`, value: `v${i}` } })) })
    const before = await store.maintenance.hashKV()
    events.length = 0
    await store.maintenance.defragment()
    const defrag = events.filter((e) => e.phase === 'defragment')
    assert.ok(defrag.length >= 1, `at least the last step is reported, got ${JSON.stringify(events)}`)
    const last = defrag.at(-1)!
    assert.ok(last.total !== undefined && last.total >= 100, 'total counts every pair of every bucket')
    assert.equal(last.done, last.total, 'the last report says done')
    assert.equal((await store.maintenance.hashKV(before.revision)).hash, before.hash, 'the data is the same after')
  } finally {
    await store.close()
    await d.cleanup()
  }
})

test.run()
