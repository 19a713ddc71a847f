// A restarted sole member keeps none of its already-applied log in memory (the entries pinned
// the WAL's 64 MB segment buffers): raft restarts at the backend's applied index. A member
// added afterwards must then catch up through a snapshot, not from the log.
import assert from 'node:assert/strict'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
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

test.run()
