import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type Backend, LmdbBackend } from '@strata/backend'
import { DATA_FILE, ENV_OPTIONS, scanHeadsOnThread } from '@strata/backend/internal'
import { SimClock, tempDir, withSeed } from '@strata/testkit'
import { type MvccError, MvccStore } from '../src/index.js'
import { encodeRevision } from '../src/internal.js'
import { type Rebuilt, foldPolicy, rebuildIndex, rebuildIndexFromScan, runSortByKey } from '../src/kvstore-rebuild.js'
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

test('rebuild with few keys in order and most out of order (the side keys between two sorted keys found by galloping), rewrites of both kinds, matches', async () => {
  await withSeed('gallop', async (prng) => {
    const keys = ['k5000', 'k9000', 'k9500']
    for (let i = 0; i < 800; i++) keys.push(prng.bool(0.05) ? keys[prng.int(3)]! : `k${String(prng.int(10_000)).padStart(4, '0')}`)
    await roundTrip(keys)
  })
})

test('keys mostly new and out of order (the fold takes the side log\'s revisions as slots) or mostly rewritten (it does not), with deletes and re-creations, rebuild to the same ranges', async () => {
  for (const fresh of [0.97, 0.5]) {
    await withSeed(`adopt-${fresh}`, async (prng) => {
      const keys = ['z']
      for (let i = 0; i < 700; i++) keys.push(keys.length === 1 || prng.bool(fresh) ? `k${String(prng.int(1_000_000)).padStart(6, '0')}` : keys[1 + prng.int(keys.length - 1)]!)
      await roundTrip(keys)
    })
  }
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

/** Everything a rebuild recovered, as plain data: every key's generations, the counters, the lease attachments. */
function describe(r: Rebuilt): unknown {
  r.index.checkValid()
  const keys: unknown[] = []
  r.index.visit('\0', '', (ki) => void keys.push([ki.key, ki.modified, ki.generations]))
  const leases = [...r.keyLeases].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return { keys, lastMain: r.lastMain, finished: r.finishedCompactRev, scheduled: r.scheduledCompactRev, leases }
}

test('the rebuild on a backend thread recovers exactly what the synchronous pass does (random LMDB store)', async () => {
  const dir = await tempDir('strata-mvcc-rebuild-')
  try {
    await withSeed('thread rebuild', async (prng) => {
      const backend = await LmdbBackend.open(dir.path, { clock: new SimClock() })
      // The gate holds the physical compaction between its batches while it is closed.
      let open = true
      const held: (() => void)[] = []
      const yieldFn = (): Promise<void> => (open ? Promise.resolve() : new Promise<void>((resolve) => held.push(resolve)))
      const store = await MvccStore.open(backend, { compactionBatchLimit: 100, yieldFn })
      const key = (): string => `k${prng.int(400)}`.padEnd(1 + prng.int(20), String.fromCharCode(97 + prng.int(26)))
      for (let i = 0; i < 6000; i++) {
        const op = prng.int(20)
        if (op === 0) store.deleteRange(key())
        else if (op === 1) store.deleteRange('k1', 'k2')
        else if (op === 2) {
          store.txn({ compare: [], success: [{ put: { key: `${key()}x`, value: 'a' } }, { put: { key: `${key()}y`, value: 'b', options: { lease: 9 } } }] })
        } else store.put(key(), 'v'.repeat(prng.int(300)), { lease: prng.bool(0.2) ? 1 + prng.int(5) : 0 })
        if (i === 3000) store.compact(store.revision - 200)
      }
      await store.waitCompactions()
      // The last compaction held after its first batch: scheduled, not finished, half done.
      open = false
      store.compact(store.revision - 50)
      while (held.length === 0) await new Promise((resolve) => setImmediate(resolve))
      await backend.commit()
      const sync = describe(backend.read((tx) => rebuildIndex(tx))) as { keys: unknown[]; finished: number; scheduled: number }
      assert.ok(sync.finished < sync.scheduled && sync.keys.length > 300)
      assert.equal(describe(await rebuildIndexFromScan(backend)), sync)
      open = true
      held.forEach((resolve) => resolve())
      await store.waitCompactions()
      await store.close()
      await backend.close()
    })
  } finally {
    await dir.cleanup()
  }
})

/** A method of `target` bound to it (a Proxy's caller would pass the proxy as `this`, which has none of its private fields). */
const bind = (target: object, v: unknown): unknown => (typeof v === 'function' ? v.bind(target) : v)

test('the rebuild reads no value bytes, yet damage there is found where the scan reads them: the same typed error, on the scan thread and on the calling thread', async () => {
  const dir = await tempDir('strata-mvcc-rebuild-')
  try {
    const backend = await LmdbBackend.open(dir.path, { clock: new SimClock() })
    const store = await MvccStore.open(backend, { location: 'the test store' })
    for (let i = 0; i < 300; i++) store.put(`k${i % 40}`, `value ${i} `.repeat(1 + (i % 5)))
    await store.close()
    await backend.commit()
    const onThread = new Proxy(backend, {
      get: (target, name) => (name === 'scanHeads' ? (bucket: 'key', head: Parameters<NonNullable<Backend['scanHeads']>>[1]) => scanHeadsOnThread(`${dir.path}/${DATA_FILE}`, ENV_OPTIONS, bucket, head, { chunkBytes: 2048 }) : bind(target, Reflect.get(target, name, target))),
    }) as Backend
    const sound = describe(backend.read((tx) => rebuildIndex(tx)))
    assert.equal(describe(await rebuildIndexFromScan(backend)), sound)
    assert.equal(describe(await rebuildIndexFromScan(onThread)), sound, 'the thread checks, the rebuild takes headers and keys')
    // One bit of revision 200's value (its last byte: past the header and the key) flipped.
    const rev = encodeRevision({ main: 200, sub: 0 })
    backend.write((tx) => {
      const v = new Uint8Array(tx.get('key', rev)!)
      v[v.length - 1]! ^= 0x10
      tx.put('key', rev, v)
    })
    await backend.commit()
    for (const b of [backend, onThread]) {
      let err: MvccError | undefined
      try {
        await rebuildIndexFromScan(b, 'the test store')
      } catch (e) {
        err = e as MvccError
      }
      assert.is(err?.code, 'ERR_MVCC_CORRUPT')
      assert.match(err!.message, /a record that fails its checksum at revision 200\.0/)
      assert.match(err!.message, /"k38"/)
      assert.match(err!.message, /the test store/)
    }
    await backend.close()
  } finally {
    await dir.cleanup()
  }
})

test('restore rebuilds the index as open does (the event loop turns between chunks), refusing reads and hashes until it is done', async () => {
  const dir = await tempDir('strata-mvcc-restore-')
  try {
    const source = await LmdbBackend.open(`${dir.path}/source`)
    const from = await MvccStore.open(source)
    for (let i = 0; i < 30_000; i += 1_000) from.write((txn) => { for (let j = i; j < i + 1_000; j++) txn.put(`k${String(j).padStart(6, '0')}`, 'v'.repeat(40)) })
    await source.commit()
    const chunks: Uint8Array[] = []
    for await (const c of source.snapshot()) chunks.push(c)
    const target = await LmdbBackend.open(`${dir.path}/target`)
    const store = await MvccStore.open(target)
    store.put('old', 'x')
    const seen = new Set<string>()
    let spinning = true
    const probe = (): void => {
      if (!spinning) return
      if (store.restoring) {
        // Before the contents are replaced a read sees the old state whole; after, none is served.
        for (const f of [() => (store.range('old').count === 1 && store.range('k000001').count === 0 ? 'old state' : 'a mix'), () => (store.hash(), 'old state')]) {
          try {
            seen.add(f())
          } catch (err) {
            seen.add((err as MvccError).code)
          }
        }
      }
      setImmediate(probe)
    }
    setImmediate(probe)
    let restoredFirst = false
    const waiting = (async () => {
      await new Promise((resolve) => setImmediate(resolve))
      await store.restored()
      restoredFirst = !store.restoring
    })()
    await store.restore(() => target.restore((async function* () { yield* chunks })()))
    spinning = false
    await waiting
    assert.ok(seen.has('ERR_MVCC_BUSY'), 'reads were refused while the index was rebuilt')
    assert.equal([...seen].sort(), ['ERR_MVCC_BUSY', 'old state'], 'no read was served from the old index over the new contents')
    assert.ok(restoredFirst, 'restored() settles when the restore is done')
    assert.is(store.restoring, false)
    assert.is(store.range('k', 'l', { countOnly: true }).count, 30_000)
    assert.is(store.range('old').count, 0)
    assert.is(store.hash().hash, from.hash().hash)
    await store.close()
    await from.close()
    await target.close()
    await source.close()
  } finally {
    await dir.cleanup()
  }
})

test('a backend without a thread scan (memory) gets the synchronous rebuild', async () => {
  const backend = memoryBackend()
  const store = await MvccStore.open(backend)
  for (let i = 0; i < 50; i++) store.put(`k${i % 7}`, String(i), { lease: i % 3 })
  await backend.commit()
  assert.is((backend as Backend).scanHeads, undefined)
  assert.equal(describe(await rebuildIndexFromScan(backend)), describe(backend.read((tx) => rebuildIndex(tx))))
})

test('keys written in random order (more than one sort slice of them: the merge passes run) rebuild into the same index, synchronously and with pauses', async () => {
  const dir = await tempDir('strata-mvcc-rebuild-')
  try {
    const backend = await LmdbBackend.open(dir.path, { clock: new SimClock(), batchLimit: 1_000_000 })
    const store = await MvccStore.open(backend)
    const n = 80_000
    const order = Array.from({ length: n }, (_, i) => i)
    let seed = 99
    for (let i = n - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) >>> 0
      const j = seed % (i + 1)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    const key = (i: number): string => `r${String(i).padStart(6, '0')}`
    for (let t = 0; t < n; t += 100) {
      store.write((txn) => {
        for (let i = t; i < t + 100; i++) txn.put(key(order[i]!), 'v')
      })
    }
    store.put(key(order[5]!), 'again') // one key rewritten out of order
    store.deleteRange(key(order[7]!))
    await backend.commit()
    const want = Array.from({ length: n }, (_, i) => key(i)).filter((k) => k !== key(order[7]!))
    const sync = backend.read((tx) => rebuildIndex(tx))
    sync.index.checkValid()
    assert.equal(sync.index.revisions('\0', '', store.revision).keys, want)
    assert.is(sync.index.get(key(order[5]!), store.revision)?.version, 2)
    let pauses = 0
    const paused = await rebuildIndexFromScan(backend, 'test', async () => void pauses++)
    assert.equal(describe(paused), describe(sync))
    assert.ok(pauses > 10, `${pauses} pauses`)
    await store.close()
    await backend.close()
  } finally {
    await dir.cleanup()
  }
})

test('the side log\'s radix sort orders latin1 keys as strings do, equal keys in position order, and marks where each distinct key begins', () => {
  withSeed('sortByKey', (prng) => {
    const stems = ['', 'a', '/registry/pods/default/', '/registry/pods/default/x', 'ab\0', 'ab', '\xff\xfe', 'k']
    const keys: string[] = []
    for (let i = 0; i < 20_000; i++) {
      const stem = stems[prng.int(stems.length)]!
      let tail = ''
      for (let n = prng.int(prng.bool(0.5) ? 3 : 12); n > 0; n--) tail += String.fromCharCode(prng.bool(0.2) ? 0 : prng.int(256))
      keys.push(stem + tail)
    }
    for (let i = 0; i < 2_000; i++) keys.push(keys[prng.int(keys.length)]!) // duplicates: the same strings
    for (let i = 0; i < 2_000; i++) keys.push(Array.from(keys[prng.int(keys.length)]!).join('')) // and equal ones
    const want = Array.from(keys, (_, j) => j).sort((x, y) => (keys[x]! < keys[y]! ? -1 : keys[x]! > keys[y]! ? 1 : x - y))
    const { order, starts } = runSortByKey(keys, keys.length)
    assert.equal(Array.from(order), want)
    const wantStarts = want.map((j, p) => (p === 0 || keys[j] !== keys[want[p - 1]!] ? 1 : 0))
    assert.equal(Array.from(starts), wantStarts)
    assert.ok(wantStarts.includes(0), 'duplicates present')
    // Fewer keys than a radix run takes: sorted by comparison alone.
    const few = ['b', 'a', 'b'.concat(''), 'ab', 'a\0', 'a', Array.from('ab').join('')]
    const small = runSortByKey(few, few.length)
    assert.equal(Array.from(small.order), [1, 5, 4, 3, 6, 0, 2])
    assert.equal(Array.from(small.starts), [1, 0, 1, 1, 0, 1, 0])
  })
})

test('a store written in random key order with rewrites and deletes past the side log\'s fold size rebuilds to the same ranges', async () => {
  await withSeed('fold', async (prng) => {
    foldPolicy.minRecords = 1 << 15
    const backend = memoryBackend()
    const store = await MvccStore.open(backend)
    const n = 60_000
    const key = (i: number): string => `${(i * 2654435761) >>> 0}`
    for (let i = 0; i < n; i += 100) store.write((txn) => {
      for (let j = i; j < i + 100; j++) txn.put(key(j), 'v')
    })
    for (let i = 0; i < 40_000; i++) {
      const k = key(prng.int(n))
      if (i % 10 === 3) store.deleteRange(k)
      else store.put(k, String(i))
    }
    const revisions = [n / 100, store.revision]
    const want = revisions.map((r) => store.range('\0', '\0', { revision: r }))
    await backend.commit()
    const again = await MvccStore.open(backend).finally(() => (foldPolicy.minRecords = 1 << 20))
    assert.is(again.revision, store.revision)
    revisions.forEach((r, i) => assert.equal(again.range('\0', '\0', { revision: r }), want[i], `revision ${r}`))
  })
})

test.run()
