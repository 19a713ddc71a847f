// strata bench against an in-process Strata (createGrpcServer over an embed store): every kind
// runs a few hundred calls without errors, the writes land, and bad flags are typed errors.
import assert from 'node:assert/strict'
import { type Store, open } from '@strata/embed'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { parseBenchArgs, runBench } from '../src/bench/cli.js'
import { authenticateOnce, runWorkload } from '../src/bench/run.js'
import { type GrpcServer, createGrpcServer } from '../src/grpc-server.js'
import type { H2Error } from '../src/h2/errors.js'

let store: Store
let server: GrpcServer
let dir: { path: string; cleanup(): Promise<void> }
let endpoints: string[] = []

test.before(async () => {
  dir = await tempDir('strata-bench-')
  store = await open({ dir: dir.path, tickMs: 20, bcryptCost: 4 })
  server = createGrpcServer({ store })
  endpoints = [`127.0.0.1:${await server.listen('127.0.0.1', 0)}`]
})

test.after(async () => {
  await server.close()
  await store.close()
  await dir.cleanup()
})

test('put, range (l and s), txn-put: every call answered, the keys written', async () => {
  const put = await runWorkload('put', { endpoints, conns: 2, clients: 16, total: 300, keySpaceSize: 50, sequentialKeys: true })
  assert.equal(put.calls, 300)
  assert.equal(put.errors, 0, JSON.stringify(put.errorCounts))
  assert.ok(put.latencyMs.p50 > 0 && put.latencyMs.p50 <= put.latencyMs.p99 && put.latencyMs.p99 <= put.latencyMs.max)
  assert.ok(put.clientCpuUsPerCall > 0)
  // sequential keys 0..49 as zigzag varints in 8 bytes: key n starts with byte 2n (n < 64)
  const all = await store.get(new Uint8Array([0]), { end: new Uint8Array([0xff]), countOnly: true })
  assert.equal(all.count, 50)
  await store.put('foo', 'bar')
  for (const consistency of ['l', 's'] as const) {
    const range = await runWorkload('range', { endpoints, clients: 8, total: 200, key: 'foo', consistency })
    assert.equal(range.errors, 0, JSON.stringify(range.errorCounts))
    assert.equal(range.calls, 200)
  }
  const txn = await runWorkload('txn-put', { endpoints, clients: 4, total: 20, txnOps: 16, keySpaceSize: 1000, keySize: 8 })
  assert.equal(txn.errors, 0, JSON.stringify(txn.errorCounts))
  assert.equal(txn.keysPerSecond, txn.perSecond * 16)
})

test('watch: every watcher sees every put; lease-keepalive: every request answered', async () => {
  const w = await runWorkload('watch', { endpoints, clients: 4, total: 50, watchers: 6, streams: 3, valSize: 16 })
  assert.equal(w.errors, 0, JSON.stringify(w.errorCounts))
  assert.equal(w.calls, 300)
  assert.equal(w.puts, 50)
  const k = await runWorkload('lease-keepalive', { endpoints, clients: 4, total: 200 })
  assert.equal(k.errors, 0, JSON.stringify(k.errorCounts))
  assert.equal(k.calls, 200)
})

test('runBench prints a report; bad flags exit 2 with a message; invalid options are typed', async () => {
  let out = ''
  let err = ''
  const io = { out: (t: string) => (out += t), err: (t: string) => (err += t) }
  assert.equal(await runBench(['put', `--endpoints=${endpoints[0]}`, '--clients', '4', '--total', '40'], io), 0)
  assert.match(out, /throughput +\d+ calls\/s/)
  assert.match(out, /client CPU +[\d.]+ µs per call/)
  assert.equal(await runBench(['put', '--clients', 'many'], io), 2)
  assert.match(err, /--clients "many" is not an integer/)
  assert.equal(await runBench(['frobnicate'], io), 2)
  assert.equal(await runBench(['--help'], io), 0)
  assert.match(out, /strata bench <kind>/)
  assert.deepEqual(parseBenchArgs(['range', 'a', 'b', '--consistency=s']), { kind: 'range', options: { key: 'a', rangeEnd: 'b', consistency: 's' }, json: false })
  await assert.rejects(runWorkload('put', { endpoints, keySize: 1, keySpaceSize: 1000 }), (e: H2Error) => e.code === 'ERR_SERVER_INVALID_OPTION')
  await assert.rejects(runWorkload('txn-put', { endpoints, txnOps: 10, keySpaceSize: 5 }), (e: H2Error) => e.code === 'ERR_SERVER_INVALID_OPTION')
  await assert.rejects(runWorkload('put', { endpoints: ['nope'] }), (e: H2Error) => e.code === 'ERR_SERVER_INVALID_ARGUMENT')
})

// last: it turns auth on for the rest of the file
test('authenticate: Authenticate calls with --user; a token got once serves a put loop; an aborted loop stops issuing', async () => {
  await store.auth.userAdd('root', 'root-pw')
  await store.auth.roleAdd('root')
  await store.auth.userGrantRole('root', 'root')
  await store.auth.authEnable()
  const a = await runWorkload('authenticate', { endpoints, clients: 4, total: 8, user: 'root:root-pw' })
  assert.equal(a.errors, 0, JSON.stringify(a.errorCounts))
  assert.equal(a.calls, 8)
  const wrong = await runWorkload('authenticate', { endpoints, clients: 2, total: 2, user: 'root:nope' })
  assert.equal(wrong.errors, 2)
  await assert.rejects(runWorkload('authenticate', { endpoints, total: 1 }), (e: H2Error) => e.code === 'ERR_SERVER_INVALID_OPTION')
  const noToken = await runWorkload('put', { endpoints, clients: 1, total: 2 })
  assert.equal(noToken.errors, 2, 'a put without a token is refused once auth is on')
  const token = await authenticateOnce(endpoints[0]!, 'root:root-pw')
  assert.ok(token.length > 0)
  const stop = new AbortController()
  const loop = runWorkload('put', { endpoints, clients: 4, total: 100_000_000, keySpaceSize: 100, token, signal: stop.signal })
  setTimeout(() => stop.abort(), 300)
  const r = await loop
  assert.equal(r.errors, 0, JSON.stringify(r.errorCounts))
  assert.ok(r.calls > 0 && r.calls < 100_000_000, `${r.calls} calls`)
})

test.run()
