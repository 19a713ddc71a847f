// The quick start of README.md, run as a test so it cannot rot.
import { MemoryBackend } from '@strata/backend'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MvccStore, WatchableStore } from '../src/index.js'
import { stillClock } from './helpers.js'

test('the README quick start runs', async () => {
  // --- quick start ---
  const backend = new MemoryBackend({ clock: stillClock }) // or: await LmdbBackend.open(dir)
  const store = await MvccStore.open(backend)
  const watches = new WatchableStore(store)
  const w = watches.watch('app/', { end: 'app0', prevKv: true }) // every key under app/

  store.put('app/a', '1') // revision 2
  store.put('app/b', '2') // revision 3
  const r = store.range('app/', 'app0', { limit: 1 }) // kvs [app/a], more: true, count: 2
  const old = store.range('app/a', undefined, { revision: 2 }) // history is kept until compacted
  const t = store.txn({
    compare: [{ key: 'app/a', target: 'version', result: 'equal', value: 1 }],
    success: [{ put: { key: 'app/a', value: '10' } }, { deleteRange: { key: 'app/b' } }],
    failure: [{ range: { key: 'app/a' } }],
  }) // succeeded, one new revision (4) for both changes

  // A driver writes its applied index in the same backend transaction as the changes.
  store.write((txn, tx) => {
    txn.put('app/c', '3')
    tx.put('meta', new TextEncoder().encode('consistent_index'), new Uint8Array(8))
  })

  const events = w.take().flatMap((resp) => resp.events) // put a, put b, put a + delete b, put c
  await store.compact(4).done // reads below revision 4 now fail with ERR_COMPACTED
  const h = store.hashByRev(0) // { hash, compactRevision: 4, revision: 5 }
  // --- end ---

  assert.equal([r.kvs.length, r.more, r.count], [1, true, 2])
  assert.is(new TextDecoder().decode(old.kvs[0]!.value), '1')
  assert.ok(t.succeeded && t.revision === 4)
  assert.equal(events.map((e) => e.type), ['put', 'put', 'put', 'delete', 'put'])
  assert.is(new TextDecoder().decode(events[2]!.prevKv!.value), '1')
  assert.equal([h.compactRevision, h.revision], [4, 5])
  watches.close()
  await store.close()
})

test.run()
