import assert from 'node:assert/strict'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { InProcessNetwork, type Store, open } from '../src/index.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

test('maintenance.proposals(): a proposal waiting on a cut-off leader counts as pending, then as failed when it times out; one dropped for want of a leader fails at once', async () => {
  const d = await tempDir('strata-proposals-')
  const net = new InProcessNetwork()
  const cluster = [{ id: 1 }, { id: 2 }]
  const stores: Store[] = []
  try {
    for (const id of [1, 2]) stores.push(await open({ dir: `${d.path}/m${id}`, memberId: id, initialCluster: cluster, transport: net.transport(id), tickMs: 10, electionTicks: 10, requestTimeoutMs: 400 }))
    let leader: Store | undefined
    for (let i = 0; i < 500 && leader === undefined; i++) {
      leader = stores.find((s) => s.maintenance.status().leader === s.maintenance.status().header.memberId)
      if (leader === undefined) await sleep(10)
    }
    assert.ok(leader !== undefined, 'no leader')
    await leader.put('a', '1')
    assert.deepEqual(leader.maintenance.proposals(), { pending: 0, failed: 0 })
    const follower = stores.find((s) => s !== leader)!
    net.cut(follower.maintenance.status().header.memberId)
    const put = leader.put('b', '2').then(() => 'applied', (err: { code?: string }) => err.code)
    await sleep(20)
    assert.equal(leader.maintenance.proposals().pending, 1)
    const code = await put
    assert.ok(code === 'ERR_EMBED_TIMEOUT' || code === 'ERR_EMBED_NO_LEADER', String(code))
    assert.deepEqual(leader.maintenance.proposals(), { pending: 0, failed: 1 })
    // Now without a leader (check-quorum stepped it down): a proposal is dropped and fails at once.
    for (let i = 0; i < 100 && leader.maintenance.status().leader !== 0; i++) await sleep(10)
    const dropped = await leader.put('c', '3').then(() => 'applied', (err: { code?: string }) => err.code)
    assert.equal(dropped, 'ERR_EMBED_NO_LEADER')
    assert.deepEqual(leader.maintenance.proposals(), { pending: 0, failed: 2 })
  } finally {
    for (const s of stores) await s.close()
    await d.cleanup()
  }
})

test.run()
