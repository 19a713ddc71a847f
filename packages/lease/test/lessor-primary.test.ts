import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fixture } from './helpers.js'

test('a lease granted on the primary is handed out once its TTL has passed, not before', async () => {
  const f = await fixture()
  f.lessor.promote(0)
  f.lessor.grant(1, 10)
  f.clock.advance(9_999)
  assert.equal(f.lessor.tick().expired, [])
  f.clock.advance(1)
  assert.equal(f.lessor.tick().expired, [1])
})

test('an expired lease whose revoke is lost is handed out again after the retry interval', async () => {
  const f = await fixture({ expiredRetryIntervalMs: 3_000 })
  f.lessor.promote(0)
  f.lessor.grant(1, 10)
  f.clock.advance(10_000)
  assert.equal(f.lessor.tick().expired, [1])
  f.clock.advance(2_999)
  assert.equal(f.lessor.tick().expired, [], 'the revoke may still be in flight')
  f.clock.advance(1)
  assert.equal(f.lessor.tick().expired, [1], 'the revoke was lost: hand it out again')
  f.lessor.revoke(1)
  f.clock.advance(10_000)
  assert.equal(f.lessor.tick().expired, [])
  assert.is(f.lessor.stats().expiryQueue, 0, 'revoke removes the queue item at once')
})

test('a crash at leaseBeforeRevokeExpired loses the batch, which comes back after the retry interval', async () => {
  let armed = true
  const f = await fixture({ expiredRetryIntervalMs: 3_000, failpoint: (name) => { if (name === 'leaseBeforeRevokeExpired' && armed) { armed = false; throw new Error('crash') } } })
  f.lessor.promote(0)
  f.lessor.grant(1, 10)
  f.clock.advance(10_000)
  assert.throws(() => f.lessor.tick(), /crash/)
  f.clock.advance(500)
  assert.equal(f.lessor.tick().expired, [])
  f.clock.advance(2_500)
  assert.equal(f.lessor.tick().expired, [1])
})

test('expired leases are handed out in bounded batches, earliest first', async () => {
  const f = await fixture({ maxExpiredPerTick: 500 })
  f.lessor.promote(0)
  for (let id = 1; id <= 1_200; id++) f.lessor.grant(id, 10 + (id % 3))
  f.clock.advance(20_000)
  const batches = [f.lessor.tick().expired, f.lessor.tick().expired, f.lessor.tick().expired, f.lessor.tick().expired]
  assert.equal(batches.map((b) => b.length), [500, 500, 200, 0])
  const all = batches.flat()
  assert.is(new Set(all).size, 1_200)
  const ttlOf = (id: number): number => 10 + (id % 3)
  for (let i = 1; i < all.length; i++) assert.ok(ttlOf(all[i - 1]!) <= ttlOf(all[i]!), 'earliest expiry first')
})

test('a renewed lease is not handed out at its old expiry', async () => {
  const f = await fixture()
  f.lessor.promote(0)
  f.lessor.grant(1, 10)
  f.clock.advance(8_000)
  f.lessor.renew(1)
  f.clock.advance(8_000)
  assert.equal(f.lessor.tick().expired, [])
  f.clock.advance(2_000)
  assert.equal(f.lessor.tick().expired, [1])
})

test('promote makes the expiry queue hold exactly the live leases; demote empties it', async () => {
  const f = await fixture()
  for (let id = 1; id <= 1_000; id++) f.lessor.grant(id, 10)
  for (let id = 1; id <= 1_000; id += 3) f.lessor.revoke(id)
  const live = f.lessor.stats().leases
  assert.is(f.lessor.stats().expiryQueue, 0)
  f.lessor.promote(2_000)
  assert.is(f.lessor.stats().expiryQueue, live)
  f.lessor.checkValid()
  f.lessor.demote()
  assert.is(f.lessor.stats().expiryQueue, 0)
  assert.is(f.lessor.stats().checkpointQueue, 0)
  assert.ok(f.lessor.leases().every((l) => l.expiry === undefined))
  f.lessor.checkValid()
})

test('promote extends every countdown by the election timeout', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.clock.advance(5_000)
  f.lessor.promote(1_000)
  assert.is(f.lessor.lookup(1)?.expiry, 5_000 + 1_000 + 10_000)
  f.clock.advance(10_999)
  assert.equal(f.lessor.tick().expired, [])
  f.clock.advance(1)
  assert.equal(f.lessor.tick().expired, [1])
})

test('a demoted lessor expires nothing and a new primary starts every countdown afresh', async () => {
  const a = await fixture()
  a.lessor.promote(0)
  a.lessor.grant(1, 10)
  a.clock.advance(9_000)
  a.lessor.demote()
  a.clock.advance(60_000)
  assert.equal(a.lessor.tick().expired, [])
  a.lessor.promote(0)
  assert.is(a.lessor.lookup(1)?.expiry, 69_000 + 10_000)
})

test('promote spreads a pile-up: every second of the spread holds between rate/2 and 3/4 of the rate', async () => {
  const rate = 100
  const f = await fixture({ revokesPerSecond: rate })
  // 20 × rate leases restarting at once, half with TTL 10 and half 11 (etcd's TestLessorRenewExtendPileup).
  for (let i = 1; i <= rate * 10; i++) {
    f.lessor.grant(2 * i, 10)
    f.lessor.grant(2 * i + 1, 11)
  }
  f.lessor.promote(0)
  const perSecond = new Map<number, number>()
  for (const l of f.lessor.leases()) {
    assert.ok(l.expiry! >= (l.id % 2 === 0 ? 10_000 : 11_000), 'spreading never brings an expiry forward')
    const s = Math.floor(l.expiry! / 1000)
    perSecond.set(s, (perSecond.get(s) ?? 0) + 1)
  }
  for (let s = 10; s < 30; s++) {
    const c = perSecond.get(s) ?? 0
    assert.ok(c <= (3 * rate) / 4, `second ${s}: ${c} expiries, more than 3/4 of the rate`)
    assert.ok(c >= rate / 2, `second ${s}: ${c} expiries, fewer than half the rate`)
  }
  // Any one-second window, not just aligned ones.
  const times = f.lessor.leases().map((l) => l.expiry!)
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 1000) j++
    assert.ok(i - j + 1 <= (3 * rate) / 4, `window ending at ${times[i]} holds ${i - j + 1}`)
  }
  f.lessor.checkValid()
})

test('promote leaves a small population untouched', async () => {
  const f = await fixture({ revokesPerSecond: 1000 })
  for (let id = 1; id <= 100; id++) f.lessor.grant(id, 10)
  f.lessor.promote(0)
  assert.ok(f.lessor.leases().every((l) => l.expiry === 10_000))
})

/** A collector for the memory checks: global.gc when exposed, else enabled at run time. */
function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

test('#11731: a non-primary lessor after 100,000 grant+revoke holds an empty queue and flat memory', async () => {
  const f = await fixture()
  const gc = gcFunction()
  const round = (from: number): void => {
    for (let id = from; id < from + 50_000; id++) {
      f.lessor.grant(id, 10)
      f.lessor.revoke(id)
    }
  }
  round(1) // warm up: code, maps and the backend reach their steady shape
  gc()
  const before = process.memoryUsage().heapUsed
  round(50_001)
  assert.is(f.lessor.stats().expiryQueue, 0)
  round(100_001)
  gc()
  const grown = process.memoryUsage().heapUsed - before
  assert.is(f.lessor.stats().expiryQueue, 0)
  assert.is(f.lessor.stats().checkpointQueue, 0)
  assert.is(f.lessor.stats().leases, 0)
  if (process.env.LEASE_DEBUG) console.log(`heap growth ${grown} bytes`)
  // One leaked queue item per lease would be ≥ 100,000 × ~40 bytes = 4 MB.
  assert.ok(grown < 2_000_000, `heap grew by ${grown} bytes over 100,000 grant+revoke`)
  f.lessor.checkValid()
})

test.run()
