// The transport-agnostic handlers called directly (as another transport would), and the error
// mapping from Strata's typed errors to etcd's gRPC status codes and strings.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { open } from '@strata/embed'
import { StrataError } from '@strata/seams'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { RpcError, createEtcdHandlers, createGrpcServer, snapshotFromSavedFile, toRpcError } from '../src/index.js'

const b = (s: string): Buffer => Buffer.from(s)

test('toRpcError: layer codes become etcd\'s status and exact string; bad input INVALID_ARGUMENT; bugs INTERNAL', () => {
  const cases: [string, number, string][] = [
    ['ERR_MVCC_COMPACTED', 11, 'etcdserver: mvcc: required revision has been compacted'],
    ['ERR_MVCC_FUTURE_REV', 11, 'etcdserver: mvcc: required revision is a future revision'],
    ['ERR_LEASE_NOT_FOUND', 5, 'etcdserver: requested lease not found'],
    ['ERR_LEASE_TTL_TOO_LARGE', 11, 'etcdserver: too large lease TTL'],
    ['ERR_EMBED_DUPLICATE_KEY', 3, 'etcdserver: duplicate key given in txn request'],
    ['ERR_MVCC_TOO_MANY_OPS', 3, 'etcdserver: too many operations in txn request'],
    ['ERR_EMBED_NO_SPACE', 8, 'etcdserver: mvcc: database space exceeded'],
    ['ERR_APPLY_NO_SPACE', 8, 'etcdserver: mvcc: database space exceeded'],
    ['ERR_EMBED_REQUEST_TOO_LARGE', 3, 'etcdserver: request is too large'],
    ['ERR_EMBED_TIMEOUT', 14, 'etcdserver: request timed out'],
    ['ERR_EMBED_NO_LEADER', 14, 'etcdserver: no leader'],
    ['ERR_EMBED_NOT_LEADER', 9, 'etcdserver: not leader'],
    ['ERR_EMBED_CLOSED', 14, 'etcdserver: server stopped'],
    ['ERR_AUTH_USER_EMPTY', 3, 'etcdserver: user name is empty'],
    ['ERR_AUTH_INVALID_TOKEN', 16, 'etcdserver: invalid auth token'],
    ['ERR_AUTH_FAILED', 3, 'etcdserver: authentication failed, invalid user ID or password'],
    ['ERR_AUTH_PERMISSION_DENIED', 7, 'etcdserver: permission denied'],
    ['ERR_AUTH_OLD_REVISION', 3, 'etcdserver: revision of auth store is old'],
    ['ERR_APPLY_AUTH_OLD_REVISION', 3, 'etcdserver: revision of auth store is old'],
    ['ERR_AUTH_ROOT_ROLE_NOT_EXIST', 9, 'etcdserver: root user does not have root role'],
    ['ERR_AUTH_NOT_ENABLED', 9, 'etcdserver: authentication is not enabled'],
    ['ERR_APPLY_CORRUPT_ALARM', 15, 'etcdserver: corrupt cluster'],
  ]
  for (const [code, grpc, details] of cases) {
    const e = toRpcError(new StrataError(code, 'x'))
    assert.equal(e.grpcCode, grpc, code)
    assert.equal(e.details, details, code)
    assert.equal(e.code, 'ERR_SERVER_RPC')
  }
  assert.deepEqual([toRpcError(new StrataError('ERR_EMBED_INVALID_ARGUMENT', 'embed: bad')).grpcCode, toRpcError(new StrataError('ERR_EMBED_INVALID_ARGUMENT', 'embed: bad')).details], [3, 'etcdserver: embed: bad'])
  assert.equal(toRpcError(new TypeError('boom')).grpcCode, 13)
  const own = new RpcError(5, 'etcdserver: member not found')
  assert.equal(toRpcError(own), own)
})

test('handlers without a transport: Put/Range/Txn, field checks before the store, a watch session', async () => {
  const dir = await tempDir('strata-api-handlers-')
  const store = await open({ dir: dir.path, backend: 'memory', tickMs: 10, electionTicks: 10 })
  try {
    const h = createEtcdHandlers({ store, clusterId: 77 })
    const put = await h.KV.Put({ key: b('k'), value: b('v') }, {})
    assert.deepEqual(put.header, { cluster_id: 77, member_id: 1, revision: 2, raft_term: put.header.raft_term })
    const r = await h.KV.Range({ key: b('k') }, {})
    assert.equal(Buffer.from(r.kvs[0]!.value).toString(), 'v')
    await assert.rejects(h.KV.Range({ key: b('k'), revision: 2 ** 60 }, {}), (e: RpcError) => e.grpcCode === 3 && /below 2\^53/.test(e.details))
    await assert.rejects(h.KV.Range({ key: b('k'), sort_order: 'SIDEWAYS' }, {}), (e: RpcError) => e.grpcCode === 3 && /sort_order/.test(e.details))
    await assert.rejects(h.KV.Put({ key: b('k'), value: b(''), lease: 5, ignore_lease: true }, {}), (e: RpcError) => e.details === 'etcdserver: lease is provided')
    const t = await h.KV.Txn({ compare: [{ key: b('k'), target: 'MOD', result: 'LESS', mod_revision: 100 }], success: [{ request_range: { key: b('k') } }] }, {})
    assert.equal(t.succeeded, true)
    const sent: Record<string, unknown>[] = []
    const session = h.Watch.Watch({}, async (m) => void sent.push(m as unknown as Record<string, unknown>))
    await session.receive({ create_request: { key: b('k') } })
    await h.KV.Put({ key: b('k'), value: b('w') }, {})
    for (let i = 0; i < 100 && sent.length < 2; i++) await new Promise((res) => setTimeout(res, 10))
    assert.equal(sent[0]!.created, true)
    assert.equal((sent[1]!.events as unknown[]).length, 1)
    session.close()
    assert.equal(session.size, 0)
    await assert.rejects(session.receive({}).then(() => h.Watch.Watch({}, async () => {}).receive({})), (e: RpcError) => e.grpcCode === 3)
  } finally {
    await store.close()
    await dir.cleanup()
  }
})

test('a watch that asked for progress_notify gets empty responses with its id and the current revision while idle', async () => {
  const dir = await tempDir('strata-api-progress-')
  const store = await open({ dir: dir.path, backend: 'memory', tickMs: 10, electionTicks: 10 })
  try {
    const h = createEtcdHandlers({ store, watchProgressNotifyIntervalMs: 30 })
    await h.KV.Put({ key: b('p'), value: b('1') }, {})
    const sent: Record<string, any>[] = []
    const session = h.Watch.Watch({}, async (m) => void sent.push(m))
    await session.receive({ create_request: { key: b('p'), progress_notify: true, watch_id: 5 } })
    for (let i = 0; i < 200 && sent.length < 3; i++) await new Promise((res) => setTimeout(res, 10))
    session.close()
    assert.equal(sent[0]!.created, true)
    assert.ok(sent.length >= 3)
    for (const m of sent.slice(1)) {
      assert.equal(m.watch_id, 5)
      assert.deepEqual(m.events, [])
      assert.equal(m.header.revision, 2)
    }
  } finally {
    await store.close()
    await dir.cleanup()
  }
})

test('bad options fail at once with ERR_SERVER_INVALID_OPTION', () => {
  const store = { as() {}, get() {}, put() {}, watch() {} } as never
  for (const o of [null, {}, { store: 1 }, { store, clusterId: -1 }, { store, watchFragmentBytes: 1.5 }, { store, advertiseClientUrls: 'http://x:1' }, { store, forwarder: {} }, { store, version: 3 }]) {
    assert.throws(() => createEtcdHandlers(o as never), (e: { code?: string }) => e.code === 'ERR_SERVER_INVALID_OPTION', JSON.stringify(o))
  }
  for (const o of [{ store, tls: { cert: 'x', key: 'y' } }, { store, tls: { cert: new Uint8Array(1), key: new Uint8Array(1), clientCertAuth: true } }, { store, closeGraceMs: -5 }, { store, maxReceiveMessageBytes: 10 }]) {
    assert.throws(() => createGrpcServer(o as never), (e: { code?: string }) => e.code === 'ERR_SERVER_INVALID_OPTION', JSON.stringify(o))
  }
})

test('snapshotFromSavedFile refuses files without the 512-aligned SHA-256 trailer or with a cut stream', () => {
  assert.throws(() => snapshotFromSavedFile(new Uint8Array(100)), (e: RpcError) => e.grpcCode === 3)
  assert.throws(() => snapshotFromSavedFile(new Uint8Array(512 + 32)), /SHA-256 mismatch/)
  const body = new Uint8Array(512)
  body.set(b('STRBKSNP'))
  body[16] = 0x01
  body[17] = 3
  const file = Buffer.concat([body, createHash('sha256').update(body).digest()])
  assert.throws(() => snapshotFromSavedFile(file), /does not hold a complete Strata backend stream/)
})

test.run()
