import type { StatusResponse } from '@strata/embed'
import { nodeFileSystem } from '@strata/seams'
import { mkdtempSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger, parseLogLevel } from '../src/log.js'
import { ServerMetrics } from '../src/metrics.js'
import { ServerError } from '../src/peer/errors.js'

test('the logger writes one JSON object per line at or above its level, with bound fields and errors as { message, code }', () => {
  const lines: string[] = []
  const log = createLogger({ level: 'warn', write: (l) => lines.push(l), now: () => 'T' })
  log.info('hidden')
  log.warn('shown', { n: 1 })
  log.child({ component: 'peer' }).error('failed', { err: new ServerError('ERR_SERVER_TLS', 'no cert') })
  assert.equal(lines.map((l) => JSON.parse(l)), [
    { level: 'warn', ts: 'T', msg: 'shown', n: 1 },
    { level: 'error', ts: 'T', msg: 'failed', component: 'peer', err: { message: 'no cert', code: 'ERR_SERVER_TLS' } },
  ])
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')))
  assert.is(parseLogLevel('debug'), 'debug')
  assert.throws(() => parseLogLevel('verbose'), (e: ServerError) => e.code === 'ERR_SERVER_INVALID_OPTION')
})

test('metrics carry etcd names read from the status at scrape time, count leader changes, and time WAL syncs only', async () => {
  let status: StatusResponse = {
    header: { revision: 42, raftTerm: 3, memberId: 7 }, leader: 7, raftIndex: 100, raftTerm: 3, raftAppliedIndex: 99,
    dbSizeBytes: 4096, dbSizeInUseBytes: 2048, isLearner: false, alarms: [],
  }
  const m = new ServerMetrics({ memberId: 7, status: () => status, quotaBackendBytes: 1000, processMetrics: false })
  m.grpc.started('unary', 'etcdserverpb.KV', 'Put')
  m.grpc.handled('unary', 'etcdserverpb.KV', 'Put', 'OK')
  m.sample()
  status = { ...status, leader: 8 }
  m.sample()
  const text = (await m.render()).body
  for (const line of ['etcd_server_has_leader 1', 'etcd_server_is_leader 0', 'etcd_server_proposals_committed_total 100', 'etcd_server_proposals_applied_total 99',
    'etcd_mvcc_db_total_size_in_bytes 4096', 'etcd_debugging_mvcc_current_revision 42', 'etcd_server_quota_backend_bytes 1000', 'etcd_server_leader_changes_seen_total 1',
    'etcd_server_id{server_id="7"} 1', 'grpc_server_handled_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put",grpc_code="OK"} 1']) {
    assert.ok(text.includes(line), `missing ${line}`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'strata-metrics-'))
  mkdirSync(join(dir, 'wal'))
  const fs = m.timedFileSystem(nodeFileSystem)
  for (const path of [join(dir, 'wal', 'x.wal'), join(dir, 'other')]) {
    const h = await fs.open(path, 'create')
    await h.write(new Uint8Array(10), 0)
    await h.datasync()
    await h.close()
  }
  assert.match((await m.render()).body, /etcd_disk_wal_fsync_duration_seconds_count 1\n/)
})

test('a figure whose source is unavailable has no sample; process metrics come from prom-client, loaded at the first render', async () => {
  const m = new ServerMetrics({ memberId: 7, status: () => { throw new Error('closed') }, proposals: () => undefined, quotaBackendBytes: 1000 })
  const text = (await m.render()).body
  assert.ok(text.includes('# TYPE etcd_server_has_leader gauge\n'))
  assert.not.match(text, /^etcd_server_has_leader /m)
  assert.not.match(text, /^etcd_server_proposals_pending /m)
  assert.match(text, /^etcd_server_quota_backend_bytes 1000$/m)
  assert.match(text, /^process_cpu_seconds_total \d/m)
  assert.match((await m.render()).body, /^process_cpu_seconds_total \d/m) // one registry of process metrics, not one per render
})

test.run()
