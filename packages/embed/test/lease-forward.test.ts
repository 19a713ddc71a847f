import assert from 'node:assert/strict'
import { join } from 'node:path'
import { rejectsWithCode, tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { InProcessNetwork, type KeepAliveResponse, type Store, open } from '../src/index.js'
import { FRAME_LEASE_RENEW } from '../src/lease-api.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const CLUSTER = [{ id: 1 }, { id: 2 }, { id: 3 }]

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

test('a lease kept alive only through a follower outlives its TTL across a leader change, and expires once the keep-alives stop', async () => {
  const d = await tempDir('strata-leasefwd-')
  const net = new InProcessNetwork()
  const stores = new Map<number, Store>()
  let renewsForwarded = 0
  net.intercept((_from, _to, m) => {
    if (m[0] === FRAME_LEASE_RENEW) renewsForwarded++
    return m
  })
  try {
    for (const id of [1, 2, 3]) {
      stores.set(id, await open({ dir: join(d.path, `m${id}`), memberId: id, initialCluster: CLUSTER, transport: net.transport(id), backend: 'memory', tickMs: 10, electionTicks: 10, requestTimeoutMs: 3000 }))
    }
    const leading = (): number | undefined => [...stores.entries()].find(([id, s]) => s.maintenance.status().leader === id)?.[0]
    await until('a leader', () => leading() !== undefined)
    const first = leading()!
    const [via, other] = [1, 2, 3].filter((id) => id !== first) as [number, number]
    const follower = stores.get(via)!
    const lease = await stores.get(first)!.lease.grant(2) // the smallest TTL: 2 s
    await stores.get(first)!.put('svc/a', 'up', { lease: lease.id })

    // keepAliveOnce on a follower renews on the leader (it used to refuse with ERR_EMBED_NOT_LEADER).
    assert.equal((await follower.lease.keepAliveOnce(lease.id)).ttlSeconds, 2)
    assert.ok(renewsForwarded >= 1, 'the renewal was forwarded to the leader')

    const responses: KeepAliveResponse[] = []
    const ka = follower.lease.keepAlive(lease.id)
    const loop = (async () => {
      for await (const r of ka) responses.push(r)
    })()
    await sleep(1000)
    // Leadership moves to the other follower (the old leader stays up); the keep-alives must follow it.
    stores.get(first)!.cluster.transferLeadership(other)
    await until('the new leader', () => leading() === other && stores.get(via)!.maintenance.status().leader === other)
    const before = responses.length
    await sleep(2500) // past the 2 s TTL, renewed only from the follower
    assert.ok(responses.length > before, 'renewals went on after the leader change')
    const alive = await stores.get(other)!.lease.timeToLive(lease.id, { keys: true })
    assert.ok(alive.ttlSeconds > 0, `the lease lives on the new leader (ttl ${alive.ttlSeconds})`)
    assert.equal((await follower.get('svc/a')).count, 1)

    ka.cancel()
    await loop
    // Without keep-alives the new leader expires it: the key goes with it.
    for (let i = 0; i < 400 && (await stores.get(other)!.get('svc/a')).count === 1; i++) await sleep(10)
    assert.equal((await stores.get(other)!.get('svc/a')).count, 0, 'the key left with its lease')
    await rejectsWithCode(follower.lease.keepAliveOnce(lease.id), 'ERR_LEASE_NOT_FOUND')
  } finally {
    for (const s of stores.values()) await s.close()
    await d.cleanup()
  }
})

test.run()
