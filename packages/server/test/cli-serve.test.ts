import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { main } from '../src/cli/main.js'
import { etcdctl, freePort, serve, strata } from './cli-fixture.js'

const dir = mkdtempSync(join(tmpdir(), 'strata-cli-'))

async function inProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { out: (t) => { stdout += t }, err: (t) => { stderr += t }, tty: false })
  return { code, stdout, stderr }
}

test('every command answers --help with exit 0; unknown commands, flags and bad values exit 2 naming the problem', async () => {
  const spawned = await strata(['serve', '--help'])
  assert.is(spawned.code, 0, spawned.stderr)
  assert.match(spawned.stdout, /--initial-cluster-state/)
  for (const c of [[], ['serve'], ['wal'], ['snapshot'], ['verify'], ['defrag'], ['check'], ['bench']]) {
    const r = await inProcess([...c, '--help'])
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /^strata /)
  }
  const spawnedBad = await strata(['serve', '--no-such-flag'])
  assert.is(spawnedBad.code, 2)
  assert.match(spawnedBad.stderr, /--no-such-flag/)
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['serve', '--snapshot-count', 'many'], /--snapshot-count must be an integer/],
    [['serve', '--name', 'x', '--initial-cluster', 'y=http://127.0.0.1:1'], /does not list this member's --name "x"/],
    [['serve', '--log-level', 'loud'], /--log-level must be one of/],
    [['serve', '--listen-client-urls', 'ftp://127.0.0.1:1'], /scheme ftp/],
    [['serve', '--client-cert-auth'], /--client-cert-auth needs --cert-file/],
    [['serve', '--heartbeat-interval', '100', '--election-timeout', '150'], /at least twice/],
    [['wal', 'verify'], /usage: strata wal/],
    [['check', 'perf', '--load', 'huge'], /--load must be s, m, l or xl/],
    [['snapshot', 'status'], /usage: strata snapshot/],
  ]
  for (const [argv, message] of cases) {
    const r = await inProcess(argv)
    assert.is(r.code, 2, `${argv.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, message)
  }
})

test('strata serve: etcdctl works against it, /health and /metrics answer, garbage on the peer port is refused, SIGTERM stops it cleanly; then wal verify, dump and snapshot tools', async () => {
  const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()]
  const data = join(dir, 'one')
  const s = serve(['--name', 'one', '--data-dir', data, '--listen-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--listen-metrics-urls', `http://127.0.0.1:${metrics}`, '--log-level', 'debug'])
  try {
    await s.ready
    const ep = `--endpoints=127.0.0.1:${client}`
    assert.is((await etcdctl([ep, 'put', 'cli/a', 'one'])).code, 0)
    const got = await etcdctl([ep, 'get', 'cli/a', '--print-value-only'])
    assert.is(got.stdout.trim(), 'one', got.stderr)

    const health = await fetch(`http://127.0.0.1:${metrics}/health`)
    assert.is(health.status, 200)
    assert.equal(await health.json(), { health: 'true' })
    const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()
    for (const name of ['etcd_server_has_leader 1', 'etcd_server_is_leader 1', 'etcd_mvcc_db_total_size_in_bytes', 'etcd_disk_wal_fsync_duration_seconds_bucket', 'etcd_server_proposals_committed_total', 'etcd_server_proposals_applied_total', 'etcd_network_peer_sent_bytes_total', 'process_cpu_seconds_total']) {
      assert.ok(text.includes(name), `/metrics lacks ${name}`)
    }
    assert.is((await fetch(`http://127.0.0.1:${metrics}/nope`)).status, 404)

    // A peer speaking garbage is refused; the member goes on serving.
    await new Promise<void>((done) => {
      const sock = connect({ host: '127.0.0.1', port: peer }, () => sock.write(Buffer.from('\x00\x00\x00\x05garbage-and-more')))
      sock.on('error', () => {})
      sock.on('close', () => done())
    })
    assert.is((await etcdctl([ep, 'put', 'cli/b', 'two'])).code, 0)

    const snap = join(dir, 'one.snap')
    const saved = await strata(['snapshot', 'save', snap, ep])
    assert.is(saved.code, 0, saved.stderr)
    assert.match(saved.stdout, /Snapshot saved at .*one\.snap/)
    const status = await inProcess(['snapshot', 'status', snap, '-w', 'json'])
    assert.is(status.code, 0, status.stderr)
    const st = JSON.parse(status.stdout) as { revision: number; totalKey: number; totalSize: number }
    assert.is(st.revision, 3)
    assert.is(st.totalKey, 2)
    const damaged = readFileSync(snap)
    damaged[100]! ^= 0xff
    writeFileSync(`${snap}.bad`, damaged)
    assert.is((await inProcess(['snapshot', 'status', `${snap}.bad`])).code, 4)

    const defrag = await inProcess(['defrag', ep])
    assert.is(defrag.code, 0, defrag.stderr)
    assert.match(defrag.stdout, /Finished defragmenting/)
    const perf = await inProcess(['check', 'perf', ep, '--duration-seconds', '1'])
    assert.ok(perf.code === 0 || perf.code === 1, perf.stderr)
    assert.match(perf.stdout, /^(PASS|FAIL): Throughput/m)
    assert.match(perf.stdout, /^(PASS|FAIL)$/m)
    assert.is((await etcdctl([ep, 'get', '/etcdctl-check-perf/', '--prefix', '--keys-only'])).stdout.trim(), '', 'check perf deletes its keys')
  } finally {
    s.proc.kill('SIGTERM')
  }
  assert.is(await s.exited, 0, s.stderr())
  const lines = s.logLines()
  assert.ok(lines.every((l) => typeof l.level === 'string' && typeof l.ts === 'string' && typeof l.msg === 'string'))
  assert.ok(lines.some((l) => l.msg === 'peer bad-frame' || l.msg === 'peer refused-inbound'), s.stderr())
  assert.is(lines.at(-1)!.msg, 'stopped')

  const verify = await strata(['wal', 'verify', data])
  assert.is(verify.code, 0, verify.stderr)
  assert.match(verify.stdout, /intact: 1 segment\(s\), last index \d+/)
  const dumped = await inProcess(['wal', 'dump', data, '--json'])
  assert.is(dumped.code, 0, dumped.stderr)
  const records = dumped.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string })
  assert.ok(records.some((r) => r.type === 'entry') && records.some((r) => r.type === 'hardState'))

  // Flip a byte inside the first entry: verify reports damage with exit 4.
  const walDir = join(data, 'wal')
  const seg = readdirSync(walDir).find((n) => n.endsWith('.wal'))!
  const entry = (records as unknown as { type: string; offset: number }[]).find((r) => r.type === 'entry')!
  const bytes = readFileSync(join(walDir, seg))
  bytes[entry.offset + 20]! ^= 0xff
  writeFileSync(join(walDir, seg), bytes)
  const broken = await inProcess(['wal', 'verify', data])
  assert.ok(broken.code === 4 || /torn/.test(broken.stdout), `${broken.code} ${broken.stdout} ${broken.stderr}`)
})

test('a client command against an endpoint nobody serves exits 3 (unavailable) after --dial-timeout', async () => {
  const r = await inProcess(['defrag', `--endpoints=127.0.0.1:${await freePort()}`, '--dial-timeout', '500'])
  assert.is(r.code, 3, r.stderr)
})

test.run()
