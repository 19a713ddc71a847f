import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { etcdctl, freePort, serve } from './cli-fixture.js'

const dir = mkdtempSync(join(tmpdir(), 'strata-cli-metrics-'))

/** The value of the sample `line` starts with (name and labels exactly), or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const l of text.split('\n')) if (l.startsWith(`${series} `)) return Number(l.slice(series.length + 1))
  return undefined
}

const kv = (method: string): string => `grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="${method}"`

for (const server of ['lean', 'grpc-js'] as const) {
  test(`/metrics after etcdctl calls (${server} server): gRPC calls counted by method and code, proposals committed/applied/pending/failed, backend commit durations, db size`, async () => {
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()]
    const s = serve(['--name', 'm', '--data-dir', join(dir, server), '--listen-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--listen-metrics-urls', `http://127.0.0.1:${metrics}`, ...(server === 'grpc-js' ? ['--experimental-grpc-js'] : [])])
    try {
      await s.ready
      assert.ok(s.logLines().some((l) => l.msg === 'ready to serve client requests' && l.grpcServer === (server === 'grpc-js' ? 'grpc-js' : 'lean')))
      const ep = `--endpoints=http://127.0.0.1:${client}`
      for (let i = 0; i < 3; i++) assert.is((await etcdctl([ep, 'put', `m/${i}`, 'v'])).code, 0)
      assert.is((await etcdctl([ep, 'get', 'm/', '--prefix'])).code, 0)
      const future = await etcdctl([ep, 'get', 'm/0', '--rev=1000'])
      assert.match(future.stderr, /required revision is a future revision/)
      const lease = /lease ([0-9a-f]+) granted/.exec((await etcdctl([ep, 'lease', 'grant', '60'])).stdout)![1]!
      assert.is((await etcdctl([ep, 'lease', 'keep-alive', '--once', lease])).code, 0)

      // The keep-alive stream is counted as handled when the server sees it end, which may come
      // after etcdctl has exited: wait for it too (it once lagged the scrape on a loaded machine).
      const keepAliveHandled = /grpc_server_handled_total\{grpc_type="bidi_stream",grpc_service="etcdserverpb.Lease",grpc_method="LeaseKeepAlive",grpc_code="(OK|Canceled)"\} 1/
      let text = ''
      for (let i = 0; i < 50; i++) {
        text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()
        if ((sample(text, 'etcd_disk_backend_commit_duration_seconds_count') ?? 0) > 0 && keepAliveHandled.test(text)) break
        await new Promise((r) => setTimeout(r, 100))
      }
      assert.is(sample(text, `grpc_server_started_total{${kv('Put')}}`), 3, text)
      assert.is(sample(text, `grpc_server_handled_total{${kv('Put')},grpc_code="OK"}`), 3)
      assert.is(sample(text, `grpc_server_msg_received_total{${kv('Put')}}`), 3)
      assert.is(sample(text, `grpc_server_msg_sent_total{${kv('Put')}}`), 3)
      assert.is(sample(text, `grpc_server_handled_total{${kv('Range')},grpc_code="OK"}`), 1)
      assert.is(sample(text, `grpc_server_handled_total{${kv('Range')},grpc_code="OutOfRange"}`), 1)
      const ka = 'grpc_type="bidi_stream",grpc_service="etcdserverpb.Lease",grpc_method="LeaseKeepAlive"'
      assert.is(sample(text, `grpc_server_started_total{${ka}}`), 1)
      assert.is(sample(text, `grpc_server_msg_received_total{${ka}}`), 1)
      assert.is(sample(text, `grpc_server_msg_sent_total{${ka}}`), 1)
      assert.ok(keepAliveHandled.test(text), text)
      // Four proposals (three puts, a lease grant) at least, on top of the member's own entries.
      const committed = sample(text, 'etcd_server_proposals_committed_total')!
      assert.ok(committed >= 5, `committed ${committed}`)
      assert.is(sample(text, 'etcd_server_proposals_applied_total'), committed)
      assert.is(sample(text, 'etcd_server_proposals_pending'), 0)
      assert.is(sample(text, 'etcd_server_proposals_failed_total'), 0)
      assert.ok(sample(text, 'etcd_disk_backend_commit_duration_seconds_count')! > 0, 'no backend commit timed')
      assert.ok(sample(text, 'etcd_disk_backend_commit_duration_seconds_sum')! > 0)
      assert.ok(sample(text, 'etcd_mvcc_db_total_size_in_bytes')! > 0)
    } finally {
      s.proc.kill('SIGTERM')
    }
    assert.is(await s.exited, 0, s.stderr())
  })
}

test.run()
