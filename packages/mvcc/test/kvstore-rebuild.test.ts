import { test } from 'uvu'
import * as assert from 'uvu/assert'
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

test('rebuild switches to one map when searches outnumber the keys', async () => {
  const keys: string[] = []
  for (let round = 0; round < 1500; round++) keys.push(`k${round % 40}`, `a${round % 3}`)
  await roundTrip(keys)
})

test.run()
