// A restarted sole member keeps none of its already-applied log in memory (the entries pinned
// the WAL's 64 MB segment buffers): raft restarts at the backend's applied index. A member
// added afterwards must then catch up through a snapshot, not from the log.
import assert from 'node:assert/strict'
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

test.run()
