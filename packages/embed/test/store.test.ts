import assert from 'node:assert/strict'
import { rejectsWithCode, tempDir, throwsWithCode } from '@strata/testkit'
import { test } from 'uvu'
import { type Store, open } from '../src/index.js'

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString())
const dirs: { cleanup(): Promise<void> }[] = []
const stores: Store[] = []

async function fresh(options: { tickMs?: number } = {}): Promise<{ store: Store; dir: string }> {
  const d = await tempDir('strata-embed-')
  dirs.push(d)
  const store = await open({ dir: d.path, tickMs: options.tickMs ?? 20, bcryptCost: 4 })
  stores.push(store)
  return { store, dir: d.path }
}

test.after(async () => {
  for (const s of stores) await s.close()
  for (const d of dirs) await d.cleanup()
})

test('put, get with prefix/limit/countOnly/keysOnly/revision/sort, delete with prevKv', async () => {
  const { store } = await fresh()
  const r1 = await store.put('a/1', 'x')
  await store.put('a/2', 'y')
  await store.put('b', 'z')
  assert.equal(r1.header.memberId, 1)
  const all = await store.get('a/', { prefix: true })
  assert.deepEqual(all.kvs.map((kv) => text(kv.key)), ['a/1', 'a/2'])
  assert.equal((await store.get('a/', { prefix: true, limit: 1 })).more, true)
  assert.equal((await store.get('a/', { prefix: true, countOnly: true })).count, 2)
  assert.equal(text((await store.get('a/1', { keysOnly: true })).kvs[0]?.value), '')
  assert.equal(text((await store.get('a/1', { revision: r1.header.revision })).kvs[0]?.value), 'x')
  assert.deepEqual((await store.get('a/', { prefix: true, sortOrder: 'descend' })).kvs.map((kv) => text(kv.key)), ['a/2', 'a/1'])
  const del = await store.delete('a/', { prefix: true, prevKv: true })
  assert.equal(del.deleted, 2)
  assert.deepEqual(del.prevKvs?.map((kv) => text(kv.value)), ['x', 'y'])
  assert.equal((await store.get('a/', { prefix: true })).count, 0)
  assert.equal((await store.get('b', { serializable: true })).count, 1)
})

test('txn compares value, version, create and mod revision and lease', async () => {
  const { store } = await fresh()
  const p = await store.put('k', 'v1')
  const ok = await store.txn({
    compare: [
      { key: 'k', target: 'value', result: 'equal', value: 'v1' },
      { key: 'k', target: 'version', result: 'equal', value: 1 },
      { key: 'k', target: 'create', result: 'equal', value: p.header.revision },
      { key: 'k', target: 'mod', result: 'less', value: p.header.revision + 1 },
      { key: 'k', target: 'lease', result: 'equal', value: 0 },
    ],
    success: [{ put: { key: 'k', value: 'v2' } }],
    failure: [{ put: { key: 'k', value: 'bad' } }],
  })
  assert.equal(ok.succeeded, true)
  const no = await store.txn({ compare: [{ key: 'k', target: 'value', result: 'equal', value: 'v1' }], failure: [{ range: { key: 'k' } }] })
  assert.equal(no.succeeded, false)
  assert.equal(text((await store.get('k')).kvs[0]?.value), 'v2')
})

test('limits and bad input get typed errors and change nothing', async () => {
  const { store } = await fresh()
  await store.put('keep', 'me')
  const rev = (await store.get('keep')).header.revision
  await rejectsWithCode(store.put('', 'v'), 'ERR_EMBED_INVALID_ARGUMENT')
  await rejectsWithCode(store.put(5 as never, 'v'), 'ERR_EMBED_INVALID_ARGUMENT')
  await rejectsWithCode(store.put('k', new Uint8Array(1_600_000)), 'ERR_EMBED_REQUEST_TOO_LARGE')
  await rejectsWithCode(store.txn({ success: Array.from({ length: 129 }, (_, i) => ({ put: { key: `k${i}`, value: 'v' } })) }), 'ERR_MVCC_TOO_MANY_OPS')
  await rejectsWithCode(store.txn({ success: [{ put: { key: 'd', value: '1' } }, { deleteRange: { key: 'd' } }] }), 'ERR_EMBED_DUPLICATE_KEY')
  await rejectsWithCode(store.txn({ success: [{ put: { key: 'd', value: '1' } }, { put: { key: 'd', value: '2' } }] }), 'ERR_EMBED_DUPLICATE_KEY')
  await rejectsWithCode(store.txn({ success: [{ deleteRange: { key: 'a', end: 'z' } }, { txn: { success: [{ put: { key: 'm', value: '1' } }] } }] }), 'ERR_EMBED_DUPLICATE_KEY')
  await rejectsWithCode(store.put('k', 'v', { lease: 12345 }), 'ERR_LEASE_NOT_FOUND')
  await rejectsWithCode(store.get('a', { prefix: true, end: 'b' }), 'ERR_EMBED_INVALID_ARGUMENT')
  await rejectsWithCode(store.compact(rev + 100), 'ERR_MVCC_FUTURE_REV')
  await rejectsWithCode(store.lease.grant(10 ** 12), 'ERR_LEASE_TTL_TOO_LARGE')
  assert.equal((await store.get('keep')).header.revision, rev)
  assert.equal(text((await store.get('keep')).kvs[0]?.value), 'me')
  // The then and else of a nested txn may write the same key.
  assert.equal((await store.txn({ success: [{ txn: { success: [{ put: { key: 'n', value: '1' } }], failure: [{ put: { key: 'n', value: '2' } }] } }] })).succeeded, true)
})

test('put answers with the header of its revision (and prevKv when asked); refusals before the proposal reject, never throw', async () => {
  const { store } = await fresh()
  const first = await store.put('p', '1')
  const second = await store.put('p', '2', { prevKv: true })
  assert.equal(second.header.revision, first.header.revision + 1)
  assert.deepEqual([second.header.memberId, text(second.prevKv?.value), second.prevKv?.modRevision], [1, '1', first.header.revision])
  assert.equal('prevKv' in first, false)
  // A caller's answer that throws rejects its own proposal only; the entry applied and the loop goes on.
  const member = (store as unknown as { member: { propose: (b: unknown, i: unknown, a: () => unknown) => Promise<unknown> } }).member
  await assert.rejects(member.propose({ kind: 'put', key: 'q', value: 'v' }, { username: '', authRevision: 0 }, () => { throw new Error('answer failed') }), /answer failed/)
  assert.equal(text((await store.get('q')).kvs[0]?.value), 'v')
  assert.equal((await store.put('p', '3')).header.revision, second.header.revision + 2)
  await store.close()
  const closed = store.put('p', '4')
  await rejectsWithCode(closed, 'ERR_EMBED_CLOSED')
})

test('requests proposed together share one raft entry and still apply as their own: each its revision, a refusal only its own', async () => {
  const { store } = await fresh()
  await store.put('warm', 'up')
  const before = store.maintenance.status()
  const lease = (await store.lease.grant(60)).id
  const afterGrant = store.maintenance.status()
  // Proposed in one turn: one batch entry (a txn and a single-key delete may ride in it too).
  const calls = [
    store.put('b/0', '0'),
    store.put('b/1', '1', { lease: lease + 1 }),
    store.put('b/2', '2', { lease }),
    store.txn({ compare: [{ key: 'b/0', target: 'version', result: 'equal', value: 1 }], success: [{ put: { key: 'b/3', value: '3' } }] }),
    store.delete('warm'),
    store.put('b/0', '00', { prevKv: true }),
  ]
  const settled = await Promise.allSettled(calls)
  assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
  assert.equal(((settled[1] as PromiseRejectedResult).reason as { code?: string }).code, 'ERR_LEASE_NOT_FOUND')
  const revs = settled.filter((r) => r.status === 'fulfilled').map((r) => (r.value as { header: { revision: number } }).header.revision)
  const base = afterGrant.header.revision
  assert.deepEqual(revs, [base + 1, base + 2, base + 3, base + 4, base + 5])
  // Six requests, one entry (the grant before them had its own).
  assert.equal(store.maintenance.status().raftIndex - afterGrant.raftIndex, 1)
  assert.equal(afterGrant.raftIndex - before.raftIndex, 1)
  assert.equal((await store.txn({ success: [] })).header.revision, base + 5)
  const last = (settled[5] as PromiseFulfilledResult<{ prevKv?: { value: Uint8Array } }>).value
  assert.equal(text(last.prevKv?.value), '0')
  assert.equal((await store.get('b/1')).count, 0)
  assert.equal(text((await store.get('b/3')).kvs[0]?.value), '3')
  assert.equal((await store.get('warm')).count, 0)
})

test('compaction: old revisions fail with ERR_MVCC_COMPACTED', async () => {
  const { store } = await fresh()
  const first = await store.put('c', '1')
  await store.put('c', '2')
  await store.compact(first.header.revision + 1, { physical: true })
  await rejectsWithCode(store.get('c', { revision: first.header.revision }), 'ERR_MVCC_COMPACTED')
})

test('watch: prefix, startRevision, prevKv, filters, cancel and AbortSignal', async () => {
  const { store } = await fresh()
  const first = await store.put('w/a', '1')
  await store.put('w/a', '2')
  const seen: string[] = []
  const ac = new AbortController()
  const w = store.watch('w/', { prefix: true, startRevision: first.header.revision, prevKv: true, noDelete: true, signal: ac.signal })
  const done = (async () => {
    for await (const r of w) {
      for (const e of r.events) seen.push(`${e.type} ${text(e.kv.key)}=${text(e.kv.value)} prev=${text(e.prevKv?.value)}`)
      if (seen.length >= 3) ac.abort()
    }
  })()
  await store.delete('w/a')
  await store.put('w/b', '3')
  await done
  assert.deepEqual(seen, ['put w/a=1 prev=undefined', 'put w/a=2 prev=1', 'put w/b=3 prev=undefined'])
})

test('leases: grant, attach, timeToLive with keys, keepAliveOnce, revoke deletes keys, expiry by the leader', async () => {
  const { store } = await fresh({ tickMs: 10 })
  const l = await store.lease.grant(30)
  await store.put('svc/1', 'a', { lease: l.id })
  const ttl = await store.lease.timeToLive(l.id, { keys: true })
  assert.deepEqual(ttl.keys?.map(text), ['svc/1'])
  assert.equal((await store.lease.keepAliveOnce(l.id)).ttlSeconds, 30)
  assert.ok((await store.lease.leases()).leases.some((x) => x.id === l.id))
  await store.lease.revoke(l.id)
  assert.equal((await store.get('svc/1')).count, 0)
  const short = await store.lease.grant(1)
  await store.put('svc/2', 'b', { lease: short.id })
  const deadline = Date.now() + 10_000
  while ((await store.get('svc/2')).count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  assert.equal((await store.get('svc/2')).count, 0, 'the expired lease was revoked and its key deleted')
})

test('auth: users, roles, permissions, authenticate and a view acting as the user', async () => {
  const { store } = await fresh()
  await store.auth.userAdd('root', 'rootpw')
  await store.auth.roleAdd('root')
  await store.auth.userGrantRole('root', 'root')
  await store.auth.userAdd('alice', 'pw')
  await store.auth.roleAdd('app')
  await store.auth.roleGrantPermission('app', { type: 'readwrite', key: 'app/', end: 'app0' })
  await store.auth.userGrantRole('alice', 'app')
  await store.auth.authEnable()
  await rejectsWithCode(store.auth.authenticate('alice', 'wrong'), 'ERR_AUTH_FAILED')
  const { token } = await store.auth.authenticate('alice', 'pw')
  const alice = store.as(token)
  await alice.put('app/x', '1')
  assert.equal((await alice.get('app/x')).count, 1)
  await rejectsWithCode(alice.put('other', '1'), 'ERR_AUTH_PERMISSION_DENIED')
  await rejectsWithCode(alice.get('other'), 'ERR_AUTH_PERMISSION_DENIED')
  await rejectsWithCode(alice.auth.userAdd('mallory', 'x'), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => store.as('not-a-token'), 'ERR_AUTH_INVALID_TOKEN')
})

test('maintenance: status, hashKV, snapshot stream, defragment, NOSPACE alarm and disarm', async () => {
  const { store } = await fresh()
  await store.put('m', '1')
  const st = store.maintenance.status()
  assert.equal(st.leader, 1)
  assert.ok(st.raftAppliedIndex >= 2)
  const h1 = await store.maintenance.hashKV()
  assert.equal(h1.revision, st.header.revision)
  let bytes = 0
  for await (const c of store.maintenance.snapshot()) bytes += c.length
  assert.ok(bytes > 0)
  await store.maintenance.defragment()
  assert.deepEqual(await store.maintenance.hashKV(h1.revision), { ...h1, header: (await store.maintenance.hashKV(h1.revision)).header })
})

test('restart keeps everything acknowledged; a second open of the directory fails at once', async () => {
  const d = await tempDir('strata-embed-')
  dirs.push(d)
  const s1 = await open({ dir: d.path, tickMs: 20, snapshotCount: 50 })
  await rejectsWithCode(open({ dir: d.path }), 'ERR_EMBED_LOCKED')
  for (let i = 0; i < 120; i++) await s1.put(`r/${i % 30}`, `v${i}`)
  const l = await s1.lease.grant(60)
  await s1.put('r/leased', 'x', { lease: l.id })
  const before = await s1.maintenance.hashKV()
  await s1.close()
  await s1.close()
  await rejectsWithCode(s1.put('x', 'y'), 'ERR_EMBED_CLOSED')
  const progress: string[] = []
  const s2 = await open({ dir: d.path, tickMs: 20, snapshotCount: 50, onProgress: (p) => progress.push(`${p.phase} ${p.done}/${p.total}`) })
  stores.push(s2)
  assert.ok(progress.some((p) => p.startsWith('replay')), `progress reported the replay: ${progress.join(', ')}`)
  const after = await s2.maintenance.hashKV()
  assert.equal(after.hash, before.hash)
  assert.equal(after.revision, before.revision)
  assert.equal(text((await s2.get('r/29')).kvs[0]?.value), 'v119')
  assert.deepEqual((await s2.lease.timeToLive(l.id, { keys: true })).keys?.map(text), ['r/leased'])
})

test.run()
