// etcd's v3 API through a plain grpc-js client built from proto/rpc.proto: wire shapes, watch
// semantics, keep-alive streams, snapshot framing and etcd's status codes and strings.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { Client, type ClientDuplexStream, Metadata, type ServiceError, credentials, loadPackageDefinition, makeGenericClientConstructor, status } from '@grpc/grpc-js'
import { test } from 'uvu'
import { loadEtcdProto, snapshotFromSavedFile } from '../src/index.js'
import { type ApiFixture, startApiServer } from './api-fixture.js'

type Msg = Record<string, any>
const b = (s: string): Buffer => Buffer.from(s)
const text = (x: Uint8Array): string => Buffer.from(x).toString()

let f: ApiFixture
const pkg = loadPackageDefinition(loadEtcdProto()) as any
const clients: Client[] = []
function client(service: string): any {
  const C = pkg.etcdserverpb[service]
  const c = new C(f.endpoint, credentials.createInsecure())
  clients.push(c)
  return c
}
function call(service: string, method: string, req: Msg, md?: Metadata): Promise<Msg> {
  const c = client(service)
  return new Promise((resolve, reject) => c[method](req, md ?? new Metadata(), (err: ServiceError | null, res: Msg) => (err ? reject(err) : resolve(res))))
}
async function rejectsWith(p: Promise<unknown>, code: number, details: string): Promise<void> {
  await assert.rejects(p, (e: ServiceError) => {
    assert.equal(e.code, code, e.details)
    assert.equal(e.details, details)
    return true
  })
}
/** Collects a duplex stream's responses; `next()` waits for the next one. */
function collect(stream: ClientDuplexStream<Msg, Msg>) {
  const got: Msg[] = []
  let wake: (() => void) | undefined
  stream.on('data', (m: Msg) => {
    got.push(m)
    wake?.()
  })
  stream.on('error', () => {})
  return {
    async next(timeoutMs = 3000): Promise<Msg> {
      const deadline = Date.now() + timeoutMs
      while (got.length === 0) {
        if (Date.now() > deadline) throw new Error('no response in time')
        await new Promise<void>((r) => {
          wake = r
          setTimeout(r, 50)
        })
      }
      return got.shift()!
    },
    pending: got,
  }
}

test.before(async () => {
  f = await startApiServer({ watchFragmentBytes: 2048 })
})
test.after(async () => {
  for (const c of clients) c.close()
  await f?.close()
})

test('Put/Range: header carries cluster id, member id, revision, term; ranges, limits, counts and sorts', async () => {
  const put = await call('KV', 'Put', { key: b('a/1'), value: b('x') })
  assert.equal(put.header.member_id, 1)
  assert.ok(put.header.cluster_id > 0)
  assert.ok(put.header.raft_term >= 1)
  await call('KV', 'Put', { key: b('a/2'), value: b('yy') })
  const prev = await call('KV', 'Put', { key: b('a/3'), value: b('z'), prev_kv: true })
  assert.equal(prev.prev_kv, null)
  const over = await call('KV', 'Put', { key: b('a/1'), value: b('x2'), prev_kv: true })
  assert.equal(text(over.prev_kv.value), 'x')
  const r = await call('KV', 'Range', { key: b('a/'), range_end: b('a0'), limit: 2, sort_order: 'DESCEND' })
  assert.deepEqual(r.kvs.map((kv: Msg) => text(kv.key)), ['a/3', 'a/2'])
  assert.equal(r.count, 3)
  assert.equal(r.more, true)
  assert.equal(r.header.revision, over.header.revision)
  const c = await call('KV', 'Range', { key: b('a/'), range_end: b('a0'), count_only: true, serializable: true })
  assert.equal(c.count, 3)
  assert.equal(c.kvs.length, 0)
  const k = await call('KV', 'Range', { key: b('a/1'), keys_only: true })
  assert.equal(k.kvs[0].value.length, 0)
  assert.equal(k.kvs[0].version, 2)
  const old = await call('KV', 'Range', { key: b('a/1'), revision: put.header.revision })
  assert.equal(text(old.kvs[0].value), 'x')
})

test('Txn: compares, nested txns and per-op responses; duplicate keys and empty keys as etcd refuses them', async () => {
  const t = await call('KV', 'Txn', {
    compare: [{ key: b('a/1'), target: 'VALUE', result: 'EQUAL', value: b('x2') }, { key: b('a/1'), target: 'VERSION', result: 'GREATER', version: 1 }],
    success: [
      { request_put: { key: b('t/1'), value: b('1') } },
      { request_range: { key: b('a/'), range_end: b('a0'), count_only: true } },
      { request_txn: { compare: [{ key: b('a/1'), target: 'CREATE', result: 'NOT_EQUAL', create_revision: 0 }], success: [{ request_delete_range: { key: b('a/3'), prev_kv: true } }] } },
    ],
    failure: [{ request_put: { key: b('t/2'), value: b('no') } }],
  })
  assert.equal(t.succeeded, true)
  assert.equal(t.responses.length, 3)
  assert.equal(t.responses[1].response_range.count, 3)
  const nested = t.responses[2].response_txn
  assert.equal(nested.succeeded, true)
  assert.equal(nested.responses[0].response_delete_range.deleted, 1)
  assert.equal(text(nested.responses[0].response_delete_range.prev_kvs[0].value), 'z')
  await rejectsWith(call('KV', 'Txn', { success: [{ request_put: { key: b('d'), value: b('1') } }, { request_put: { key: b('d'), value: b('2') } }] }), status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request')
  await rejectsWith(call('KV', 'Put', { key: b(''), value: b('1') }), status.INVALID_ARGUMENT, 'etcdserver: key is not provided')
  await rejectsWith(call('KV', 'Put', { key: b('k'), value: b('1'), ignore_value: true }), status.INVALID_ARGUMENT, 'etcdserver: value is provided')
  const many = Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b(`m/${i}`), value: b('v') } }))
  await rejectsWith(call('KV', 'Txn', { success: many }), status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request')
})

test('Compact: older revisions answer OUT_OF_RANGE "required revision has been compacted"; future revisions too', async () => {
  const h = (await call('KV', 'Put', { key: b('c'), value: b('1') })).header.revision
  await call('KV', 'Put', { key: b('c'), value: b('2') })
  await call('KV', 'Compact', { revision: h + 1, physical: true })
  await rejectsWith(call('KV', 'Range', { key: b('c'), revision: h }), status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted')
  await rejectsWith(call('KV', 'Range', { key: b('c'), revision: h + 1000 }), status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision')
})

test('Watch: created first, auto ids from 0, client ids, duplicate id, prev_kv, filters, progress request, cancel, compacted start', async () => {
  const w = client('Watch').Watch() as ClientDuplexStream<Msg, Msg>
  const r = collect(w)
  w.write({ create_request: { key: b('w/'), range_end: b('w0'), prev_kv: true } })
  const created = await r.next()
  assert.equal(created.created, true)
  assert.equal(created.watch_id, 0)
  w.write({ create_request: { key: b('w/a'), watch_id: 7, filters: ['NOPUT'] } })
  assert.deepEqual([(await r.next()).watch_id], [7])
  w.write({ create_request: { key: b('w/a'), watch_id: 7 } })
  const dup = await r.next()
  assert.equal(dup.created, true)
  assert.equal(dup.canceled, true)
  assert.equal(dup.watch_id, -1)
  assert.equal(dup.cancel_reason, 'mvcc: duplicate watch ID provided on the WatchStream')
  await call('KV', 'Put', { key: b('w/a'), value: b('1') })
  await call('KV', 'Put', { key: b('w/a'), value: b('2') })
  await call('KV', 'DeleteRange', { key: b('w/a') })
  const seen: Msg[] = []
  while (seen.filter((m) => m.watch_id === 0).flatMap((m) => m.events).length < 3 || !seen.some((m) => m.watch_id === 7)) seen.push(await r.next())
  const all = seen.filter((m) => m.watch_id === 0).flatMap((m) => m.events)
  assert.deepEqual(all.map((e: Msg) => e.type), ['PUT', 'PUT', 'DELETE'])
  assert.equal(text(all[1].prev_kv.value), '1')
  const deletesOnly = seen.filter((m) => m.watch_id === 7).flatMap((m) => m.events)
  assert.deepEqual(deletesOnly.map((e: Msg) => e.type), ['DELETE'])
  w.write({ progress_request: {} })
  const progress = await r.next()
  assert.equal(progress.watch_id, -1)
  assert.equal(progress.events.length, 0)
  w.write({ cancel_request: { watch_id: 7 } })
  const canceled = await r.next()
  assert.equal(canceled.watch_id, 7)
  assert.equal(canceled.canceled, true)
  w.write({ create_request: { key: b('c'), start_revision: 1 } })
  const created2 = await r.next()
  assert.equal(created2.created, true)
  const compacted = await r.next()
  assert.ok(compacted.compact_revision > 1)
  assert.equal(compacted.canceled, true)
  w.end()
})

test('Watch: a fragmenting watch splits a large revision into pieces marked fragment', async () => {
  const w = client('Watch').Watch() as ClientDuplexStream<Msg, Msg>
  const r = collect(w)
  w.write({ create_request: { key: b('big/'), range_end: b('big0'), fragment: true } })
  assert.equal((await r.next()).created, true)
  await call('KV', 'Txn', { success: Array.from({ length: 10 }, (_, i) => ({ request_put: { key: b(`big/${i}`), value: Buffer.alloc(600, 1) } })) })
  const pieces: Msg[] = []
  do pieces.push(await r.next())
  while (pieces.at(-1)!.fragment === true)
  assert.ok(pieces.length > 1)
  assert.equal(pieces.flatMap((p) => p.events).length, 10)
  w.end()
})

test('Lease: grant, keep-alive stream (TTL 0 for a lease that is gone), time-to-live -1 after revoke, NOT_FOUND on revoke', async () => {
  const g = await call('Lease', 'LeaseGrant', { TTL: 20 })
  assert.equal(g.TTL, 20)
  await call('KV', 'Put', { key: b('l/1'), value: b('v'), lease: g.ID })
  const ka = client('Lease').LeaseKeepAlive() as ClientDuplexStream<Msg, Msg>
  const r = collect(ka)
  ka.write({ ID: g.ID })
  const one = await r.next()
  assert.equal(one.ID, g.ID)
  assert.equal(one.TTL, 20)
  const ttl = await call('Lease', 'LeaseTimeToLive', { ID: g.ID, keys: true })
  assert.equal(ttl.grantedTTL, 20)
  assert.deepEqual(ttl.keys.map(text), ['l/1'])
  assert.ok((await call('Lease', 'LeaseLeases', {})).leases.some((l: Msg) => l.ID === g.ID))
  await call('Lease', 'LeaseRevoke', { ID: g.ID })
  ka.write({ ID: g.ID })
  assert.equal((await r.next()).TTL, 0)
  ka.end()
  assert.equal((await call('Lease', 'LeaseTimeToLive', { ID: g.ID })).TTL, -1)
  assert.equal((await call('KV', 'Range', { key: b('l/1') })).count, 0)
  await rejectsWith(call('Lease', 'LeaseRevoke', { ID: g.ID }), status.NOT_FOUND, 'etcdserver: requested lease not found')
  await rejectsWith(call('KV', 'Put', { key: b('l/2'), value: b('v'), lease: g.ID }), status.NOT_FOUND, 'etcdserver: requested lease not found')
})

test('Maintenance: Status, HashKV, Alarm GET, and a Snapshot stream ending with the SHA-256 of a 512-aligned body', async () => {
  const s = await call('Maintenance', 'Status', {})
  assert.equal(s.leader, 1)
  assert.ok(s.dbSize > 0)
  assert.ok(s.raftAppliedIndex > 0)
  const h1 = await call('Maintenance', 'HashKV', { revision: 0 })
  const h2 = await call('Maintenance', 'HashKV', { revision: 0 })
  assert.equal(h1.hash, h2.hash)
  assert.deepEqual((await call('Maintenance', 'Alarm', { action: 'GET' })).alarms, [])
  const stream = client('Maintenance').Snapshot({})
  const parts: Buffer[] = []
  let last: Msg | undefined
  for await (const m of stream) {
    parts.push(m.blob)
    last = m
  }
  assert.equal(last!.remaining_bytes, 0)
  const file = Buffer.concat(parts)
  assert.equal((file.length - 32) % 512, 0)
  assert.deepEqual(createHash('sha256').update(file.subarray(0, file.length - 32)).digest(), file.subarray(file.length - 32))
  const inner = snapshotFromSavedFile(file)
  assert.equal(text(inner.subarray(0, 8)), 'STRBKSNP')
  file[40] = file[40]! ^ 1
  assert.throws(() => snapshotFromSavedFile(file), /SHA-256 mismatch/)
})

test('Auth: token metadata, etcd strings for a missing user, a bad password, a bad token, no permission', async () => {
  await rejectsWith(call('Auth', 'Authenticate', { name: 'root', password: 'x' }), status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled')
  await call('Auth', 'UserAdd', { name: 'root', password: 'rootpw' })
  await call('Auth', 'UserGrantRole', { user: 'root', role: 'root' }).catch(async () => {
    await call('Auth', 'RoleAdd', { name: 'root' })
    await call('Auth', 'UserGrantRole', { user: 'root', role: 'root' })
  })
  await call('Auth', 'UserAdd', { name: 'bob', password: 'bobpw' })
  await call('Auth', 'RoleAdd', { name: 'r' })
  await call('Auth', 'RoleGrantPermission', { name: 'r', perm: { permType: 'READWRITE', key: b('bob/'), range_end: b('bob0') } })
  await call('Auth', 'UserGrantRole', { user: 'bob', role: 'r' })
  assert.deepEqual((await call('Auth', 'RoleGet', { role: 'r' })).perm.map((p: Msg) => [p.permType, text(p.key), text(p.range_end)]), [['READWRITE', 'bob/', 'bob0']])
  await call('Auth', 'AuthEnable', {})
  try {
    await rejectsWith(call('KV', 'Put', { key: b('bob/1'), value: b('v') }), status.INVALID_ARGUMENT, 'etcdserver: user name is empty')
    await rejectsWith(call('Auth', 'Authenticate', { name: 'bob', password: 'nope' }), status.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password')
    const { token } = await call('Auth', 'Authenticate', { name: 'bob', password: 'bobpw' })
    const md = new Metadata()
    md.set('token', token)
    await call('KV', 'Put', { key: b('bob/1'), value: b('v') }, md)
    await rejectsWith(call('KV', 'Put', { key: b('other'), value: b('v') }, md), status.PERMISSION_DENIED, 'etcdserver: permission denied')
    await rejectsWith(call('Maintenance', 'Defragment', {}, md), status.PERMISSION_DENIED, 'etcdserver: permission denied')
    await rejectsWith(call('Auth', 'UserList', {}, md), status.PERMISSION_DENIED, 'etcdserver: permission denied')
    await rejectsWith(call('Auth', 'RoleGet', { role: 'r' }, md), status.PERMISSION_DENIED, 'etcdserver: permission denied')
    const bad = new Metadata()
    bad.set('token', 'nonsense.1')
    await rejectsWith(call('KV', 'Range', { key: b('bob/1') }, bad), status.UNAUTHENTICATED, 'etcdserver: invalid auth token')
    await rejectsWith(call('Auth', 'UserAdd', { name: '', password: 'x' }, md), status.INVALID_ARGUMENT, 'etcdserver: user name is empty')
    const rootMd = new Metadata()
    rootMd.set('token', (await call('Auth', 'Authenticate', { name: 'root', password: 'rootpw' })).token)
    await rejectsWith(call('Auth', 'UserGet', { name: 'nobody' }, rootMd), status.FAILED_PRECONDITION, 'etcdserver: user name not found')
    assert.deepEqual((await call('Auth', 'UserList', {}, rootMd)).users, ['bob', 'root'])
  } finally {
    const { token } = await call('Auth', 'Authenticate', { name: 'root', password: 'rootpw' })
    const md = new Metadata()
    md.set('token', token)
    await call('Auth', 'AuthDisable', {}, md)
  }
})

test('bad input on the wire: an unknown method is UNIMPLEMENTED, undecodable bytes are refused, the server keeps serving', async () => {
  const Raw = makeGenericClientConstructor({
    Range: { path: '/etcdserverpb.KV/Range', requestStream: false, responseStream: false, requestSerialize: (x: Buffer) => x, requestDeserialize: (x: Buffer) => x, responseSerialize: (x: Buffer) => x, responseDeserialize: (x: Buffer) => x },
    Nope: { path: '/etcdserverpb.KV/Nope', requestStream: false, responseStream: false, requestSerialize: (x: Buffer) => x, requestDeserialize: (x: Buffer) => x, responseSerialize: (x: Buffer) => x, responseDeserialize: (x: Buffer) => x },
  }, 'Raw')
  const raw = new Raw(f.endpoint, credentials.createInsecure()) as any
  clients.push(raw)
  const rawCall = (m: string, bytes: Buffer): Promise<Buffer> => new Promise((resolve, reject) => raw[m](bytes, (e: Error | null, res: Buffer) => (e ? reject(e) : resolve(res))))
  await assert.rejects(rawCall('Nope', Buffer.alloc(0)), (e: ServiceError) => e.code === status.UNIMPLEMENTED)
  await assert.rejects(rawCall('Range', Buffer.from([0x0a, 0xff, 0xff, 0xff])), (e: ServiceError) => e.code !== status.OK)
  await assert.rejects(rawCall('Range', Buffer.from([0x18, 0xff])), (e: ServiceError) => e.code !== status.OK)
  assert.ok((await call('KV', 'Range', { key: b('a/1') })).count >= 0)
})

test('garbage and truncated HTTP/2 from 100 connections at once: each is dropped, the server keeps serving', async () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
  const payloads = [
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.concat([preface, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), Buffer.from([0, 0x40, 0, 1, 4, 0, 0, 0, 1, 0x82])]),
    Buffer.concat([preface, Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1])]),
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)),
  ]
  await Promise.all(Array.from({ length: 100 }, (_, i) => new Promise<void>((resolve) => {
    const sock = connect(f.port, '127.0.0.1', () => sock.end(payloads[i % payloads.length]!))
    sock.on('error', () => resolve())
    sock.on('close', () => resolve())
    sock.resume()
    setTimeout(() => sock.destroy(), 2000).unref()
  })))
  assert.ok((await call('KV', 'Range', { key: b('a/1') })).count >= 0)
})

test("limits: a value over the request limit is etcd's \"request is too large\"; a message over the receive limit is refused by gRPC", async () => {
  await rejectsWith(call('KV', 'Put', { key: b('big'), value: Buffer.alloc(1_600_000, 1) }), status.INVALID_ARGUMENT, 'etcdserver: request is too large')
  await assert.rejects(call('KV', 'Put', { key: b('big'), value: Buffer.alloc(3 * 1024 * 1024, 1) }), (e: ServiceError) => e.code === status.RESOURCE_EXHAUSTED)
  assert.equal((await call('KV', 'Range', { key: b('big') })).count, 0)
})

test('a closed store answers UNAVAILABLE "etcdserver: server stopped"', async () => {
  const g = await startApiServer()
  const C = pkg.etcdserverpb.KV
  const c = new C(g.endpoint, credentials.createInsecure())
  try {
    await g.store.close()
    await assert.rejects(new Promise((resolve, reject) => c.Put({ key: b('k'), value: b('v') }, (e: ServiceError | null, r: Msg) => (e ? reject(e) : resolve(r)))), (e: ServiceError) => {
      assert.equal(e.code, status.UNAVAILABLE)
      assert.equal(e.details, 'etcdserver: server stopped')
      return true
    })
  } finally {
    c.close()
    await g.close()
  }
})

test.run()
