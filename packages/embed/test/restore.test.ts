import assert from 'node:assert/strict'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { InProcessNetwork, type Progress, type Store, open, restoreSnapshot } from '../src/index.js'

const text = (b: Uint8Array): string => Buffer.from(b).toString()

test('restoreSnapshot: a new member opens with the snapshot\'s keys, lease, user and revision under the new membership; a non-empty or damaged target is refused', async () => {
  const d = await tempDir('strata-restore-')
  try {
    const src = join(d.path, 'src')
    const store = await open({ dir: src, tickMs: 20, bcryptCost: 4 })
    const lease = await store.lease.grant(600)
    for (let i = 0; i < 30; i++) await store.put(`k/${i}`, `v${i}`)
    await store.put('leased', 'x', { lease: lease.id })
    await store.auth.userAdd('alice', 'secret')
    const revision = (await store.get('k/0')).header.revision
    const chunks: Uint8Array[] = []
    for await (const c of store.maintenance.snapshot()) chunks.push(c.slice())
    await store.close()
    const bytes = chunks.reduce((n, c) => n + c.length, 0)
    const stream = () => (async function* () { yield* chunks })()

    const dst = join(d.path, 'dst')
    const progress: Progress[] = []
    const members = [{ id: 77, name: 'restored', peerUrls: ['http://127.0.0.1:1'] }]
    const r = await restoreSnapshot(stream(), dst, { members, totalBytes: bytes, onProgress: (p) => progress.push(p) })
    assert.equal(r.revision, revision)
    assert.equal(r.bytes, bytes)
    assert.ok(r.index >= 1)
    assert.deepEqual(progress.at(-1), { phase: 'restore', done: bytes, total: bytes })
    assert.equal(existsSync(`${dst}.restoring`), false)

    const back = await open({ dir: dst, memberId: 77, initialCluster: members, tickMs: 20, bcryptCost: 4 })
    try {
      const got = await back.get('k/', { prefix: true })
      assert.equal(got.kvs.length, 30)
      assert.equal(text(got.kvs.find((kv) => text(kv.key) === "k/7")!.value), "v7")
      assert.equal(got.header.revision, revision)
      const ml = back.cluster.members().members
      assert.deepEqual(ml.map((m) => [m.id, m.name]), [[77, 'restored']])
      const ttl = await back.lease.timeToLive(lease.id, { keys: true })
      assert.deepEqual((ttl.keys ?? []).map(text), ['leased'])
      assert.deepEqual((await back.auth.userList()).users, ['alice'])
      const w = await back.put('after', 'restore')
      assert.equal(w.header.revision, revision + 1)
    } finally {
      await back.close()
    }

    // A directory with something in it is never written over.
    const busy = join(d.path, 'busy')
    mkdirSync(busy)
    writeFileSync(join(busy, 'x'), 'y')
    await assert.rejects(restoreSnapshot(stream(), busy, { members }), (err: { code?: string }) => err.code === 'ERR_EMBED_INVALID_ARGUMENT')
    // A damaged stream fails and leaves nothing at the target.
    const cut = join(d.path, 'cut')
    const damaged = Buffer.concat(chunks)
    damaged[damaged.length >> 1]! ^= 0xff
    await assert.rejects(restoreSnapshot((async function* () { yield damaged })(), cut, { members }), (err: { code?: string }) => /CORRUPT/.test(err.code ?? ''))
    assert.equal(existsSync(cut), false)
    assert.equal(existsSync(`${cut}.restoring`), false)
  } finally {
    await d.cleanup()
  }
})

test('restoreSnapshot: three members restored from one stream form the new cluster, elect a leader and replicate', async () => {
  const d = await tempDir('strata-restore3-')
  const stores: Store[] = []
  try {
    const src = await open({ dir: join(d.path, 'src'), tickMs: 20, bcryptCost: 4 })
    for (let i = 0; i < 5; i++) await src.put(`k${i}`, `v${i}`)
    const revision = (await src.get('k0')).header.revision
    const chunks: Uint8Array[] = []
    for await (const c of src.maintenance.snapshot()) chunks.push(c.slice())
    await src.close()
    const members = [{ id: 11, name: 'a' }, { id: 12, name: 'b' }, { id: 13, name: 'c' }]
    const net = new InProcessNetwork()
    for (const m of members) {
      const dir = join(d.path, m.name)
      await restoreSnapshot((async function* () { yield* chunks })(), dir, { members })
      stores.push(await open({ dir, memberId: m.id, initialCluster: members, transport: net.transport(m.id), tickMs: 10, electionTicks: 10, bcryptCost: 4 }))
    }
    let leader: Store | undefined
    for (let i = 0; i < 500 && leader === undefined; i++) {
      leader = stores.find((s) => s.maintenance.status().leader === s.maintenance.status().header.memberId)
      if (leader === undefined) await new Promise((r) => setTimeout(r, 10))
    }
    assert.ok(leader !== undefined, 'no leader elected')
    const w = await leader.put('after', 'x')
    assert.equal(w.header.revision, revision + 1)
    for (const s of stores) {
      const got = await s.get('k', { prefix: true })
      assert.equal(got.kvs.length, 5)
      assert.deepEqual(s.cluster.members().members.map((m) => m.name), ['a', 'b', 'c'])
    }
  } finally {
    for (const s of stores) await s.close()
    await d.cleanup()
  }
})

test.run()
