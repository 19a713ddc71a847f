import assert from 'node:assert/strict'
import { type Backend, LmdbBackend, MemoryBackend } from '@strata/backend'
import { type Entry, EntryType } from '@strata/raft'
import type { Clock } from '@strata/seams'
import { Failpoints, rejectsWithCode, tempDir, throwsWithCode } from '@strata/testkit'
import { test } from 'uvu'
import { type ApplyOutcome, type RequestBody, StateMachine, encodeBatch, encodeRequest, readAppliedPoint } from '../src/index.js'

const still: Clock = { now: () => 5_000, setTimer: () => ({ cancel() {} }) }
const VOTERS = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString())

const opened: StateMachine[] = []
test.after(async () => {
  for (const sm of opened) await sm.close()
})

type MakeEntry = (body: RequestBody, username?: string, authRevision?: number) => Entry

async function open(): Promise<{ sm: StateMachine; backend: MemoryBackend; entry: MakeEntry }>
async function open<B extends Backend>(backend: B): Promise<{ sm: StateMachine; backend: B; entry: MakeEntry }>
async function open(backend: Backend = new MemoryBackend({ clock: still })): Promise<{ sm: StateMachine; backend: Backend; entry: MakeEntry }> {
  const sm = await StateMachine.open(backend, { clock: still })
  opened.push(sm)
  await sm.bootstrap(VOTERS)
  let index = sm.applied.index
  let id = 0
  const entry: MakeEntry = (body, username = '', authRevision = sm.auth.revision) => ({
    index: ++index, term: 2, type: EntryType.Normal,
    data: encodeRequest({ header: { id: ++id, username, authRevision }, body }),
  })
  return { sm, backend, entry }
}

test('a put applies with the index, and the index and term commit with it', async () => {
  const { sm, backend, entry } = await open()
  const out = sm.apply(entry({ kind: 'put', key: 'a', value: '1' }))!
  assert.equal(out.error, undefined)
  assert.equal(out.response?.kind, 'put')
  assert.equal(sm.applied.index, 2)
  await backend.commit()
  const point = backend.crash().read(readAppliedPoint)
  assert.equal(point.index, 2)
  assert.equal(point.term, 2)
  assert.deepEqual(point.confState.voters, [1])
})

test('close commits with the applied index: a reopened state machine skips what it applied', async () => {
  const backend = new MemoryBackend({ clock: still })
  const sm = await StateMachine.open(backend, { clock: still })
  await sm.bootstrap(VOTERS)
  const e: Entry = { index: 2, term: 2, type: EntryType.Normal, data: encodeRequest({ header: { id: 1, username: '', authRevision: 0 }, body: { kind: 'put', key: 'a', value: '1' } }) }
  sm.apply(e)
  await sm.close()
  await backend.close()
  const again = await StateMachine.open(backend.reopen(), { clock: still })
  opened.push(again)
  assert.equal(again.applied.index, 2)
  assert.equal(again.apply(e), undefined)
  assert.equal(again.mvcc.range('a').kvs[0]?.version, 1)
})

test('an entry at or below the applied index is skipped: at most once', async () => {
  const { sm, entry } = await open()
  const e = entry({ kind: 'put', key: 'a', value: '1' })
  sm.apply(e)
  assert.equal(sm.apply(e), undefined)
  assert.equal(sm.mvcc.range('a').kvs[0]?.version, 1)
})

test('a refused request rolls back its writes but still advances the index', async () => {
  const { sm, entry } = await open()
  const out = sm.apply(entry({ kind: 'put', key: 'a', value: '1', lease: 99 }))!
  assert.equal(out.error?.code, 'ERR_LEASE_NOT_FOUND')
  assert.equal(sm.applied.index, 2)
  assert.equal(sm.mvcc.range('a').count, 0)
  assert.equal(sm.mvcc.revision, 1)
})

test('a lease revoke deletes its keys in the same write, at one revision', async () => {
  const { sm, entry } = await open()
  sm.apply(entry({ kind: 'leaseGrant', id: 7, ttlSeconds: 10 }))
  sm.apply(entry({ kind: 'put', key: 'x', value: '1', lease: 7 }))
  sm.apply(entry({ kind: 'put', key: 'y', value: '1', lease: 7 }))
  assert.deepEqual(sm.lessor.keysOf(7).map(text), ['x', 'y'])
  const rev = sm.mvcc.revision
  const out = sm.apply(entry({ kind: 'leaseRevoke', id: 7 }))!
  assert.equal(out.response?.kind, 'leaseRevoke')
  assert.equal(sm.mvcc.revision, rev + 1)
  assert.equal(sm.mvcc.range('x').count + sm.mvcc.range('y').count, 0)
  assert.equal(sm.lessor.lookup(7), undefined)
})

test('auth admin requests apply in the entry write; a stale auth revision is refused', async () => {
  const { sm, entry } = await open()
  sm.apply(entry({ kind: 'userAdd', name: 'root', hashedPassword: '', noPassword: true }))
  sm.apply(entry({ kind: 'roleAdd', name: 'root' }))
  sm.apply(entry({ kind: 'userGrantRole', user: 'root', role: 'root' }))
  sm.apply(entry({ kind: 'userAdd', name: 'bob', hashedPassword: '', noPassword: true }))
  sm.apply(entry({ kind: 'authEnable' }))
  assert.equal(sm.auth.enabled, true)
  const denied = sm.apply(entry({ kind: 'put', key: 'a', value: '1' }, 'bob'))!
  assert.equal(denied.error?.code, 'ERR_AUTH_PERMISSION_DENIED')
  assert.equal(sm.apply(entry({ kind: 'put', key: 'a', value: '1' }, 'root', 1))!.error?.code, 'ERR_AUTH_OLD_REVISION')
  assert.equal(sm.apply(entry({ kind: 'put', key: 'a', value: '1' }, 'root'))!.error, undefined)
})

test('a NOSPACE alarm refuses puts and grants but not deletes; deactivating lifts it', async () => {
  const { sm, entry } = await open()
  sm.apply(entry({ kind: 'put', key: 'a', value: '1' }))
  sm.apply(entry({ kind: 'alarm', action: 'activate', memberId: 1, alarm: 'nospace' }))
  assert.equal(sm.apply(entry({ kind: 'put', key: 'b', value: '1' }))!.error?.code, 'ERR_APPLY_NO_SPACE')
  assert.equal(sm.apply(entry({ kind: 'leaseGrant', id: 1, ttlSeconds: 5 }))!.error?.code, 'ERR_APPLY_NO_SPACE')
  assert.equal(sm.apply(entry({ kind: 'deleteRange', key: 'a' }))!.error, undefined)
  sm.apply(entry({ kind: 'alarm', action: 'deactivate', memberId: 1, alarm: 'nospace' }))
  assert.equal(sm.apply(entry({ kind: 'put', key: 'b', value: '1' }))!.error, undefined)
})

test('a crash at either side of a commit keeps effects and applied index together', async () => {
  for (const name of ['backendBeforeCommit', 'backendAfterCommit'] as const) {
    const fps = new Failpoints()
    const { sm, backend, entry } = await open(new MemoryBackend({ clock: still, failpoint: fps.fn }))
    sm.apply(entry({ kind: 'put', key: 'a', value: '1' }))
    await backend.commit()
    sm.apply(entry({ kind: 'put', key: 'b', value: '2' }))
    sm.apply(entry({ kind: 'userAdd', name: 'u', hashedPassword: '', noPassword: true }))
    fps.arm(name)
    await rejectsWithCode(backend.commit(), 'ERR_FAILPOINT')
    const after = await StateMachine.open(backend.crash())
    const applied = after.applied.index
    assert.equal(applied, name === 'backendBeforeCommit' ? 2 : 4, name)
    assert.equal(after.mvcc.range('b').count, applied >= 3 ? 1 : 0)
    assert.equal(after.auth.userList().includes('u'), applied >= 4)
    await after.close()
  }
})

test('restore reloads mvcc, watchers, lessor, auth, alarms and the applied point together', async () => {
  const source = await open()
  source.sm.apply(source.entry({ kind: 'leaseGrant', id: 3, ttlSeconds: 10 }))
  source.sm.apply(source.entry({ kind: 'put', key: 'k', value: 'from-snapshot', lease: 3 }))
  source.sm.apply(source.entry({ kind: 'userAdd', name: 'carol', hashedPassword: '', noPassword: true }))
  const chunks: Uint8Array[] = []
  for await (const c of source.sm.snapshot()) chunks.push(c)

  const target = await open()
  target.sm.apply(target.entry({ kind: 'put', key: 'k', value: 'old' }))
  target.sm.apply(target.entry({ kind: 'alarm', action: 'activate', memberId: 1, alarm: 'nospace' }))
  const watcher = target.sm.watchable.watch('k', { startRevision: target.sm.mvcc.revision + 1 })
  await target.sm.restore((async function* () { yield* chunks })())
  assert.equal(target.sm.applied.index, source.sm.applied.index)
  assert.equal(text(target.sm.mvcc.range('k').kvs[0]?.value), 'from-snapshot')
  assert.deepEqual(target.sm.lessor.keysOf(3).map(text), ['k'])
  assert.deepEqual(target.sm.auth.userList(), ['carol'])
  assert.deepEqual(target.sm.alarms.list(), [])
  assert.ok(watcher !== undefined)
  await source.sm.close()
  await target.sm.close()
})

test('a restore keeps the snapshot\'s applied point through the commits of mvcc\'s rebuild (LMDB: its scan commits, the loop turns)', async () => {
  const dir = await tempDir('strata-apply-restore-')
  try {
    const source = await open(await LmdbBackend.open(`${dir.path}/source`, { clock: still }))
    for (let i = 0; i < 20; i++) source.sm.apply(source.entry({ kind: 'put', key: `k${i}`, value: String(i) }))
    const chunks: Uint8Array[] = []
    for await (const c of source.sm.snapshot()) chunks.push(c)
    const targetBackend = await LmdbBackend.open(`${dir.path}/target`, { clock: still })
    const target = await open(targetBackend)
    target.sm.apply(target.entry({ kind: 'put', key: 'old', value: 'x' }))
    await target.sm.restore((async function* () { yield* chunks })())
    assert.equal(target.sm.applied.index, source.sm.applied.index)
    await targetBackend.commit()
    assert.equal(targetBackend.read(readAppliedPoint).index, source.sm.applied.index, 'the persisted point is the snapshot\'s')
    assert.equal(target.sm.mvcc.range('k', 'l').count, 20)
    await source.sm.close()
    await target.sm.close()
    await source.backend.close()
    await targetBackend.close()
  } finally {
    await dir.cleanup()
  }
})

test('the lessor is promoted once the leader applies an entry of its term, and demoted on losing it', async () => {
  const { sm, entry } = await open()
  sm.setLeader(2, 1000)
  assert.equal(sm.lessor.isPrimary, false)
  sm.apply(entry({ kind: 'put', key: 'a', value: '1' }))
  assert.equal(sm.lessor.isPrimary, true)
  sm.setLeader(undefined)
  assert.equal(sm.lessor.isPrimary, false)
})

test('calls after close are ERR_APPLY_CLOSED; a conf change entry through apply is refused', async () => {
  const { sm, entry } = await open()
  throwsWithCode(() => sm.apply({ index: 9, term: 2, type: EntryType.ConfChange, data: new Uint8Array(0) }), 'ERR_APPLY_INVALID_ARGUMENT')
  const e = entry({ kind: 'put', key: 'a', value: '1' })
  await sm.close()
  await sm.close()
  throwsWithCode(() => sm.apply(e), 'ERR_APPLY_CLOSED')
})

const payload = (id: number, body: RequestBody): Uint8Array => encodeRequest({ header: { id, username: '', authRevision: 0 }, body })

/** Every key's value and revisions, and the store's revision and hash: what two members must agree on. */
async function state(sm: StateMachine): Promise<unknown> {
  const kvs = sm.mvcc.range('\0', '\0').kvs.map((kv) => [text(kv.key), text(kv.value), kv.createRevision, kv.modRevision, kv.version, kv.lease])
  return { kvs, revision: sm.mvcc.revision, applied: sm.applied.index, hash: sm.mvcc.hashByRev(0).hash }
}

test('a batch entry applies its requests in order, each its own revision and outcome; a refusal undoes only its own writes', async () => {
  const { sm } = await open()
  const payloads = [
    payload(1, { kind: 'put', key: 'a', value: '1' }),
    payload(2, { kind: 'put', key: 'b', value: '1', lease: 99 }),
    payload(3, { kind: 'put', key: 'c', value: '3' }),
    Uint8Array.of(1, 250, 0),
    payload(5, { kind: 'deleteRange', key: 'a' }),
    payload(6, { kind: 'txn', txn: { compare: [{ key: 'c', target: 'version', result: 'equal', value: 1 }], success: [{ put: { key: 'd', value: '4' } }] } }),
  ]
  const e: Entry = { index: 2, term: 2, type: EntryType.Normal, data: encodeBatch(payloads) }
  const seen: [ApplyOutcome, Uint8Array][] = []
  assert.equal(sm.applyEach(e, (o, p) => seen.push([o, p])), true)
  assert.deepEqual(seen.map(([, p]) => p), payloads)
  assert.deepEqual(seen.map(([o]) => o.header?.id), [1, 2, 3, undefined, 5, 6])
  assert.deepEqual(seen.map(([o]) => o.error?.code), [undefined, 'ERR_LEASE_NOT_FOUND', undefined, 'ERR_APPLY_CORRUPT', undefined, undefined])
  assert.deepEqual(seen.map(([o]) => o.revision), [2, 2, 3, 3, 4, 5])
  assert.deepEqual(seen.map(([o]) => o.index), [2, 2, 2, 2, 2, 2])
  assert.equal(seen[0]![0].response?.kind, 'put')
  assert.equal(sm.applied.index, 2)
  assert.equal(sm.mvcc.range('a').count, 0)
  assert.equal(sm.mvcc.range('b').count, 0)
  assert.equal(text(sm.mvcc.range('d').kvs[0]?.value), '4')
  // At most once, per entry: a replayed batch changes nothing and answers no one.
  assert.equal(sm.applyEach(e, () => assert.fail('a replayed batch answered')), false)
  assert.equal(sm.apply(e), undefined)
  assert.equal(sm.mvcc.revision, 5)
})

test('a batch whose frame does not decode is one refusal of the whole entry; the index still advances', async () => {
  const { sm } = await open()
  const good = encodeBatch([payload(1, { kind: 'put', key: 'a', value: '1' }), payload(2, { kind: 'put', key: 'b', value: '2' })])
  const out = sm.apply({ index: 2, term: 2, type: EntryType.Normal, data: good.subarray(0, good.length - 1) })!
  assert.equal(out.error?.code, 'ERR_APPLY_CORRUPT')
  assert.equal(out.header, undefined)
  assert.equal(sm.applied.index, 2)
  assert.equal(sm.mvcc.revision, 1)
})

test('a crash between two requests of a batch undoes the batch whole; its replay equals a run that never crashed', async () => {
  const batch: Entry = { index: 3, term: 2, type: EntryType.Normal, data: encodeBatch([
    payload(2, { kind: 'put', key: 'a', value: '2' }),
    payload(3, { kind: 'put', key: 'b', value: '1', lease: 99 }),
    payload(4, { kind: 'put', key: 'a', value: '3' }),
    payload(5, { kind: 'put', key: 'c', value: '1' }),
  ]) }
  const first: Entry = { index: 2, term: 2, type: EntryType.Normal, data: payload(1, { kind: 'put', key: 'a', value: '1' }) }
  const reference = await open()
  reference.sm.apply(first)
  reference.sm.apply(batch)
  for (let skip = 0; skip < 3; skip++) {
    const fps = new Failpoints()
    const backend = new MemoryBackend({ clock: still })
    const sm = await StateMachine.open(backend, { clock: still, failpoint: fps.fn })
    await sm.bootstrap(VOTERS)
    sm.apply(first)
    await backend.commit()
    fps.arm('apply.beforeBatchRequest', { skip })
    throwsWithCode(() => sm.apply(batch), 'ERR_FAILPOINT')
    // The process dies here: the backend keeps what it committed, nothing of the batch.
    const after = await StateMachine.open(backend.crash(), { clock: still })
    opened.push(after)
    assert.equal(after.applied.index, 2)
    assert.equal(after.apply(batch)?.header?.id, 5)
    assert.deepEqual(await state(after), await state(reference.sm), `crash before request ${skip + 2}`)
  }
})

test.run()
