// A snapshot from the leader is installed (the backend restored) only once the hard state
// committing it is durable: the WAL's snapshot record is valid at restart only up to the last
// durable commit. When that hard state was written without an fsync, a power loss right after
// the restore left a member whose backend was ahead of its log, and it refused to restart
// (ERR_EMBED_STOPPED; found by the cluster simulation, issue 16: seed 47, a learner losing
// power 20 ms after joining).
import assert from 'node:assert/strict'
import { MemoryBackend } from '@strata/backend'
import type { FailpointName } from '@strata/seams'
import { Prng, SimFileSystem } from '@strata/testkit'
import { test } from 'uvu'
import { InProcessNetwork, type Store, open } from '../src/index.js'

const CLUSTER = [{ id: 1 }, { id: 2 }, { id: 3 }]
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (ok()) return
    await sleep(10)
  }
  throw new Error(`timed out waiting until ${what}`)
}

test('a power loss right after a snapshot from the leader is installed: the member restarts with the snapshot\'s state', async () => {
  const prng = new Prng(16)
  const net = new InProcessNetwork()
  const fss = new Map(CLUSTER.map(({ id }) => [id, new SimFileSystem({ prng: prng.fork(), crashMode: 'pessimistic' })]))
  const backends = new Map(CLUSTER.map(({ id }) => [id, new MemoryBackend()]))
  const stores = new Map<number, Store>()
  // Member 3's process dies at the first WAL save after its backend was restored.
  let restored = false
  const b3 = backends.get(3)!
  const restore = b3.restore.bind(b3)
  b3.restore = async (stream) => {
    await restore(stream)
    restored = true
  }
  const failpoint3 = (name: FailpointName): void => {
    if (restored && name === 'raftBeforeSave') throw Object.assign(new Error('power loss'), { code: 'ERR_TEST_POWER_LOSS' })
  }
  const start = async (id: number, backend: MemoryBackend, failpoint?: (name: FailpointName) => void): Promise<Store> => {
    const s = await open({
      dir: `/m${id}`, memberId: id, initialCluster: CLUSTER, transport: net.transport(id), fs: fss.get(id)!, backend, rng: prng.fork(),
      tickMs: 10, electionTicks: 10, requestTimeoutMs: 3000, snapshotCount: 10, snapshotCatchUpEntries: 2, ...(failpoint === undefined ? {} : { failpoint }),
    })
    stores.set(id, s)
    return s
  }
  try {
    for (const { id } of CLUSTER) await start(id, backends.get(id)!, id === 3 ? failpoint3 : undefined)
    let leader: Store | undefined
    await until('a leader among 1 and 2', () => {
      leader = [stores.get(1)!, stores.get(2)!].find((s) => s.maintenance.status().leader === s.maintenance.status().header.memberId)
      return leader !== undefined
    })
    await leader!.put('k', 'before')
    // Member 3 falls behind past the leader's retained log: it will need a snapshot.
    net.cut(3)
    for (let i = 0; i < 40; i++) await leader!.put(`k${i}`, String(i))
    net.heal(3)
    await until('member 3 installed the snapshot', () => restored)
    let stopped = false
    for (let i = 0; i < 500 && !stopped; i++) {
      await stores.get(3)!.get('k', { serializable: true }).catch((err: { code?: string }) => void (stopped = err.code === 'ERR_EMBED_STOPPED'))
      if (!stopped) await sleep(10)
    }
    assert.ok(stopped, 'member 3 did not stop at its first save after the restore')
    // The power loss: the disk keeps only what was synced, the backend what was committed (the
    // dead process's handles die with it: its close writes nothing).
    fss.get(3)!.crash({ mode: 'pessimistic' })
    const after = b3.crash()
    await stores.get(3)!.close().catch(() => {})
    restored = false
    const again = await start(3, after)
    const r = await again.get('k39', { serializable: true })
    assert.equal(Buffer.from(r.kvs[0]?.value ?? []).toString(), '39', 'the restarted member lost the snapshot\'s state')
  } finally {
    for (const s of stores.values()) await s.close().catch(() => {})
  }
})

test.run()
