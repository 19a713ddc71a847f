// createH2GrpcServer (the lean HTTP/2 framing) against real clients: grpc-js with etcd's protos
// (as the etcd3 npm client uses it), this package's own H2Connection, and etcdctl 3.4 (grpc-go)
// when it is installed; and bad input on the port, which ends a connection, never the server.
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { connect } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { type Store, open } from '@strata/embed'
import { tempDir } from '@strata/testkit'
import { Etcd3 } from 'etcd3'
import { test } from 'uvu'
import { loadEtcdProto } from '../src/api/proto.js'
import type { GrpcServer } from '../src/grpc-server.js'
import { H2Connection } from '../src/h2/client.js'
import type { H2Error } from '../src/h2/errors.js'
import { PREFACE, frame } from '../src/h2/frames.js'
import { encodeHeaderBlock } from '../src/h2/hpack.js'
import { createH2GrpcServer } from '../src/h2/server.js'

const execFileP = promisify(execFile)
let store: Store
let server: GrpcServer
let dir: { path: string; cleanup(): Promise<void> }
let endpoint = ''
type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>
let kv: Client
let watch: Client
let lease: Client

test.before(async () => {
  dir = await tempDir('strata-h2-server-')
  store = await open({ dir: dir.path, tickMs: 20 })
  server = createH2GrpcServer({ store, maxReceiveMessageBytes: 64 * 1024, maxBufferedBytes: 100_000 })
  endpoint = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`
  const pkg = grpc.loadPackageDefinition(loadEtcdProto()) as unknown as { etcdserverpb: Record<string, new (a: string, c: grpc.ChannelCredentials) => Client> }
  kv = new pkg.etcdserverpb.KV!(endpoint, grpc.credentials.createInsecure())
  watch = new pkg.etcdserverpb.Watch!(endpoint, grpc.credentials.createInsecure())
  lease = new pkg.etcdserverpb.Lease!(endpoint, grpc.credentials.createInsecure())
})

test.after(async () => {
  for (const c of [kv, watch, lease]) c?.close()
  await server.close()
  await store.close()
  await dir.cleanup()
})

const unary = <T>(c: Client, method: string, req: unknown): Promise<T> =>
  new Promise((res, rej) => (c[method] as (r: unknown, cb: (e: grpc.ServiceError | null, v: T) => void) => void).call(c, req, (e, v) => (e ? rej(e) : res(v))))

test('grpc-js client: Put, Range, Txn, an etcd error status, an unknown method', async () => {
  await unary(kv, 'Put', { key: Buffer.from('k1'), value: Buffer.from('v1') })
  const r = await unary<{ kvs: { key: Buffer; value: Buffer }[]; count: number; header: { revision: number } }>(kv, 'Range', { key: Buffer.from('k1') })
  assert.equal(r.count, 1)
  assert.equal(r.kvs[0]!.value.toString(), 'v1')
  const t = await unary<{ succeeded: boolean }>(kv, 'Txn', {
    compare: [{ key: Buffer.from('k1'), target: 'VALUE', result: 'EQUAL', value: Buffer.from('v1') }],
    success: [{ request_put: { key: Buffer.from('k2'), value: Buffer.from('v2') } }],
  })
  assert.equal(t.succeeded, true)
  await assert.rejects(unary(kv, 'Put', { key: Buffer.alloc(0), value: Buffer.from('x') }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details === 'etcdserver: key is not provided')
  await assert.rejects(unary(kv, 'Put', { key: Buffer.from('big'), value: Buffer.alloc(100 * 1024) }), (e: grpc.ServiceError) => e.code !== grpc.status.OK)
  const c = await H2Connection.open(endpoint)
  try {
    const call = (path: string) => new Promise<H2Error | null>((res) => c.unary(c.requestHeaders(path), Buffer.alloc(0), (e) => res(e)))
    assert.equal((await call('/etcdserverpb.KV/Nope'))?.context?.grpcStatus, 12)
    assert.equal((await call('/nope.Svc/X'))?.message, 'unknown service nope.Svc')
  } finally {
    await c.close()
  }
})

test('grpc-js client: a Watch stream sees puts; LeaseKeepAlive answers each request', async () => {
  const events: string[] = []
  const w = (watch.Watch as () => grpc.ClientDuplexStream<unknown, { created: boolean; events: { kv: { value: Buffer } }[] }>).call(watch)
  const created = new Promise<void>((res) => w.on('data', (m) => {
    if (m.created) res()
    for (const e of m.events) events.push(e.kv.value.toString())
  }))
  w.on('error', () => {})
  w.write({ create_request: { key: Buffer.from('w') } })
  await created
  for (const v of ['a', 'b', 'c']) await unary(kv, 'Put', { key: Buffer.from('w'), value: Buffer.from(v) })
  for (let i = 0; i < 100 && events.length < 3; i++) await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(events, ['a', 'b', 'c'])
  w.cancel()
  const g = await unary<{ ID: number }>(lease, 'LeaseGrant', { TTL: 30 })
  const ka = (lease.LeaseKeepAlive as () => grpc.ClientDuplexStream<unknown, { ID: number; TTL: number }>).call(lease)
  const ttls: number[] = []
  const done = new Promise<void>((res) => {
    ka.on('data', (m) => ttls.push(m.TTL))
    ka.on('end', res)
  })
  for (let i = 0; i < 5; i++) ka.write({ ID: g.ID })
  ka.end()
  await done
  assert.deepEqual(ttls, [30, 30, 30, 30, 30])
})

test('the etcd3 npm client: put, get, a prefix watch, a lease with a keep-alive', async () => {
  const client = new Etcd3({ hosts: `http://${endpoint}` })
  try {
    await client.put('e3/a').value('1')
    assert.equal(await client.get('e3/a').string(), '1')
    const w = await client.watch().prefix('e3/').create()
    const seen = new Promise<string>((res) => w.on('put', (kv) => res(kv.value.toString())))
    await client.put('e3/b').value('2')
    assert.equal(await seen, '2')
    await w.cancel()
    const lease = client.lease(30, { autoKeepAlive: false })
    await lease.put('e3/leased').value('x')
    const ka = await lease.keepaliveOnce()
    assert.equal(Number(ka.TTL), 30)
    await lease.revoke()
    assert.equal(await client.get('e3/leased').string(), null)
  } finally {
    client.close()
  }
})

test('etcdctl 3.4 (grpc-go) against it, when installed', async () => {
  if (spawnSync('etcdctl', ['version']).status !== 0) return
  // async: the server runs in this process's event loop
  const ctl = (...args: string[]) => execFileP('etcdctl', ['--endpoints', endpoint, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, timeout: 20_000 })
  assert.equal((await ctl('put', 'ctl', 'yes')).stdout.trim(), 'OK')
  assert.equal((await ctl('get', 'ctl', '--print-value-only')).stdout.trim(), 'yes')
  const grant = await ctl('lease', 'grant', '30')
  assert.match(grant.stdout, /granted with TTL\(30s\)/)
  const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)![1]!
  assert.match((await ctl('lease', 'keep-alive', '--once', id)).stdout, /keepalived with TTL\(30\)/)
  assert.match((await ctl('endpoint', 'status')).stdout, /3\.5\.0/)
})

test('garbage, a bad preface and a frame flood end their connection; the server keeps serving', async () => {
  // resolves true when the server closed the connection (within 3 s)
  const send = (bytes: Buffer) => new Promise<boolean>((res) => {
    const s = connect(Number(endpoint.split(':')[1]), '127.0.0.1', () => s.write(bytes))
    const timer = setTimeout(() => {
      res(false)
      s.destroy()
    }, 3000)
    s.on('data', () => {})
    s.on('error', () => {})
    s.on('close', () => {
      clearTimeout(timer)
      res(true)
    })
  })
  assert.ok(await send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')))
  assert.ok(await send(Buffer.concat([PREFACE, Buffer.from([0, 0, 4, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4])])), 'SETTINGS of 4 bytes')
  assert.ok(await send(Buffer.concat([PREFACE, frame(4, 0, 0), Buffer.from([0xff, 0xff, 0xff, 1, 4, 0, 0, 0, 1])])), 'a 16 MiB HEADERS frame')
  assert.ok(await send(Buffer.concat([PREFACE, frame(4, 0, 0), frame(1, 4, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]))])), 'an HPACK index past every table')
  // ten streams each holding 16 KB of a 60 KB message: 160 KB of incomplete messages > maxBufferedBytes
  const block = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/etcdserverpb.KV/Put'], [':authority', 'x'], ['content-type', 'application/grpc']])
  const partial = Buffer.alloc(16_005)
  partial.writeUInt32BE(60_000, 1)
  const streams = Array.from({ length: 10 }, (_, i) => Buffer.concat([frame(1, 4, 2 * i + 1, block), frame(0, 0, 2 * i + 1, partial)]))
  assert.ok(await send(Buffer.concat([PREFACE, frame(4, 0, 0), ...streams])), 'incomplete messages above maxBufferedBytes')
  const r = await unary<{ count: number }>(kv, 'Range', { key: Buffer.from('k1') })
  assert.equal(r.count, 1)
})

test.run()
