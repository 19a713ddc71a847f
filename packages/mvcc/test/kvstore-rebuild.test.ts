import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LmdbBackend } from '@strata/backend'
import { SimClock, tempDir } from '@strata/testkit'
import { MvccStore } from '../src/index.js'
import { rebuildIndex } from '../src/kvstore-rebuild.js'
import { memoryBackend } from './helpers.js'

/** Writes `keys` in this order, then rebuilds and compares every revision's full range. */
async function roundTrip(keys: string[]): Promise<void> {
  const backend = memoryBackend()
  const store = await MvccStore.open(backend)
  keys.forEach((k, i) => (i % 7 === 6 ? store.deleteRange(k) : store.put(k, String(i))))
  const want = Array.from({ length: store.revision }, (_, r) => store.range('\0', '\0', { revision: r + 1 }))
  await backend.commit()
  const rebuilt = rebuildIndex(backend.read((tx) => tx))
  rebuilt.index.checkValid()
  const again = await MvccStore.open(backend)
  assert.is(again.revision, store.revision)
  for (let r = 1; r <= again.revision; r++) assert.equal(again.range('\0', '\0', { revision: r }), want[r - 1], `revision ${r}`)
}

test('rebuild from keys written in order, once each, needs no map and matches', async () => {
  await roundTrip(Array.from({ length: 500 }, (_, i) => `k${String(i).padStart(4, '0')}`))
})

test('rebuild with keys rewritten and new keys out of order merges them in', async () => {
  const keys: string[] = []
  for (let i = 0; i < 300; i++) keys.push(`k${String(i * 2).padStart(4, '0')}`)
  for (let i = 0; i < 300; i++) keys.push(`k${String((i * 37) % 600).padStart(4, '0')}`)
  await roundTrip(keys)
})

test('rebuild with a few keys rewritten many times, in and out of order (one search each, then the map), matches', async () => {
  const keys: string[] = []
  for (let round = 0; round < 1500; round++) keys.push(`k${round % 40}`, `a${round % 3}`)
  await roundTrip(keys)
})

test('rebuild over LmdbBackend (its forEachView hands out reused views) matches, with leases, deletes and a compaction', async () => {
  const dir = await tempDir('strata-mvcc-rebuild-')
  try {
    let backend = await LmdbBackend.open(dir.path, { clock: new SimClock() })
    const store = await MvccStore.open(backend)
    for (let i = 0; i < 400; i++) {
      const key = i < 200 ? `k${String(i).padStart(4, '0')}` : `k${(i * 37) % 250}`
      if (i % 9 === 8) store.deleteRange(key)
      else store.put(key, 'v'.repeat(i % 13), { lease: i % 5 === 0 ? 7 : 0 })
    }
    store.compact(150)
    await store.waitCompactions()
    const want = Array.from({ length: store.revision - 150 }, (_, r) => store.range('\0', '\0', { revision: r + 151 }))
    await backend.commit()
    const attached: string[] = []
    const before = store.revision
    await store.close()
    await backend.close()
    backend = await LmdbBackend.open(dir.path, { clock: new SimClock() })
    const again = await MvccStore.open(backend, { onLeaseAttached: (k, lease) => attached.push(`${Buffer.from(k).toString('latin1')}:${lease}`) })
    assert.is(again.revision, before)
    for (let r = 151; r <= again.revision; r++) assert.equal(again.range('\0', '\0', { revision: r }), want[r - 151], `revision ${r}`)
    const live = again.range('\0', '\0').kvs.filter((kv) => kv.lease !== 0).map((kv) => `${Buffer.from(kv.key).toString('latin1')}:${kv.lease}`)
    assert.equal(attached.sort(), live.sort())
    assert.ok(live.length > 0)
    await again.close()
    await backend.close()
  } finally {
    await dir.cleanup()
  }
})

test.run()
