import { type Prng, seedFromEnv, withSeed } from '@strata/testkit'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MvccStore, WatchableStore, type WatchableStoreOptions, type WatchResponse, type Watcher } from '../src/index.js'
import { decodeKeyValue, decodeRevision, isTombstoneKey } from '../src/internal.js'
import { codeOf, memoryBackend, newStore, stillClock, text } from './helpers.js'

/** A store and its WatchableStore on a clock that never fires: catch-up runs on `sync()` only. */
async function setup(options: WatchableStoreOptions = {}): Promise<{ store: MvccStore; ws: WatchableStore }> {
  const store = await MvccStore.open(memoryBackend(), { yieldFn: () => Promise.resolve() })
  return { store, ws: await WatchableStore.open(store, { clock: stillClock, ...options }) }
}

/** "put a=1@2" style summaries of a watcher's events. */
function events(responses: readonly WatchResponse[]): string[] {
  return responses.flatMap((r) => r.events.map((e) => `${e.type} ${text(e.kv.key)}${e.type === 'put' ? `=${text(e.kv.value)}` : ''}@${e.kv.modRevision}`))
}

test('a synced watcher gets each write as it ends, a txn in one response', async () => {
  const { store, ws } = await setup()
  const w = ws.watch('a', { end: 'c' })
  store.put('a', '1')
  store.put('z', 'ignored')
  store.txn({ success: [{ put: { key: 'b', value: '2' } }, { deleteRange: { key: 'a' } }] })
  const got = w.take()
  assert.equal(got.map((r) => r.revision), [2, 4])
  assert.equal(events(got), ['put a=1@2', 'put b=2@4', 'delete a@4'])
  assert.equal(ws.stats, { synced: 1, unsynced: 0, victims: 0 })
})

test('a watcher gets copies of the key and value written, views into a larger buffer or not', async () => {
  const { store, ws } = await setup()
  const w = ws.watch('a', { end: 'c' })
  const entry = new TextEncoder().encode('..a..value....')
  store.put(entry.subarray(2, 3), entry.subarray(5, 10))
  const key = new TextEncoder().encode('b')
  const value = new TextEncoder().encode('v')
  store.put(key, value)
  const [ev1, ev2] = w.take().flatMap((r) => r.events)
  for (const b of [ev1!.kv.key, ev1!.kv.value]) assert.is(b.byteLength, b.buffer.byteLength, 'the event does not pin the written buffer')
  entry.fill(0)
  key.fill(0)
  value.fill(0)
  assert.equal([text(ev1!.kv.key), text(ev1!.kv.value), text(ev2!.kv.key), text(ev2!.kv.value)], ['a', 'value', 'b', 'v'])
  assert.equal(store.range('a', 'c').kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`), ['a=value', 'b=v'])
})

test('an old start revision catches up from the backend in bounded batches, then follows live writes', async () => {
  const { store, ws } = await setup({ batchMaxRevisions: 10 })
  for (let i = 0; i < 35; i++) store.put(`k${i % 3}`, String(i)) // revisions 2..36
  const w = ws.watch('k', { end: 'l', startRevision: 5 })
  assert.equal(ws.stats, { synced: 0, unsynced: 1, victims: 0 })
  let rounds = 0
  while (ws.sync() > 0) rounds++
  assert.is(rounds, 3)
  const got = w.take()
  assert.equal(got.length, 4)
  for (const r of got) assert.ok(new Set(r.events.map((e) => e.kv.modRevision)).size <= 10, 'at most 10 revisions per batch')
  store.put('k1', 'live')
  const all = [...got, ...w.take()]
  assert.equal(all.flatMap((r) => r.events.map((e) => e.kv.modRevision)), Array.from({ length: 33 }, (_, i) => i + 5))
})

test('a watch from a compacted revision is answered with the compact revision and canceled', async () => {
  const { store, ws } = await setup()
  for (let i = 0; i < 10; i++) store.put('k', String(i))
  await store.compact(6).done
  const w = ws.watch('k', { startRevision: 3 })
  ws.sync()
  const got: WatchResponse[] = []
  for await (const r of w) got.push(r)
  assert.equal(got.length, 1)
  assert.equal([got[0]!.compactRevision, got[0]!.canceled, got[0]!.events.length], [6, true, 0])
  assert.is(w.state, 'canceled')
  const ok = ws.watch('k', { startRevision: 6 })
  ws.sync()
  assert.equal(events(ok.take())[0], 'put k=4@6', 'the compact revision itself is still watchable')
})

test('a watcher catching up is canceled when a compaction overtakes it', async () => {
  const { store, ws } = await setup({ batchMaxRevisions: 5 })
  for (let i = 0; i < 30; i++) store.put('k', String(i)) // revisions 2..31
  const w = ws.watch('k', { startRevision: 2 })
  ws.sync() // delivers 2..6, still unsynced
  await store.compact(20).done
  ws.sync()
  const got = w.take()
  assert.equal(got.map((r) => [r.events.length, r.compactRevision, r.canceled]), [[5, 0, false], [0, 20, true]])
  assert.is(w.state, 'canceled')
  assert.equal(ws.stats, { synced: 0, unsynced: 0, victims: 0 })
})

test('with a clock, catch-up runs on its timers and close cancels them', async () => {
  const timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = []
  let now = 0
  const clock = { now: () => now, setTimer: (ms: number, fn: () => void) => { const t = { at: now + ms, fn, cancelled: false }; timers.push(t); return { cancel: () => { t.cancelled = true } } } }
  const advance = (ms: number) => {
    now += ms
    for (const t of timers.splice(0)) {
      if (t.cancelled) continue
      if (t.at <= now) t.fn()
      else timers.push(t)
    }
  }
  const { store, ws } = await setup({ clock, bufferLimit: 1 })
  store.put('k', 'a')
  const w = ws.watch('k', { startRevision: 1 })
  advance(100)
  assert.equal(events(w.take()), ['put k=a@2'])
  store.put('k', 'b')
  store.put('k', 'c') // buffer of 1: a victim
  assert.is(ws.stats.victims, 1)
  assert.equal(events(w.take()), ['put k=b@3'], 'taking makes room: the held event is queued at once')
  assert.equal(events(w.take()), ['put k=c@4'])
  advance(110)
  assert.equal(ws.stats, { synced: 1, unsynced: 0, victims: 0 })
  await ws.close()
  assert.ok(timers.every((t) => t.cancelled))
})

test('a future start revision delivers nothing before it', async () => {
  const { store, ws } = await setup()
  const w = ws.watch('k', { startRevision: 4 })
  assert.not.ok(ws.requestProgress(w), 'no progress notification before the start revision')
  store.put('k', 'a') // 2
  store.put('k', 'b') // 3
  store.put('k', 'c') // 4
  assert.equal(events(w.take()), ['put k=c@4'])
  assert.ok(ws.requestProgress(w))
  assert.equal(w.take(), [{ watchId: w.id, events: [], revision: 4, compactRevision: 0, canceled: false }])
})

test('prevKv and filters', async () => {
  const { store, ws } = await setup()
  const prev = ws.watch('k', { prevKv: true })
  const noPut = ws.watch('k', { noPut: true })
  const noDelete = ws.watch('k', { noDelete: true })
  store.put('k', '1')
  store.put('k', '2')
  store.deleteRange('k')
  const p = prev.take().flatMap((r) => r.events)
  assert.equal(p.map((e) => text(e.prevKv?.value)), [undefined, '1', '2'])
  assert.equal(events(noPut.take()), ['delete k@4'])
  assert.equal(events(noDelete.take()), ['put k=1@2', 'put k=2@3'])
})

test('progress notifications only reach synced watchers', async () => {
  const { store, ws } = await setup()
  store.put('a', '1')
  store.put('a', '2')
  const behind = ws.watch('a', { startRevision: 2 })
  assert.not.ok(ws.requestProgress(behind))
  ws.sync()
  assert.ok(ws.requestProgress(behind))
  assert.equal(behind.take().map((r) => [r.events.length, r.revision]), [[2, 3], [0, 3]])
})

test('a slow consumer becomes a victim and later gets every event once, in order', async () => {
  const { store, ws } = await setup({ bufferLimit: 2 })
  const w = ws.watch('k')
  for (let i = 0; i < 10; i++) store.put('k', String(i))
  assert.equal(ws.stats, { synced: 0, unsynced: 0, victims: 1 })
  const got: WatchResponse[] = []
  while (w.pending > 0 || ws.sync() > 0) got.push(...w.take())
  store.put('k', 'last')
  got.push(...w.take())
  assert.equal(got.flatMap((r) => r.events.map((e) => e.kv.modRevision)), Array.from({ length: 11 }, (_, i) => i + 2))
  assert.equal(ws.stats, { synced: 1, unsynced: 0, victims: 0 })
})

test('restore moves synced watchers to unsynced, and they resync', async () => {
  const { store, ws } = await setup()
  const w = ws.watch('k')
  store.put('k', '1')
  await store.restore()
  assert.equal(ws.stats, { synced: 0, unsynced: 1, victims: 0 })
  ws.sync()
  assert.equal(ws.stats, { synced: 1, unsynced: 0, victims: 0 })
  store.put('k', '2')
  assert.equal(events(w.take()), ['put k=1@2', 'put k=2@3'])
})

test('a watcher created before MvccStore.restore sees the new contents\' events after it, without a gap', async () => {
  const { store, ws } = await setup()
  const w = ws.watch('k', { end: 'l' })
  store.put('k1', 'mine') // 2: seen
  assert.equal(events(w.take()), ['put k1=mine@2'])
  // The leader went on from the same revision 2 (a snapshot brings its contents here).
  const leader = await newStore()
  leader.store.put('k1', 'mine') // 2
  leader.store.put('k2', 'a') // 3
  leader.store.put('other', 'x') // 4
  leader.store.deleteRange('k1') // 5
  await leader.backend.commit()
  await store.restore(() => (store.backend as ReturnType<typeof memoryBackend>).restore(leader.backend.snapshot()))
  assert.equal(ws.stats, { synced: 0, unsynced: 1, victims: 0 })
  ws.sync()
  assert.equal(events(w.take()), ['put k2=a@3', 'delete k1@5'], 'from the revision it was at, from the new contents')
  assert.equal(ws.stats, { synced: 1, unsynced: 0, victims: 0 })
  store.put('k3', 'live')
  assert.equal(events(w.take()), ['put k3=live@6'])
})

test('after a restore, a watcher whose next revision was compacted away gets the compacted response', async () => {
  const { store, ws } = await setup()
  const w = ws.watch('k')
  store.put('k', '1') // 2
  w.take()
  const leader = await newStore()
  for (let i = 0; i < 8; i++) leader.store.put('k', String(i)) // 2..9
  await leader.store.compact(6).done
  await store.restore(leader.backend)
  ws.sync()
  const got = w.take()
  assert.equal(got.map((r) => [r.events.length, r.compactRevision, r.canceled]), [[0, 6, true]])
  assert.is(w.state, 'canceled')
})

test('a watcher ahead of the restored contents waits for them to get there', async () => {
  const { store, ws } = await setup()
  for (let i = 0; i < 5; i++) store.put('k', String(i)) // 2..6
  const w = ws.watch('k')
  const leader = await newStore()
  leader.store.put('k', 'x') // 2
  await store.restore(leader.backend)
  ws.sync()
  assert.equal(w.take(), [])
  for (let i = 0; i < 5; i++) store.put('k', `n${i}`) // 3..7
  assert.equal(events(w.take()), ['put k=n4@7'], 'only revisions it has not seen yet')
})

test('a watcher still catching up when a restore takes the store below it waits, then gets the rest', async () => {
  const { store, ws } = await setup({ batchMaxRevisions: 2 })
  for (let i = 0; i < 10; i++) store.put('k', String(i)) // 2..11
  const w = ws.watch('k', { startRevision: 2 })
  ws.sync() // delivers 2..3, still unsynced at 4
  assert.equal(ws.stats.unsynced, 1)
  const leader = await newStore()
  leader.store.put('k', 'x') // 2
  await store.restore(leader.backend)
  while (ws.sync() > 0);
  assert.equal(ws.stats, { synced: 1, unsynced: 0, victims: 0 })
  for (let i = 0; i < 3; i++) store.put('k', `n${i}`) // 3..5
  assert.equal(events(w.take()), ['put k=0@2', 'put k=1@3', 'put k=n1@4', 'put k=n2@5'])
})

test('without a clock option, a watch from an old revision delivers on its own (default clock)', async () => {
  const store = await MvccStore.open(memoryBackend(), { yieldFn: () => Promise.resolve() })
  const ws = await WatchableStore.open(store, { batchMaxRevisions: 3 })
  for (let i = 0; i < 10; i++) store.put('k', String(i)) // 2..11
  const w = ws.watch('k', { startRevision: 2 })
  const revs: number[] = []
  for await (const r of w) {
    revs.push(...r.events.map((e) => e.kv.modRevision))
    if (revs.at(-1) === 11) break
  }
  assert.equal(revs, Array.from({ length: 10 }, (_, i) => i + 2))
  await store.close()
  assert.ok(ws.closed)
})

test('one WatchableStore per store; bad options and a closed store are typed errors', async () => {
  const { store, ws } = await setup()
  const second = await WatchableStore.open(store).then(() => undefined, (e: unknown) => (e as { code?: string }).code)
  assert.is(second, 'ERR_MVCC_WATCHABLE_EXISTS')
  await ws.close()
  await ws.close()
  const again = await WatchableStore.open(store, { clock: stillClock })
  assert.ok(!again.closed, 'a closed one makes room for a new one')
  for (const o of [{ bufferLimit: 0 }, { maxWatchers: '5' }, { clock: 5 }, 5]) {
    const code = await WatchableStore.open(store, o as never).then(() => undefined, (e: unknown) => (e as { code?: string }).code)
    assert.is(code, 'ERR_MVCC_INVALID_OPTION', JSON.stringify(o))
  }
  assert.is(codeOf(() => again.watch(5 as never)), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => again.watch('k', { prevKv: 1 as never })), 'ERR_MVCC_INVALID_ARGUMENT')
  assert.is(codeOf(() => again.requestProgress({} as never)), 'ERR_MVCC_INVALID_ARGUMENT')
  await store.close()
  const closed = await WatchableStore.open(store).then(() => undefined, (e: unknown) => (e as { code?: string }).code)
  assert.is(closed, 'ERR_MVCC_CLOSED')
})

test('a negative start revision is refused; cancel removes the watcher', async () => {
  const { store, ws } = await setup()
  assert.is(codeOf(() => ws.watch('k', { startRevision: -1 })), 'ERR_MVCC_INVALID_ARGUMENT')
  const w = ws.watch('k')
  w.cancel()
  store.put('k', 'v')
  assert.equal(w.take(), [])
  assert.equal(ws.stats, { synced: 0, unsynced: 0, victims: 0 })
})

/** Every event of the key bucket in revision order, as "type key@rev.sub". */
function history(store: MvccStore): Array<{ id: string; key: string; rev: number }> {
  return store.backend.read((tx) => tx.range('key', new Uint8Array(0), undefined)).map(({ key, value }) => {
    const r = decodeRevision(key)
    const kv = decodeKeyValue(key, value)
    const k = text(kv.key)!
    return { id: isTombstoneKey(key) ? `delete ${k}@${r.main}` : `put ${k}=${text(kv.value)}@${r.main}`, key: k, rev: r.main }
  })
}

function randomWrite(store: MvccStore, p: Prng, i: number): void {
  const k = () => `k${p.int(6)}`
  const r = p.int(10)
  if (r < 6) store.put(k(), String(i))
  else if (r < 8) store.deleteRange(k())
  else store.txn({ success: [{ put: { key: k(), value: `t${i}` } }, { deleteRange: { key: k() } }, { put: { key: k(), value: `u${i}` } }] })
}

test('ordered, unique, atomic, reliable and resumable under random writes and slow consumers', async () => {
  const seed = seedFromEnv()
  console.log(`watchable-store.test: seed=${seed} (replay with SEED=${seed})`)
  await withSeed('watchable-store.test', async (p) => {
    const { store, ws } = await setup({ bufferLimit: 3, batchMaxRevisions: 7 })
    for (let i = 0; i < 40; i++) randomWrite(store, p, i)
    type Tracked = { w: Watcher; from: number; key: string; end: string | undefined; got: WatchResponse[] }
    const tracked: Tracked[] = []
    const add = (from: number) => {
      const key = `k${p.int(6)}`
      const e = `k${p.int(6) + 1}`
      const end = p.bool(0.5) || e <= key ? undefined : e
      const w = ws.watch(key, { end, startRevision: from })
      tracked.push({ w, from: from === 0 ? store.revision + 1 : from, key, end, got: [] })
    }
    for (let i = 0; i < 12; i++) add(p.bool(0.3) ? 0 : 1 + p.int(store.revision))
    const resumed: Tracked[] = []
    for (let i = 0; i < 300; i++) {
      randomWrite(store, p, 100 + i)
      const t = p.pick(tracked)
      if (p.bool(0.4)) t.got.push(...t.w.take())
      if (p.bool(0.2)) ws.sync()
      if (i === 150) {
        // Resumable: cancel one watcher and re-watch from the revision after its last event.
        const victim = tracked[0]!
        victim.w.cancel()
        victim.got.push(...victim.w.take()) // what was queued before the cancel
        const last = victim.got.at(-1)?.events.at(-1)?.kv.modRevision
        const from = last === undefined ? victim.from : last + 1
        resumed.push({ ...victim, w: ws.watch(victim.key, { end: victim.end, startRevision: from }), got: [] })
      }
    }
    for (let guard = 0; guard < 1000; guard++) {
      for (const t of [...tracked, ...resumed]) t.got.push(...t.w.take())
      if (ws.sync() === 0 && [...tracked, ...resumed].every((t) => t.w.pending === 0)) break
    }
    const all = history(store)
    const check = (t: Tracked, got: WatchResponse[], label: string) => {
      const inRange = (k: string) => (t.end === undefined ? k === t.key : k >= t.key && k < t.end)
      const want = all.filter((e) => e.rev >= t.from && inRange(e.key)).map((e) => e.id)
      assert.equal(events(got), want, `${label}: every event from ${t.from} once, in order`)
      const seenRevs = new Set<number>()
      for (const r of got) {
        const revs = [...new Set(r.events.map((e) => e.kv.modRevision))]
        for (const rev of revs) {
          assert.not.ok(seenRevs.has(rev), `${label}: revision ${rev} split across responses`)
          seenRevs.add(rev)
        }
      }
    }
    tracked.slice(1).forEach((t, i) => check(t, t.got, `watcher ${i + 1}`))
    check(tracked[0]!, [...tracked[0]!.got, ...resumed[0]!.got], 'resumed watcher')
  }, { seed })
})

test.run()
