import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { WriteTx } from '@strata/backend'
import { MvccStore, WatchableStore } from '../src/index.js'
import { codeOf, memoryBackend, newStore, stillClock, text } from './helpers.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

test('a new store is at revision 1 and its first write makes revision 2', async () => {
  const { store } = await newStore()
  assert.is(store.revision, 1)
  assert.is(store.put('a', '1').revision, 2)
  assert.is(store.revision, 2)
  const r = store.range('a')
  assert.is(r.count, 1)
  assert.is(text(r.kvs[0]!.value), '1')
  assert.equal({ ...r.kvs[0]!, key: undefined, value: undefined }, { key: undefined, value: undefined, createRevision: 2, modRevision: 2, version: 1, lease: 0 })
})

test('versions grow per put, reset after a delete, and create revision follows the generation', async () => {
  const { store } = await newStore()
  store.put('k', 'a') // 2
  store.put('k', 'b') // 3
  assert.equal(store.deleteRange('k'), { deleted: 1, revision: 4 })
  store.put('k', 'c') // 5
  const kv = store.range('k').kvs[0]!
  assert.equal([kv.createRevision, kv.modRevision, kv.version], [5, 5, 1])
  const old = store.range('k', undefined, { revision: 3 }).kvs[0]!
  assert.equal([old.createRevision, old.modRevision, old.version, text(old.value)], [2, 3, 2, 'b'])
  assert.equal(store.range('k', undefined, { revision: 4 }).kvs, [])
})

test('a delete of nothing does not move the revision', async () => {
  const { store } = await newStore()
  store.put('a', '1')
  assert.equal(store.deleteRange('zzz'), { deleted: 0, revision: 2 })
  assert.is(store.revision, 2)
})

test("etcd's limit/count matrix: count is the total, more says whether the limit cut", async () => {
  const { store } = await newStore()
  for (const k of ['a', 'b', 'c']) store.put(k, k)
  const cases: Array<[number, string[], boolean]> = [[1, ['a'], true], [2, ['a', 'b'], true], [3, ['a', 'b', 'c'], false], [4, ['a', 'b', 'c'], false], [0, ['a', 'b', 'c'], false]]
  for (const [limit, keys, more] of cases) {
    const r = store.range('a', '\0', { limit })
    assert.equal(r.kvs.map((kv) => text(kv.key)), keys, `limit ${limit}`)
    assert.is(r.more, more, `more at limit ${limit}`)
    assert.is(r.count, 3, `count at limit ${limit}`)
  }
})

test('count-only walks the index and reads nothing from the backend', async () => {
  const { store, backend } = await newStore()
  for (let i = 0; i < 50; i++) store.put(`k${i}`, 'v')
  store.deleteRange('k1', 'k2') // k1, k10..k19
  let reads = 0
  const read = backend.read.bind(backend)
  ;(backend as unknown as { read: typeof read }).read = (fn) => read((tx) => fn({ ...tx, get: (b, k) => (reads++, tx.get(b, k)), range: (...a) => (reads++, tx.range(...a)), forEach: (...a) => (reads++, tx.forEach(...a)) }))
  const r = store.range('k', 'l', { countOnly: true })
  assert.equal([r.count, r.kvs.length, r.more], [39, 0, false])
  assert.is(reads, 0)
  assert.is(store.range('k', 'l', { countOnly: true, revision: 51 }).count, 50)
  assert.is(store.range('k', 'l', { limit: 2 }).kvs.length, 2)
  assert.is(reads, 2, 'a limited range reads only `limit` values')
})

test('count-only allocates nothing per key, at the newest revision and at an older one', async () => {
  const { store } = await newStore()
  for (let i = 0; i < 200; i++) {
    store.write((txn) => {
      for (let j = 0; j < 1000; j++) txn.put(`k${String(i * 1000 + j).padStart(6, '0')}`, 'v')
    })
  }
  store.put('k000000', 'newer')
  const heap = () => process.memoryUsage().heapUsed
  for (const revision of [0, store.revision - 1]) {
    store.range('k', 'l', { countOnly: true, revision }) // warm up
    const before = heap()
    let total = 0
    for (let r = 0; r < 5; r++) total += store.range('k', 'l', { countOnly: true, revision }).count
    assert.is(total, 5 * 200_000)
    assert.ok(heap() - before < 2_000_000, `count at ${revision} allocated ${heap() - before} bytes for 1M key visits`)
  }
  const before = heap()
  const all = store.range('k', 'l', { keysOnly: true })
  assert.ok(heap() - before > 10_000_000, 'the materializing range, for contrast, holds every key-value')
  assert.is(all.kvs.length, 200_000)
})

test('range errors: future revision, compacted revision, and the compact revision itself is readable', async () => {
  const { store } = await newStore()
  for (let i = 0; i < 5; i++) store.put('k', String(i)) // revisions 2..6
  assert.is(codeOf(() => store.range('k', undefined, { revision: 7 })), 'ERR_MVCC_FUTURE_REV')
  await store.compact(4).done
  assert.is(codeOf(() => store.range('k', undefined, { revision: 3 })), 'ERR_MVCC_COMPACTED')
  assert.is(text(store.range('k', undefined, { revision: 4 }).kvs[0]!.value), '2')
  assert.is(store.range('k', undefined, { revision: 4 }).revision, 6, 'the result carries the current revision')
  assert.is(codeOf(() => store.compact(4)), 'ERR_MVCC_COMPACTED')
  assert.is(codeOf(() => store.compact(7)), 'ERR_MVCC_FUTURE_REV')
})

test('bad input is refused with typed errors and nothing is written', async () => {
  const { store } = await newStore({ maxKeyBytes: 8, maxValueBytes: 4 })
  store.put('a', '1')
  assert.is(codeOf(() => store.put('', 'v')), 'ERR_MVCC_EMPTY_KEY')
  assert.is(codeOf(() => store.put('123456789', 'v')), 'ERR_MVCC_KEY_TOO_LARGE')
  assert.is(codeOf(() => store.put('k', '12345')), 'ERR_MVCC_VALUE_TOO_LARGE')
  assert.is(codeOf(() => store.range('b', 'a')), 'ERR_MVCC_INVALID_RANGE')
  assert.is(codeOf(() => store.deleteRange('b', 'a')), 'ERR_MVCC_INVALID_RANGE')
  assert.is(codeOf(() => store.range('a', undefined, { revision: -1 })), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => store.put('k', 'v', { lease: -3 })), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => store.txn({ success: [{ put: { key: 'x', value: 'ok' } }, { put: { key: 'y', value: 'too long' } }] })), 'ERR_MVCC_VALUE_TOO_LARGE')
  assert.is(store.revision, 2)
  assert.is(store.range('a', '\0', { countOnly: true }).count, 1)
})

test('a key or value of the wrong type is ERR_MVCC_INVALID_ARGUMENT, never a TypeError', async () => {
  const { store } = await newStore()
  const bad = [5, null, {}, [1], true, 10n] as unknown as string[]
  for (const x of bad) {
    assert.is(codeOf(() => store.put(x, 'v')), 'ERR_MVCC_INVALID_ARGUMENT', `put key ${String(x)}`)
    assert.is(codeOf(() => store.put('k', x)), 'ERR_MVCC_INVALID_ARGUMENT', `put value ${String(x)}`)
    assert.is(codeOf(() => store.range(x)), 'ERR_MVCC_INVALID_ARGUMENT', `range key ${String(x)}`)
    assert.is(codeOf(() => store.range('a', x)), 'ERR_MVCC_INVALID_ARGUMENT', `range end ${String(x)}`)
    assert.is(codeOf(() => store.deleteRange(x)), 'ERR_MVCC_INVALID_ARGUMENT', `deleteRange key ${String(x)}`)
    assert.is(codeOf(() => store.txn({ success: [{ put: { key: x, value: 'v' } }] })), 'ERR_MVCC_INVALID_ARGUMENT')
    assert.is(codeOf(() => store.txn({ success: [{ put: { key: 'k', value: x } }] })), 'ERR_MVCC_INVALID_ARGUMENT')
    assert.is(codeOf(() => store.txn({ success: [{ range: { key: x } }] })), 'ERR_MVCC_INVALID_ARGUMENT')
    assert.is(codeOf(() => store.txn({ success: [{ deleteRange: { key: 'a', end: x } }] })), 'ERR_MVCC_INVALID_ARGUMENT')
    assert.is(codeOf(() => store.txn({ compare: [{ key: x, target: 'version', result: 'equal', value: 1 }] })), 'ERR_MVCC_INVALID_ARGUMENT')
  }
  const shapes = [5, null, { success: 5 }, { compare: [7] }, { success: [null] }, { success: [{ nothing: 1 }] }] as never[]
  for (const t of shapes) assert.is(codeOf(() => store.txn(t)), 'ERR_MVCC_INVALID_ARGUMENT', `txn ${JSON.stringify(t)}`)
  assert.is(codeOf(() => store.range('a', undefined, 'x' as never)), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => store.range('a', undefined, { limit: 1.5 })), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => store.put('a', 'v', { prevKv: 'yes' as never })), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => store.compact(1.5)), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => store.hashByRev(-1)), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => store.write(5 as never)), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(store.revision, 1)
})

test('bad options to open are ERR_MVCC_INVALID_OPTION', async () => {
  const backend = memoryBackend()
  for (const o of [{ maxKeyBytes: 0 }, { maxValueBytes: '5' }, { maxTxnOps: 1.5 }, { compactionBatchLimit: 100_001 }, { yieldFn: 5 }, { onLeaseChanged: 'x' }]) {
    const err = await MvccStore.open(backend, o as never).then(() => undefined, (e: unknown) => e as { code?: string; message: string })
    assert.is(err?.code, 'ERR_MVCC_INVALID_OPTION', JSON.stringify(o))
  }
  const err = await MvccStore.open(5 as never).then(() => undefined, (e: unknown) => e as { code?: string })
  assert.is(err?.code, 'ERR_MVCC_INVALID_ARGUMENT')
})

test('a write inside another write of the same store is ERR_MVCC_BUSY and undoes the outer one', async () => {
  const { store } = await newStore()
  assert.is(codeOf(() => store.write((txn) => {
    txn.put('a', '1')
    store.put('b', '2')
  })), 'ERR_MVCC_BUSY')
  assert.is(store.revision, 1)
  assert.is(store.range('a', '\0').count, 0)
  assert.is(codeOf(() => store.write(() => store.compact(1))), 'ERR_MVCC_BUSY')
})

test('MvccStore.write nests inside the caller\'s backend.write: one batch, and a throw inside undoes only it', async () => {
  const { store, backend } = await newStore()
  const meta = bytes('applied')
  backend.write((tx) => {
    tx.put('meta', meta, bytes('1'))
    store.write((txn) => txn.put('a', '1'))
    store.put('b', '2')
  })
  assert.is(store.revision, 3)
  const result = backend.write((tx) => {
    tx.put('meta', meta, bytes('2'))
    const code = codeOf(() => store.write((txn) => {
      txn.put('c', '3')
      throw new Error('boom')
    }))
    return code
  })
  assert.is(result, 'no code', 'the inner error propagated to the outer callback')
  assert.is(store.revision, 3)
  assert.is(store.range('c').count, 0)
  assert.is(text(backend.read((tx) => tx.get('meta', meta))), '2', 'the outer write kept its own changes')
  await backend.commit()
  const expected = store.hash()
  const again = await MvccStore.open(backend.crash())
  assert.equal(again.hash(), expected)
})

/** A store with keys a, b, c attached to lease 7 and d to none, a watcher on everything, the lease changes recorded. */
async function leasedStore(): Promise<{ store: MvccStore; backend: ReturnType<typeof memoryBackend>; ws: WatchableStore; changes: string[] }> {
  const changes: string[] = []
  const { store, backend } = await newStore({ onLeaseChanged: (k, from, to) => changes.push(`${text(k)} ${from}->${to}`) })
  for (const k of ['a', 'b', 'c']) store.put(k, 'v', { lease: 7 })
  store.put('d', 'v')
  changes.length = 0
  const ws = await WatchableStore.open(store, { clock: stillClock })
  return { store, backend, ws, changes }
}

test('deleteKeys deletes a revoked lease\'s keys at one revision in the caller\'s transaction; watchers see the deletes', async () => {
  const { store, backend, ws, changes } = await leasedStore()
  const w = ws.watch('a', { end: '\0', prevKv: true })
  const leaseKey = bytes('lease/7')
  backend.write((tx) => tx.put('lease', leaseKey, bytes('record')))
  backend.write((tx) => {
    tx.delete('lease', leaseKey)
    store.deleteKeys([bytes('a'), bytes('b'), bytes('c'), bytes('zz')], tx)
  })
  assert.is(store.revision, 6)
  assert.equal(store.range('a', '\0').kvs.map((kv) => text(kv.key)), ['d'])
  const got = w.take()
  assert.equal(got.map((r) => r.revision), [6], 'one response, one revision')
  assert.equal(got[0]!.events.map((e) => [e.type, text(e.kv.key), e.kv.modRevision, text(e.prevKv?.value)]), [['delete', 'a', 6, 'v'], ['delete', 'b', 6, 'v'], ['delete', 'c', 6, 'v']])
  assert.equal(changes, ['a 7->0', 'b 7->0', 'c 7->0'])
  await backend.commit()
  const expected = store.hash()
  const again = await MvccStore.open(backend.crash())
  assert.equal(again.hash(), expected)
  assert.is(again.backend.read((tx) => tx.get('lease', leaseKey)), undefined, 'the lease record went with the keys')
})

test('deleteKeys of keys that do not exist makes no revision and no event', async () => {
  const { store, backend, ws } = await leasedStore()
  const w = ws.watch('a', { end: '\0' })
  backend.write((tx) => store.deleteKeys([bytes('x'), bytes('y')], tx))
  backend.write((tx) => store.deleteKeys([], tx))
  assert.is(store.revision, 5)
  assert.equal(w.take(), [])
})

test('deleteKeys refuses unsorted, duplicate or non-byte keys and a tx of another backend, writing nothing', async () => {
  const { store, backend } = await leasedStore()
  const other = memoryBackend()
  const codes = backend.write((tx) => [
    codeOf(() => store.deleteKeys([bytes('b'), bytes('a')], tx)),
    codeOf(() => store.deleteKeys([bytes('a'), bytes('a')], tx)),
    codeOf(() => store.deleteKeys(['a'] as never, tx)),
    codeOf(() => store.deleteKeys('a' as never, tx)),
    codeOf(() => store.deleteKeys([bytes('a')], undefined as never)),
    codeOf(() => other.write((otherTx) => store.deleteKeys([bytes('a')], otherTx))),
  ])
  assert.equal(codes, Array(6).fill('ERR_MVCC_INVALID_ARGUMENT'))
  assert.is(store.revision, 5)
  assert.is(store.range('a', '\0').count, 4)
})

test('a throw from onLeaseChanged inside deleteKeys undoes the deletions and the lease changes', async () => {
  const changes: string[] = []
  let failOn: string | undefined
  const { store, backend } = await newStore({
    onLeaseChanged: (k, from, to) => {
      changes.push(`${text(k)} ${from}->${to}`)
      if (text(k) === failOn && to === 0) throw new Error('lessor refused')
    },
  })
  for (const k of ['a', 'b']) store.put(k, 'v', { lease: 7 })
  const ws = await WatchableStore.open(store, { clock: stillClock })
  const w = ws.watch('a', { end: '\0' })
  changes.length = 0
  failOn = 'b'
  const err = backend.write((tx) => codeOf(() => store.deleteKeys([bytes('a'), bytes('b')], tx)))
  assert.is(err, 'no code')
  assert.is(store.revision, 3)
  assert.equal(store.range('a', '\0').kvs.map((kv) => [text(kv.key), kv.lease]), [['a', 7], ['b', 7]])
  assert.equal(changes, ['a 7->0', 'b 7->0', 'a 0->7'], 'each change the lessor took taken back (b\'s threw, so it has none)')
  assert.equal(w.take(), [])
  failOn = undefined
  backend.write((tx) => store.deleteKeys([bytes('a'), bytes('b')], tx))
  assert.equal(w.take().flatMap((r) => r.events.map((e) => `${e.type} ${text(e.kv.key)}@${e.kv.modRevision}`)), ['delete a@4', 'delete b@4'])
})

test('MvccStore is structurally a lease RangeDeleter', async () => {
  interface RangeDeleter { deleteKeys(keys: readonly Uint8Array[], tx: WriteTx): void }
  const { store } = await newStore()
  const deleter: RangeDeleter = store
  assert.type(deleter.deleteKeys, 'function')
})

test('close is idempotent, closes the WatchableStore, and every later call is ERR_MVCC_CLOSED', async () => {
  const { store } = await newStore()
  const ws = await WatchableStore.open(store, { clock: stillClock })
  const w = ws.watch('k')
  store.put('k', 'v')
  await Promise.all([store.close(), store.close()])
  await store.close()
  assert.ok(ws.closed)
  assert.is(w.state, 'canceled')
  assert.is(w.take().length, 1, 'queued responses can still be taken')
  for (const f of [() => store.put('k', 'v'), () => store.range('k'), () => store.write(() => {}), () => store.hash(), () => ws.watch('k'), () => ws.sync()]) {
    assert.is(codeOf(f), 'ERR_MVCC_CLOSED')
  }
  const err = await store.restore().then(() => undefined, (e: unknown) => (e as { code?: string }).code)
  assert.is(err, 'ERR_MVCC_CLOSED')
})

test('keys-only, sort order and targets, and revision filters', async () => {
  const { store } = await newStore()
  store.put('b', 'zz') // 2
  store.put('a', 'yy') // 3
  store.put('c', 'xx') // 4
  store.put('a', 'ww') // 5
  const keys = (o: object) => store.range('a', '\0', o).kvs.map((kv) => text(kv.key)).join('')
  assert.is(keys({ sortOrder: 'descend' }), 'cba')
  assert.is(keys({ sortTarget: 'mod' }), 'bca', 'target without order sorts ascending')
  assert.is(keys({ sortTarget: 'mod', sortOrder: 'descend' }), 'acb')
  assert.is(keys({ sortTarget: 'value' }), 'acb')
  assert.is(keys({ sortTarget: 'version', sortOrder: 'descend' }), 'abc')
  assert.is(keys({ sortTarget: 'create' }), 'bac')
  assert.is(keys({ minModRevision: 4 }), 'ac')
  assert.is(keys({ maxModRevision: 4 }), 'bc')
  assert.is(keys({ minCreateRevision: 3, maxCreateRevision: 3 }), 'a')
  const r = store.range('a', '\0', { sortTarget: 'mod', sortOrder: 'descend', limit: 2 })
  assert.equal([r.kvs.map((kv) => text(kv.key)).join(''), r.more, r.count], ['ac', true, 3])
  const ko = store.range('a', '\0', { keysOnly: true })
  assert.ok(ko.kvs.every((kv) => kv.value.length === 0))
})

test('a txn with several changes uses one revision and numbers them with sub revisions', async () => {
  const { store } = await newStore()
  store.put('a', '1')
  const r = store.txn({
    compare: [{ key: 'a', target: 'value', result: 'equal', value: '1' }],
    success: [{ put: { key: 'b', value: '2' } }, { range: { key: 'b' } }, { deleteRange: { key: 'a' } }, { put: { key: 'b', value: '3' } }],
    failure: [],
  })
  assert.ok(r.succeeded)
  assert.is(r.revision, 3)
  assert.is(store.revision, 3)
  const inTxn = r.responses[1]!
  assert.ok('range' in inTxn && text(inTxn.range.kvs[0]!.value) === '2', 'reads see the txn own earlier writes')
  const b = store.range('b').kvs[0]!
  assert.equal([text(b.value), b.version, b.createRevision, b.modRevision], ['3', 2, 3, 3])
  assert.equal(store.range('a').kvs, [])
})

test('txn compares on value, version, create, mod and lease, with etcd rules for missing keys', async () => {
  const { store } = await newStore()
  store.put('k', 'v', { lease: 7 }) // 2
  store.put('k', 'w', { lease: 7 }) // 3
  const holds = (c: object) => store.txn({ compare: [{ key: 'k', ...c } as never] }).succeeded
  assert.ok(holds({ target: 'value', result: 'equal', value: 'w' }))
  assert.ok(holds({ target: 'value', result: 'greater', value: 'v' }))
  assert.ok(holds({ target: 'version', result: 'equal', value: 2 }))
  assert.ok(holds({ target: 'create', result: 'equal', value: 2 }))
  assert.ok(holds({ target: 'mod', result: 'less', value: 4 }))
  assert.ok(holds({ target: 'lease', result: 'equal', value: 7 }))
  assert.ok(holds({ target: 'mod', result: 'notEqual', value: 2 }))
  const missing = (c: object) => store.txn({ compare: [{ key: 'nope', ...c } as never] }).succeeded
  assert.not.ok(missing({ target: 'value', result: 'equal', value: '' }), 'a value compare on a missing key fails')
  assert.ok(missing({ target: 'version', result: 'equal', value: 0 }), 'a missing key has version 0')
  assert.ok(missing({ target: 'create', result: 'equal', value: 0 }))
  assert.is(store.revision, 3, 'read-only txns do not move the revision')
})

test('a compare with a range end must hold for every key in the range', async () => {
  const { store } = await newStore()
  store.put('a1', 'x')
  store.put('a2', 'x')
  store.put('a3', 'y')
  const all = (result: 'equal' | 'notEqual', value: string) => store.txn({ compare: [{ key: 'a', end: 'b', target: 'value', result, value }] }).succeeded
  assert.not.ok(all('equal', 'x'), 'a3 differs')
  store.put('a3', 'x')
  assert.ok(all('equal', 'x'))
  assert.ok(store.txn({ compare: [{ key: 'a', end: '\0', target: 'create', result: 'less', value: 5 }] }).succeeded)
  assert.not.ok(store.txn({ compare: [{ key: 'b', end: 'c', target: 'value', result: 'equal', value: '' }] }).succeeded, 'an empty range fails a value compare')
})

test('nested txns run in one revision and decide their branches before any write', async () => {
  const { store } = await newStore()
  const r = store.txn({
    compare: [{ key: 'x', target: 'version', result: 'equal', value: 0 }],
    success: [
      { put: { key: 'x', value: '1' } },
      { txn: { compare: [{ key: 'x', target: 'version', result: 'equal', value: 0 }], success: [{ put: { key: 'y', value: 'seen-before' } }], failure: [{ put: { key: 'y', value: 'seen-after' } }] } },
    ],
  })
  assert.ok(r.succeeded)
  const nested = r.responses[1]!
  assert.ok('txn' in nested && nested.txn.succeeded && nested.txn.revision === 2)
  assert.is(text(store.range('y').kvs[0]!.value), 'seen-before')
  assert.is(store.revision, 2)
})

test('too many ops in a txn is refused', async () => {
  const { store } = await newStore({ maxTxnOps: 2 })
  assert.is(codeOf(() => store.txn({ success: [1, 2, 3].map((i) => ({ put: { key: `k${i}`, value: 'v' } })) })), 'ERR_MVCC_TOO_MANY_OPS')
  assert.is(store.revision, 1)
})

test('write lets the driver put its own keys in the same backend transaction as the changes', async () => {
  const { store, backend } = await newStore()
  const ci = new TextEncoder().encode('consistent_index')
  store.write((txn, tx) => {
    txn.put('a', '1')
    txn.deleteRange('zz')
    txn.put('b', '2')
    tx.put('meta', ci, new Uint8Array([0, 0, 0, 9]))
  })
  assert.is(store.revision, 2)
  await backend.commit()
  const after = backend.crash()
  const reopened = await MvccStore.open(after)
  assert.is(reopened.revision, 2)
  assert.equal([...after.read((tx) => tx.get('meta', ci))!], [0, 0, 0, 9])
  assert.is(reopened.range('a', 'c').count, 2)
})

test('open rebuilds the index and reports lease attachments', async () => {
  const backend = memoryBackend()
  const store = await MvccStore.open(backend)
  const changes: Array<[string, number, number]> = []
  store.put('a', '1', { lease: 5 })
  store.put('b', '1', { lease: 6 })
  store.put('b', '2') // detaches b
  store.put('c', '1', { lease: 7 })
  store.deleteRange('c') // detaches c
  store.put('d', '1', { lease: 8 })
  store.put('d', '2', { lease: 9 })
  store.put('z', 'x')
  store.deleteRange('z')
  store.put('z', 'y')
  await backend.commit()
  const before = Array.from({ length: store.revision }, (_, i) => store.range('a', '\0', { revision: i + 1 }))
  const found: Array<[string, number]> = []
  const again = await MvccStore.open(backend.crash(), { onLeaseAttached: (k, l) => found.push([text(k)!, l]), onLeaseChanged: (k, f, t) => changes.push([text(k)!, f, t]) })
  assert.equal(found.sort(), [['a', 5], ['d', 9]])
  assert.is(again.revision, 11)
  for (let rev = 1; rev <= again.revision; rev++) {
    assert.equal(again.range('a', '\0', { revision: rev }), before[rev - 1], `state at ${rev}`)
  }
  const z = again.range('z').kvs[0]!
  assert.equal([z.version, z.createRevision], [1, 11])
  again.put('a', '2', { lease: 6 })
  assert.equal(changes, [['a', 5, 6]])
})

test('a write callback that throws leaves nothing behind, in the backend or the index', async () => {
  const changes: string[] = []
  const { store, backend } = await newStore({ onLeaseChanged: (k, f, t) => changes.push(`${text(k)} ${f}->${t}`) })
  store.put('a', '1', { lease: 3 })
  store.put('b', '1')
  const hashBefore = store.hash()
  try {
    store.write((txn) => {
      txn.put('a', '2', { lease: 4 })
      txn.deleteRange('b')
      txn.put('b', 'again')
      txn.put('c', 'new')
      throw new Error('boom')
    })
    assert.unreachable()
  } catch (err) {
    assert.is((err as Error).message, 'boom')
  }
  assert.is(store.revision, 3)
  assert.equal(store.hash(), hashBefore)
  assert.equal(store.range('a', '\0').kvs.map((kv) => [text(kv.key), text(kv.value), kv.version, kv.lease]), [['a', '1', 1, 3], ['b', '1', 1, 0]])
  assert.equal(changes, ['a 0->3', 'a 3->4', 'a 4->3'])
  assert.is(store.put('c', 'x').revision, 4)
  await backend.commit()
  const expected = store.hash()
  const again = await MvccStore.open(backend.crash())
  assert.equal(again.hash(), expected)
})

test('the process exits after store.close(), and with live watchers when nothing else holds it', () => {
  const fixture = fileURLToPath(new URL('./fixtures/exit-after-close.ts', import.meta.url))
  for (const mode of ['close', 'leave-open']) {
    const child = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fixture, mode], { encoding: 'utf8', timeout: 60_000 })
    assert.is(child.signal, null, `${mode}: exited on its own (${child.stderr})`)
    assert.is(child.status, 0, `${mode}: ${child.stderr}`)
    assert.is(child.stdout, 'caught up\ndone\n')
  }
})

test.run()
