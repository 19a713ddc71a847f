// A leader that stalls (a long GC pause, a loop blocked on a slow fsync) while a newer leader
// keeps a lease alive must not revoke that lease when it wakes (etcd #15247). Found by the
// whole-cluster simulation (packages/sim, seed 149): the old leader's countdown had run out
// during its pause; on waking its raft stepped down on the new leader's messages before its
// lease loop ran, the loop still saw it as leader, and the revoke it proposed was forwarded to
// the new leader and applied 1.1 s after a renewal of a 2 s lease.
import assert from 'node:assert/strict'
import type { Clock, MemberId, Timer, Transport } from '@strata/seams'
import { Prng, SimClock, SimFileSystem } from '@strata/testkit'
import { test } from 'uvu'
import { InProcessNetwork, type Store, open } from '../src/index.js'

/** A member's clock and inbox that can be frozen: timers and messages are held, and run on resume. */
class Stall {
  #paused = false
  #timers: (() => void)[] = []
  #messages: [MemberId, Uint8Array][] = []
  #handler: ((from: MemberId, m: Uint8Array) => void) | undefined

  constructor(readonly base: SimClock, readonly net: Transport) {}

  readonly clock: Clock = {
    now: () => this.base.now(),
    setTimer: (ms: number, fn: () => void): Timer => this.base.setTimer(ms, () => {
      if (this.#paused) this.#timers.push(fn)
      else fn()
    }),
  }

  readonly transport: Transport = {
    send: (to, m) => {
      if (!this.#paused) this.net.send(to, m)
    },
    onMessage: (fn) => {
      this.#handler = fn
      this.net.onMessage((from, m) => {
        if (this.#paused) this.#messages.push([from, m])
        else fn(from, m)
      })
    },
  }

  pause(): void {
    this.#paused = true
  }

  /** Wakes: the messages that arrived meanwhile first (raft steps down on them), then the held timers, in one turn. */
  resume(): void {
    this.#paused = false
    for (const [from, m] of this.#messages.splice(0)) this.#handler?.(from, m)
    for (const fn of this.#timers.splice(0)) fn()
  }
}

test('a leader that wakes from a stall after a newer leader renewed a lease does not revoke it', async () => {
  const clock = new SimClock({ start: 1_000_000 })
  const net = new InProcessNetwork()
  const stalls = new Map<number, Stall>()
  const stores = new Map<number, Store>()
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r))
  const run = async (ms: number): Promise<void> => {
    const end = clock.now() + ms
    while (clock.now() < end) {
      clock.advanceTo(Math.min(end, clock.now() + 5))
      for (let i = 0; i < 6; i++) await turn()
    }
  }
  const drive = async <T>(p: Promise<T>): Promise<T> => {
    let done = false
    const watched = p.finally(() => void (done = true))
    watched.catch(() => {})
    for (let i = 0; i < 600 && !done; i++) await run(5)
    return watched
  }
  const leader = (among: number[]): number | undefined => among.find((id) => stores.get(id)!.maintenance.status().leader === id)
  try {
    const ids = [1, 2, 3]
    for (const id of ids) {
      const stall = new Stall(clock, net.transport(id))
      stalls.set(id, stall)
      stores.set(id, await drive(open({
        dir: `/m${id}`, memberId: id, initialCluster: ids.map((i) => ({ id: i })), transport: stall.transport, clock: stall.clock,
        fs: new SimFileSystem({ prng: new Prng(id) }), rng: new Prng(100 + id), backend: 'memory',
        tickMs: 10, electionTicks: 10, requestTimeoutMs: 1000, corruptCheckIntervalMs: 0,
      })))
    }
    for (let i = 0; i < 200 && leader(ids) === undefined; i++) await run(10)
    const old = leader(ids)!
    const lease = await drive(stores.get(old)!.lease.grant(2))
    await drive(stores.get(old)!.put('svc/a', 'up', { lease: lease.id }))

    stalls.get(old)!.pause()
    const rest = ids.filter((id) => id !== old)
    for (let i = 0; i < 200 && leader(rest) === undefined; i++) await run(10)
    const fresh = leader(rest)
    assert.ok(fresh !== undefined, 'the other two elected a leader')
    // The new leader keeps the lease alive well past the old leader's countdown (2 s from the grant).
    for (let i = 0; i < 6; i++) {
      await drive(stores.get(fresh)!.lease.keepAliveOnce(lease.id))
      await run(500)
    }
    const renewedAt = clock.now()
    await drive(stores.get(fresh)!.lease.keepAliveOnce(lease.id))
    stalls.get(old)!.resume()
    await run(600)

    assert.ok(clock.now() - renewedAt < 2000, 'checked within the TTL of the last renewal')
    const kv = await drive(stores.get(fresh)!.get('svc/a'))
    assert.equal(kv.count, 1, 'the key of a lease renewed less than its TTL ago is still there')
    const ttl = await drive(stores.get(fresh)!.lease.timeToLive(lease.id))
    assert.ok(ttl.ttlSeconds > 0, `the lease lives on (ttl ${ttl.ttlSeconds})`)
    assert.notEqual(stores.get(old)!.maintenance.status().leader, old, 'the old leader stepped down')
  } finally {
    for (const s of stores.values()) void s.close().catch(() => {})
    await run(50)
  }
})

test.run()
