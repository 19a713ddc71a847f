// The lean server honours grpc-timeout as grpc-go's server does: a call still running when its
// deadline passes ends with DEADLINE_EXCEEDED (and is counted so); one that finishes in time is
// unaffected. The client here (H2Connection) keeps no deadline of its own, so the ending seen is
// the server's.
import assert from 'node:assert/strict'
import { InProcessNetwork, type Store, open } from '@strata/embed'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { H2Connection } from '../src/h2/client.js'
import type { H2Error } from '../src/h2/errors.js'
import { loadEtcdProto } from '../src/api/proto.js'
import { createH2GrpcServer, parseGrpcTimeout } from '../src/h2/server.js'
import { ServerMetrics } from '../src/metrics.js'

const putDef = (loadEtcdProto()['etcdserverpb.KV'] as unknown as Record<string, { requestSerialize(v: unknown): Buffer }>).Put!
const encodePutRequest = (key: string, value: string): Buffer => putDef.requestSerialize({ key: Buffer.from(key), value: Buffer.from(value) })
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

test('parseGrpcTimeout: every unit; malformed values give no deadline', () => {
  assert.equal(parseGrpcTimeout('2H'), 7_200_000)
  assert.equal(parseGrpcTimeout('3M'), 180_000)
  assert.equal(parseGrpcTimeout('5S'), 5000)
  assert.equal(parseGrpcTimeout('250m'), 250)
  assert.equal(parseGrpcTimeout('1500u'), 1.5)
  assert.equal(parseGrpcTimeout('2000000n'), 2)
  for (const bad of ['', '5', 'S', '123456789S', '-1S', '1.5S', '10s ']) assert.equal(parseGrpcTimeout(bad), undefined, bad)
})

test('a put waiting on a cut-off leader ends with DEADLINE_EXCEEDED at its grpc-timeout; a put in time is answered; both are counted', async () => {
  const d = await tempDir('strata-h2-deadline-')
  const net = new InProcessNetwork()
  const cluster = [{ id: 1 }, { id: 2 }]
  const stores: Store[] = []
  const metrics = new ServerMetrics({ memberId: 1, status: () => undefined, quotaBackendBytes: 0, processMetrics: false })
  let server: ReturnType<typeof createH2GrpcServer> | undefined
  let c: H2Connection | undefined
  try {
    for (const id of [1, 2]) stores.push(await open({ dir: `${d.path}/m${id}`, memberId: id, initialCluster: cluster, transport: net.transport(id), tickMs: 10, electionTicks: 10, requestTimeoutMs: 5000 }))
    let leader: Store | undefined
    for (let i = 0; i < 500 && leader === undefined; i++) {
      leader = stores.find((s) => s.maintenance.status().leader === s.maintenance.status().header.memberId)
      if (leader === undefined) await sleep(10)
    }
    assert.ok(leader !== undefined, 'no leader')
    server = createH2GrpcServer({ store: leader, observer: metrics.grpc })
    c = await H2Connection.open(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`)
    const conn = c
    const put = (timeout: string, key: string): Promise<H2Error | null> => new Promise((res) => conn.unary(conn.requestHeaders('/etcdserverpb.KV/Put', [['grpc-timeout', timeout]]), encodePutRequest(key, 'v'), (e) => res(e)))
    assert.equal(await put('5S', 'in-time'), null)

    net.cut(stores.find((s) => s !== leader)!.maintenance.status().header.memberId)
    const t0 = performance.now()
    const err = await put('150m', 'too-late')
    const took = performance.now() - t0
    assert.equal(err?.context?.grpcStatus, 4, String(err?.message))
    assert.equal(err?.context?.grpcMessage, 'context deadline exceeded')
    assert.ok(took >= 140 && took < 3000, `ended after ${took} ms`)

    const text = (await metrics.render()).body
    const labels = 'grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put"'
    assert.ok(text.includes(`grpc_server_handled_total{${labels},grpc_code="OK"} 1`), text)
    assert.ok(text.includes(`grpc_server_handled_total{${labels},grpc_code="DeadlineExceeded"} 1`), text)
    assert.ok(text.includes(`grpc_server_started_total{${labels}} 2`), text)
  } finally {
    await c?.close()
    await server?.close()
    for (const s of stores) await s.close()
    await d.cleanup()
  }
})

test.run()
