// A restarted sole member keeps none of its already-applied log in memory (the entries pinned
// the WAL's 64 MB segment buffers): raft restarts at the backend's applied index. A member
// added afterwards must then catch up through a snapshot, not from the log.
import assert from 'node:assert/strict'
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { CONSISTENT_INDEX_KEY } from '@strata/apply'
import { type Backend, LmdbBackend, type ReadTx } from '@strata/backend'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { Wal, snapshotMarkers } from '@strata/wal'
import { InProcessNetwork, open } from '../src/index.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

test('a sole member restarted with an unreleased log serves its data, and a member added later catches up through a snapshot', async () => {
  const d = await tempDir('strata-restart-log-')
  const net = new InProcessNetwork()
  const common = { tickMs: 10, electionTicks: 10, requestTimeoutMs: 3000, snapshotCount: 100_000 }
  const one = [{ id: 1 }]
  const stores: Array<{ close(): Promise<void> }> = []
  try {
    let first = await open({ dir: `${d.path}/m1`, memberId: 1, initialCluster: one, transport: net.transport(1), ...common })
    for (let i = 0; i < 200; i++) await first.put(`k${String(i).padStart(3, '0')}`, `v${i}`)
    await first.close()
    first = await open({ dir: `${d.path}/m1`, memberId: 1, initialCluster: one, transport: net.transport(1), ...common })
    stores.push(first)
    for (let i = 0; i < 300 && first.maintenance.status().leader !== 1; i++) await sleep(10)
    assert.equal((await first.get('k', { prefix: true, countOnly: true })).count, 200)
    await first.put('after', 'restart')
    await first.cluster.add({ id: 2, isLearner: true })
    const second = await open({ dir: `${d.path}/m2`, memberId: 2, initialCluster: [...one, { id: 2 }], initialClusterState: 'existing', transport: net.transport(2), ...common })
    stores.push(second)
    let count = 0
    for (let i = 0; i < 500 && count !== 201; i++) {
      await sleep(10)
      count = (await second.get('\0', { end: '\0', countOnly: true, serializable: true })).count
    }
    assert.equal(count, 201, 'the new member holds every key')
    const rev = first.maintenance.status().header.revision
    assert.equal((await second.maintenance.hashKV(rev)).hash, (await first.maintenance.hashKV(rev)).hash)
  } finally {
    for (const s of stores) await s.close()
    await d.cleanup()
  }
})

test('a sole member whose log\'s last commit index is below its backend\'s applied index (commit-only saves lost) restarts with every entry\'s data and serves its keys', async () => {
  const d = await tempDir('strata-restart-commit-')
  const dir = `${d.path}/m1`
  const walDir = `${dir}/wal`
  try {
    let store = await open({ dir, tickMs: 10, electionTicks: 10 })
    for (let i = 0; i < 50; i++) await store.put(`k${String(i).padStart(2, '0')}`, `v${i}`)
    await store.close()
    // A power loss after commit-only saves (not fsynced) leaves the log's last hard state with
    // an older commit index than the backend applied: written here as one more hard state.
    const markers = await snapshotMarkers(walDir)
    assert.ok(markers.hardState.commit > 10)
    const wal = await Wal.open(walDir, markers.valid.at(-1)!)
    const { hardState } = await wal.readAll()
    await wal.save({ ...hardState, commit: 3 })
    await wal.close()
    assert.equal((await snapshotMarkers(walDir)).hardState.commit, 3)
    for (let round = 0; round < 2; round++) {
      store = await open({ dir, tickMs: 10, electionTicks: 10 })
      try {
        assert.equal((await store.get('k', { prefix: true, countOnly: true })).count, 50)
        await store.put(`after-${round}`, 'restart')
        assert.equal(new TextDecoder().decode((await store.get('k49')).kvs[0]!.value), 'v49')
      } finally {
        await store.close()
      }
    }
  } finally {
    await d.cleanup()
  }
})

/** `backend`, except that its first read sees `index` as the applied index. */
function misreportingFirstRead(backend: Backend, index: number): Backend {
  let first = true
  const u64 = new Uint8Array(8)
  new DataView(u64.buffer).setBigUint64(0, BigInt(index))
  const lying = (tx: ReadTx): ReadTx => new Proxy(tx, {
    get: (t, p) => p === 'get'
      ? (bucket: string, key: Uint8Array) => bucket === 'meta' && Buffer.from(key).equals(CONSISTENT_INDEX_KEY) ? u64 : t.get(bucket as never, key)
      : Reflect.get(t, p, t),
  })
  return new Proxy(backend, {
    get: (t, p) => {
      if (p === 'read' && first) {
        first = false
        return <T>(fn: (tx: ReadTx) => T): T => t.read((tx) => fn(lying(tx)))
      }
      const v = Reflect.get(t, p, t) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v
    },
  })
}

test('a sole member whose backend is behind its log restarts with the data of the entries to replay, also when the WAL was read beside the backend\'s open for a higher applied index than the state machine then has (the wrong guess: read again)', async () => {
  const d = await tempDir('strata-restart-behind-')
  const dir = `${d.path}/m1`
  try {
    let store = await open({ dir, tickMs: 10, electionTicks: 10 })
    for (let i = 0; i < 20; i++) await store.put(`k${String(i).padStart(2, '0')}`, `v${i}`)
    await store.close()
    // The backend as it was after 20 puts; the log goes on to 50.
    cpSync(`${dir}/db`, `${d.path}/db-20`, { recursive: true, preserveTimestamps: true })
    store = await open({ dir, tickMs: 10, electionTicks: 10 })
    for (let i = 20; i < 50; i++) await store.put(`k${String(i).padStart(2, '0')}`, `v${i}`)
    await store.close()
    const commit = (await snapshotMarkers(`${dir}/wal`)).hardState.commit
    for (const misreport of [false, true]) {
      rmSync(`${dir}/db`, { recursive: true })
      cpSync(`${d.path}/db-20`, `${dir}/db`, { recursive: true, preserveTimestamps: true })
      const behind = await LmdbBackend.open(`${dir}/db`)
      const applied = behind.read((tx) => new DataView(tx.get('meta', CONSISTENT_INDEX_KEY)!.buffer, tx.get('meta', CONSISTENT_INDEX_KEY)!.byteOffset).getBigUint64(0))
      assert.ok(Number(applied) < commit - 20, `the backend (applied ${applied}) is behind the log (commit ${commit})`)
      // Misreported, the early read keeps no data up to the log's commit, which the replay needs.
      store = await open({ dir, tickMs: 10, electionTicks: 10, backend: misreport ? misreportingFirstRead(behind, commit) : behind })
      try {
        assert.equal((await store.get('k', { prefix: true, countOnly: true })).count, 50, `misreport ${misreport}`)
        assert.equal(new TextDecoder().decode((await store.get('k49')).kvs[0]!.value), 'v49')
        await store.put('after', 'restart')
      } finally {
        await store.close()
      }
    }
  } finally {
    await d.cleanup()
  }
})

test('a restart whose LMDB file is big enough prestarts the index scan\'s thread, and stops it when the rebuild scans on the calling thread (few revisions)', async () => {
  const d = await tempDir('strata-restart-prestart-')
  const dir = `${d.path}/m1`
  try {
    let store = await open({ dir, tickMs: 10, electionTicks: 10 })
    const big = new Uint8Array(1 << 20).fill(0x62)
    for (let i = 0; i < 14; i++) await store.put(`big${i}`, big)
    await store.close()
    assert.ok(statSync(`${dir}/db/data.mdb`).size >= 200_000 * 64, 'big enough for a prestart')
    // Linux: the process's threads, to see that no scan thread outlives the open.
    const threads = (): number => existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : 0
    const before = threads()
    store = await open({ dir, tickMs: 10, electionTicks: 10 })
    try {
      assert.equal(threads(), before, 'the untaken thread was stopped')
      assert.equal((await store.get('big', { prefix: true, countOnly: true })).count, 14)
    } finally {
      await store.close()
    }
  } finally {
    await d.cleanup()
  }
})

test.run()
