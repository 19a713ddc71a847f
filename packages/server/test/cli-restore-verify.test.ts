import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { snapshotFromSavedFile } from '../src/api/maintenance.js'
import { main } from '../src/cli/main.js'
import { checkSavedFile, savedFileBackendStream } from '../src/cli/snapshot.js'
import { etcdctl, freePort, serve, strata } from './cli-fixture.js'

const dir = mkdtempSync(join(tmpdir(), 'strata-cli-restore-'))

async function inProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { out: (t) => { stdout += t }, err: (t) => { stderr += t }, tty: false })
  return { code, stdout, stderr }
}

function member(name: string, data: string, client: number, peer: number, extra: string[] = []): string[] {
  return ['--name', name, '--data-dir', data, '--listen-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--log-level', 'info', ...extra]
}

test('snapshot restore: a backup saved from a running member (keys, a lease, a user) becomes a new cluster that strata serve starts with the same keys and revision; a damaged file exits 4; then strata verify finds a sound directory sound and names a damaged record', async () => {
  const [client, peer] = [await freePort(), await freePort()]
  const src = serve(member('orig', join(dir, 'orig'), client, peer))
  const ep = `--endpoints=127.0.0.1:${client}`
  const snap = join(dir, 'backup.db')
  let revision: number
  let oldCluster: string
  try {
    await src.ready
    for (let i = 0; i < 4; i++) assert.is((await etcdctl([ep, 'put', `restore/k${i}`, `value-number-${i}-xyzzy`])).code, 0)
    const lease = await etcdctl([ep, 'lease', 'grant', '600'])
    const leaseId = /lease ([0-9a-f]+) granted/.exec(lease.stdout)![1]!
    assert.is((await etcdctl([ep, 'put', 'restore/leased', 'x', `--lease=${leaseId}`])).code, 0)
    assert.is((await etcdctl([ep, 'user', 'add', 'alice:alicepw'])).code, 0)
    const st = JSON.parse((await etcdctl([ep, 'endpoint', 'status', '-w', 'json'])).stdout) as [{ Status: { header: { revision: number; cluster_id: number } } }]
    revision = st[0].Status.header.revision
    oldCluster = String(st[0].Status.header.cluster_id)
    const saved = await strata(['snapshot', 'save', snap, ep])
    assert.is(saved.code, 0, saved.stderr)
  } finally {
    src.proc.kill('SIGTERM')
  }
  assert.is(await src.exited, 0, src.stderr())

  // The file is read in chunks: the stream found in it is the one snapshotFromSavedFile finds in memory.
  const body = await checkSavedFile(snap)
  const inMemory = Buffer.from(snapshotFromSavedFile(readFileSync(snap)))
  for (const chunkBytes of [undefined, 1, 7, 100, 4096]) {
    const chunks: Uint8Array[] = []
    for await (const c of savedFileBackendStream(snap, body, chunkBytes)) chunks.push(Buffer.from(c))
    assert.ok(Buffer.concat(chunks).equals(inMemory), `chunks of ${chunkBytes ?? 'default'} bytes`)
  }
  // Bytes other than zeros after the stream's end are refused (when there is padding: the
  // stream's length is a multiple of 512 once in 512).
  if (inMemory.length < body) {
    const tampered = readFileSync(snap)
    tampered[inMemory.length] = 1
    writeFileSync(`${snap}.tampered`, tampered)
    const drain = async (): Promise<void> => {
      for await (const c of savedFileBackendStream(`${snap}.tampered`, body, 64)) void c
    }
    await drain().then(() => assert.unreachable('padding with data was accepted'), (err: Error) => assert.match(err.message, /data after the stream trailer/))
  }

  // A damaged backup is refused with exit 4 and creates nothing.
  const bad = readFileSync(snap)
  bad[200]! ^= 0xff
  writeFileSync(`${snap}.bad`, bad)
  const refused = await inProcess(['snapshot', 'restore', `${snap}.bad`, '--data-dir', join(dir, 'never')])
  assert.is(refused.code, 4, refused.stderr)
  assert.match(refused.stderr, /SHA-256 mismatch/)
  assert.is(existsSync(join(dir, 'never')), false)
  // A data directory in use is never overwritten.
  const busy = await inProcess(['snapshot', 'restore', snap, '--data-dir', join(dir, 'orig')])
  assert.is(busy.code, 2, busy.stderr)
  assert.match(busy.stderr, /exists and is not empty/)

  const [client2, peer2] = [await freePort(), await freePort()]
  const data = join(dir, 'restored')
  const flags = ['--name', 'fresh', '--initial-cluster-token', 'restored-cluster', '--initial-advertise-peer-urls', `http://127.0.0.1:${peer2}`]
  const restored = await strata(['snapshot', 'restore', snap, '--data-dir', data, ...flags, '-w', 'json'])
  assert.is(restored.code, 0, restored.stderr)
  const out = JSON.parse(restored.stdout) as { revision: number; memberId: string; clusterId: string }
  assert.is(out.revision, revision)

  // Started with other peer URLs than it was restored with: refused, naming both (the directory
  // records the member at the restore's URLs, which is where any other member would dial it).
  const elsewhere = await freePort()
  const wrong = await inProcess(['serve', ...member('fresh', data, client2, elsewhere), '--initial-cluster-token', 'restored-cluster'])
  assert.is(wrong.code, 2, wrong.stderr)
  assert.match(wrong.stderr, `records member ${out.memberId} (fresh) at peer URLs http://127.0.0.1:${peer2}`)
  assert.match(wrong.stderr, `--initial-advertise-peer-urls is http://127.0.0.1:${elsewhere}`)
  const s = serve([...member('fresh', data, client2, peer2), '--initial-cluster-token', 'restored-cluster'])
  const ep2 = `--endpoints=127.0.0.1:${client2}`
  try {
    await s.ready
    const keys = await etcdctl([ep2, 'get', 'restore/', '--prefix', '--keys-only'])
    assert.is(keys.stdout.split('\n').filter((l) => l.length > 0).length, 5, keys.stdout)
    assert.is((await etcdctl([ep2, 'get', 'restore/k3', '--print-value-only'])).stdout.trim(), 'value-number-3-xyzzy')
    const st = JSON.parse((await etcdctl([ep2, 'endpoint', 'status', '-w', 'json'])).stdout) as [{ Status: { header: { revision: number; cluster_id: number; member_id: number } } }]
    assert.is(st[0].Status.header.revision, revision)
    assert.is.not(String(st[0].Status.header.cluster_id), oldCluster)
    const members = await etcdctl([ep2, 'member', 'list'])
    assert.is(members.stdout.trim().split('\n').length, 1, members.stdout)
    assert.match(members.stdout, new RegExp(`^${out.memberId}, started, fresh, http://127.0.0.1:${peer2}`))
    assert.match((await etcdctl([ep2, 'lease', 'list'])).stdout, /found 1 leases/)
    assert.match((await etcdctl([ep2, 'user', 'list'])).stdout, /alice/)
    assert.is((await etcdctl([ep2, 'put', 'restore/after', 'y'])).code, 0)
  } finally {
    s.proc.kill('SIGTERM')
  }
  assert.is(await s.exited, 0, s.stderr())

  const sound = await strata(['verify', data])
  assert.is(sound.code, 0, sound.stderr + sound.stdout)
  assert.match(sound.stdout, /sound/)
  assert.match(sound.stdout, /WAL: intact/)
  // Flip a byte inside a stored value (LMDB's structure stays sound; the record's checksum fails).
  const file = join(data, 'db', 'data.mdb')
  const bytes = readFileSync(file)
  // Every copy of the value: LMDB's copy-on-write leaves older page versions in the file, and
  // only the live one is read.
  let copies = 0
  for (let at = bytes.indexOf('value-number-2-xyzzy'); at >= 0; at = bytes.indexOf('value-number-2-xyzzy', at + 1)) {
    bytes[at + 3]! ^= 0x20
    copies++
  }
  assert.ok(copies > 0)
  writeFileSync(file, bytes)
  const damaged = await strata(['verify', data])
  assert.is(damaged.code, 4, damaged.stderr)
  assert.match(damaged.stdout, /DAMAGED/)
  assert.match(damaged.stdout, /damaged record: revision \S+ key "restore\/k2"/)
  const json = await inProcess(['verify', data, '-w', 'json'])
  assert.is(json.code, 4)
  const report = JSON.parse(json.stdout) as { ok: boolean; records: { damagedCount: number }; summary: string[] }
  assert.is(report.ok, false)
  assert.is(report.records.damagedCount, 1)
  assert.match(report.summary.join(' '), /snapshot or backup/)
  assert.is((await inProcess(['verify'])).code, 2)
  assert.is((await inProcess(['verify', join(dir, 'no-such')])).code, 2)
})

test.run()
