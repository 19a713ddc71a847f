import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MemoryBackend } from '@strata/backend'
import { type MvccError, MvccStore } from '../src/index.js'
import xxhash from 'xxhash-wasm'
import { TOTALS_KEY, Totals, checksum, encodeRevision, readTotals } from '../src/internal.js'
import { codeOf, memoryBackend, newStore, text } from './helpers.js'

const enc = new TextEncoder()

/** Rewrites the stored record of `rev` through `damage`, behind the store's back. */
function damage(backend: MemoryBackend, rev: Uint8Array, fn: (v: Uint8Array) => Uint8Array | undefined): void {
  backend.write((tx) => {
    const v = fn(new Uint8Array(tx.get('key', rev)!))
    if (v === undefined) tx.delete('key', rev)
    else tx.put('key', rev, v)
  })
}

async function openError(backend: MemoryBackend): Promise<MvccError> {
  try {
    await MvccStore.open(backend)
  } catch (err) {
    return err as MvccError
  }
  throw new Error('open succeeded on a damaged store')
}

test('a flipped bit in a stored value is ERR_MVCC_CORRUPT naming revision, key and location on read, and writes are refused after it', async () => {
  const backend = memoryBackend()
  const store = await MvccStore.open(backend, { location: '/data/db/data.mdb' })
  store.put('alpha', 'one')
  store.put('beta', 'two')
  damage(backend, encodeRevision({ main: 2, sub: 0 }), (v) => {
    v[v.length - 1]! ^= 0x04
    return v
  })
  assert.is(text(store.range('beta').kvs[0]!.value), 'two')
  let err: MvccError | undefined
  try {
    store.range('alpha')
  } catch (e) {
    err = e as MvccError
  }
  assert.is(err?.code, 'ERR_MVCC_CORRUPT')
  assert.match(err!.message, /revision 2\.0/)
  assert.match(err!.message, /"alpha"/)
  assert.match(err!.message, /\/data\/db\/data\.mdb/)
  assert.match(err!.message, /restore .* from a snapshot or backup/)
  assert.is(store.corruption?.code, 'ERR_MVCC_CORRUPT')
  assert.is(codeOf(() => store.put('gamma', 'three')), 'ERR_MVCC_CORRUPT')
  assert.is(codeOf(() => store.compact(2)), 'ERR_MVCC_CORRUPT')
  // Reads of intact records still work.
  assert.is(text(store.range('beta').kvs[0]!.value), 'two')
})

test('onCorruption hears each damaged read after it failed, a late listener the damage met before; unsubscribed, nothing', async () => {
  const backend = memoryBackend()
  const store = await MvccStore.open(backend)
  store.put('alpha', 'one')
  store.put('beta', 'two')
  const heard: string[] = []
  const stop = store.onCorruption((err) => heard.push(`${err.code} ${(err.context as { key?: string }).key}`))
  store.range('beta')
  await Promise.resolve()
  assert.equal(heard, [], 'intact reads are not heard')
  damage(backend, encodeRevision({ main: 2, sub: 0 }), (v) => {
    v[v.length - 1]! ^= 0x04
    return v
  })
  assert.is(codeOf(() => store.range('alpha')), 'ERR_MVCC_CORRUPT')
  assert.equal(heard, [], 'not inside the failing read')
  await Promise.resolve()
  assert.equal(heard, ['ERR_MVCC_CORRUPT alpha'])
  assert.is(codeOf(() => store.range('alpha')), 'ERR_MVCC_CORRUPT')
  await Promise.resolve()
  assert.is(heard.length, 2, 'every damaged read is heard')
  const late: string[] = []
  store.onCorruption((err) => late.push(err.code))
  await Promise.resolve()
  assert.equal(late, ['ERR_MVCC_CORRUPT'], 'a listener added after the damage hears it at once')
  stop()
  assert.is(codeOf(() => store.range('alpha')), 'ERR_MVCC_CORRUPT')
  await Promise.resolve()
  assert.is(heard.length, 2)
  assert.is(codeOf(() => store.onCorruption(undefined as never)), 'ERR_MVCC_INVALID_ARGUMENT')
})

test('the record checksum is xxh32: equal to xxhash-wasm on every length 0..300, any offset and seed', async () => {
  const wasm = await xxhash()
  const backing = new Uint8Array(405)
  const bytes = backing.subarray(5)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.imul(i + 1, 2654435761) >>> 24) & 0xff
  for (let length = 0; length <= 300; length++) {
    for (const [from, seed] of [[0, 0], [3, 1], [17, 0xdeadbeef], [64, 0x9e3779b1]] as const) {
      const want = wasm.h32Raw(bytes.subarray(from, from + length), seed)
      assert.is(checksum(bytes, from, from + length, seed), want, `length ${length} at ${from}, seed ${seed}`)
    }
  }
})

test('open checks every record: a damaged one fails the open with ERR_MVCC_CORRUPT', async () => {
  const { store, backend } = await newStore()
  for (let i = 0; i < 50; i++) store.put(`k${i}`, `v${i}`)
  damage(backend, encodeRevision({ main: 20, sub: 0 }), (v) => {
    v[50]! ^= 0x80
    return v
  })
  const err = await openError(backend)
  assert.is(err.code, 'ERR_MVCC_CORRUPT')
  assert.match(err.message, /fails its checksum at revision 20\.0/)
})

test('a record missing from the key bucket fails the open (count and checksum sum in meta)', async () => {
  const { store, backend } = await newStore()
  for (let i = 0; i < 20; i++) store.put(`k${i % 7}`, `v${i}`)
  store.deleteRange('k3')
  damage(backend, encodeRevision({ main: 22, sub: 0 }, true), () => undefined)
  const err = await openError(backend)
  assert.is(err.code, 'ERR_MVCC_CORRUPT')
  assert.match(err.message, /holds 20 records.* records 21 records/)
})

test('a record moved under another revision (an older page) fails its checksum', async () => {
  const { store, backend } = await newStore()
  store.put('a', 'x')
  store.put('a', 'x')
  const first = backend.read((tx) => tx.get('key', encodeRevision({ main: 2, sub: 0 })))!
  damage(backend, encodeRevision({ main: 3, sub: 0 }), () => new Uint8Array(first))
  const err = await openError(backend)
  assert.is(err.code, 'ERR_MVCC_CORRUPT')
  assert.match(err.message, /revision 3\.0/)
})

test('damaged totals in meta fail the open', async () => {
  const { store, backend } = await newStore()
  store.put('a', 'x')
  backend.write((tx) => {
    const t = new Uint8Array(tx.get('meta', TOTALS_KEY)!)
    t[3]! ^= 1
    tx.put('meta', TOTALS_KEY, t)
  })
  assert.is((await openError(backend)).code, 'ERR_MVCC_CORRUPT')
})

test('the totals follow writes, rollbacks and compaction, and reopen clean', async () => {
  const { store, backend } = await newStore({ compactionBatchLimit: 3, yieldFn: () => Promise.resolve() })
  for (let i = 0; i < 30; i++) store.put(`k${i % 5}`, `v${i}`)
  store.deleteRange('k1')
  try {
    store.write((txn) => {
      txn.put('rolled', 'back')
      throw new Error('undo')
    })
  } catch {}
  await store.compact(25).done
  const totals = backend.read((tx) => readTotals(tx, 'test'))!
  const records = backend.read((tx) => tx.range('key', new Uint8Array(0), undefined)).length
  assert.is(totals.count, records)
  const again = await MvccStore.open(backend)
  assert.is(again.revision, 32)
  assert.is(text(again.range('k4').kvs[0]!.value), 'v29')
  assert.is(again.range('k1').kvs.length, 0)
})

test('Totals.addMany equals one add per record, carries included', () => {
  const sums = [0xffff_ffff, 0xffff_fffe, 1, 0x8000_0000, 0x7fff_ffff, 12345, 0xffff_ffff]
  const one = new Totals()
  one.hi = 0xffff_fffe
  one.lo = 0xffff_fff0
  const many = one.copy()
  for (const s of sums) one.add(s)
  many.addMany(sums.length, sums.reduce((a, b) => a + b, 0))
  assert.equal({ ...many }, { ...one })
})

test('writeTotalsOnce writes the totals once at its end, counting the txns that returned and not one undone by its throw, and after a throw of its callback too', async () => {
  const { store, backend } = await newStore()
  store.put('before', 'x')
  const stored = (): number => backend.read((tx) => readTotals(tx, 'test'))!.count
  const records = (): number => backend.read((tx) => tx.range('key', new Uint8Array(0), undefined)).length
  backend.write((tx) => {
    store.writeTotalsOnce(tx, () => {
      store.put('a', '1')
      try {
        store.write((txn) => {
          txn.put('rolled', 'back')
          throw new Error('undo')
        })
      } catch {}
      store.put('b', '2')
      // Deferred: the stored totals still count the record written before.
      assert.is(readTotals(tx, 'test')!.count, 1)
    })
  })
  assert.is(stored(), 3)
  assert.is(records(), 3)
  // The caller goes on with its write after a throw: the txns that returned are counted.
  backend.write((tx) => {
    try {
      store.writeTotalsOnce(tx, () => {
        store.put('c', '3')
        throw new Error('caller')
      })
    } catch {}
  })
  assert.is(stored(), 4)
  assert.is(records(), 4)
  // Bad input: a typed error, nothing written.
  assert.is(codeOf(() => backend.write((tx) => store.writeTotalsOnce(tx, 5 as never))), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(stored(), 4)
  const again = await MvccStore.open(backend)
  assert.is(text(again.range('c').kvs[0]!.value), '3')
})

/** A record as format 1 stored it (FORMAT.md, "Format 1"): 37-byte header, no checksum. */
function format1(key: string, value: string, created: number, mod: number, version: number): Uint8Array {
  const k = enc.encode(key)
  const v = enc.encode(value)
  const out = new Uint8Array(37 + k.length + v.length)
  const view = new DataView(out.buffer)
  out[0] = 1
  view.setUint32(1, k.length)
  view.setUint32(9, created)
  view.setUint32(17, mod)
  view.setUint32(25, version)
  out.set(k, 37)
  out.set(v, 37 + k.length)
  return out
}

test('a store of record format 1 is migrated on open: checksums and totals added, data unchanged', async () => {
  const backend = memoryBackend()
  backend.write((tx) => {
    tx.put('key', encodeRevision({ main: 2, sub: 0 }), format1('a', 'one', 2, 2, 1))
    tx.put('key', encodeRevision({ main: 3, sub: 0 }), format1('b', 'two', 3, 3, 1))
    tx.put('key', encodeRevision({ main: 4, sub: 0 }), format1('a', 'three', 2, 4, 2))
  })
  await backend.commit()
  const store = await MvccStore.open(backend)
  assert.is(store.revision, 4)
  const a = store.range('a').kvs[0]!
  assert.is(text(a.value), 'three')
  assert.is(a.version, 2)
  assert.is(a.createRevision, 2)
  assert.is(backend.read((tx) => readTotals(tx, 'test'))!.count, 3)
  store.put('c', 'four')
  const again = await MvccStore.open(backend)
  assert.is(text(again.range('b').kvs[0]!.value), 'two')
  assert.is(again.revision, 5)
})

test('a failed restore leaves the store refusing reads and writes; a good one brings it back', async () => {
  const { store, backend } = await newStore()
  store.put('a', '1')
  store.put('b', '2')
  damage(backend, encodeRevision({ main: 3, sub: 0 }), (v) => {
    v[10]! ^= 1
    return v
  })
  try {
    await store.restore()
    assert.unreachable('restore over damaged contents')
  } catch (err) {
    assert.is((err as MvccError).code, 'ERR_MVCC_CORRUPT')
  }
  assert.is(codeOf(() => store.range('a')), 'ERR_MVCC_CORRUPT')
  assert.is(codeOf(() => store.put('c', '3')), 'ERR_MVCC_CORRUPT')
  damage(backend, encodeRevision({ main: 3, sub: 0 }), (v) => {
    v[10]! ^= 1
    return v
  })
  await store.restore()
  assert.is(text(store.range('b').kvs[0]!.value), '2')
  assert.is(store.put('c', '3').revision, 4)
})

test.run()
