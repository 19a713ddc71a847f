import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import { Lessor } from '../src/index.js'
import type { LeaseCheckpoint } from '../src/index.js'
import { fixture } from './helpers.js'

const MINUTE = 60_000

test('the primary hands out a remaining-TTL checkpoint every interval for long leases only', async () => {
  const f = await fixture({ checkpointIntervalMs: MINUTE })
  f.lessor.promote(0)
  f.lessor.grant(1, 600)
  f.lessor.grant(2, 30) // expires before a checkpoint could matter
  f.clock.advance(MINUTE - 1)
  assert.equal(f.lessor.tick().checkpoints, [])
  f.clock.advance(1)
  assert.equal(f.lessor.tick().checkpoints, [{ id: 1, remainingTtl: 540 }])
  f.clock.advance(MINUTE)
  assert.equal(f.lessor.tick().checkpoints, [{ id: 1, remainingTtl: 480 }], 'rescheduled even if the proposal was lost')
})

test('checkpoint then leader change: the new primary keeps the remaining TTL', async () => {
  const opts = { checkpointIntervalMs: MINUTE }
  const a = await fixture(opts)
  const b = await fixture(opts) // another member: own backend, same log
  const apply = (cps: readonly LeaseCheckpoint[]): void => { a.lessor.checkpoint(cps); b.lessor.checkpoint(cps) }
  a.lessor.promote(0)
  a.lessor.grant(1, 600)
  b.lessor.grant(1, 600)
  a.clock.advance(2 * MINUTE)
  b.clock.advance(2 * MINUTE)
  const { checkpoints } = a.lessor.tick()
  assert.equal(checkpoints, [{ id: 1, remainingTtl: 480 }])
  apply(checkpoints)
  assert.is(b.lessor.lookup(1)?.remainingTtl, 480)
  // Leader change: a steps down, b is elected and applies its first entry.
  a.lessor.demote()
  b.lessor.promote(1_000)
  assert.is(b.lessor.lookup(1)?.expiry, 2 * MINUTE + 1_000 + 480_000)
  b.clock.advance(1_000 + 480_000)
  assert.equal(b.lessor.tick().expired, [1])
})

test('without a checkpoint a new primary restarts from the full TTL', async () => {
  const b = await fixture({ checkpointIntervalMs: 0 })
  b.lessor.grant(1, 600)
  b.clock.advance(2 * MINUTE)
  b.lessor.promote(0)
  assert.is(b.lessor.lookup(1)?.expiry, 2 * MINUTE + 600_000)
  assert.is(b.lessor.stats().checkpointQueue, 0)
})

test('checkpoints are persisted by default and survive a restart', async () => {
  const f = await fixture()
  f.lessor.grant(1, 600)
  f.lessor.checkpoint([{ id: 1, remainingTtl: 300 }])
  await f.backend.commit()
  const after = await Lessor.open(f.backend.crash(), { clock: f.clock })
  assert.is(after.lookup(1)?.remainingTtl, 300)
  after.promote(0)
  assert.is(after.lookup(1)?.expiry, 300_000)
})

test('with persistCheckpoints false a restart resets to the full TTL', async () => {
  const f = await fixture({ persistCheckpoints: false })
  f.lessor.grant(1, 600)
  f.lessor.checkpoint([{ id: 1, remainingTtl: 300 }])
  assert.is(f.lessor.lookup(1)?.remainingTtl, 300, 'applied in memory')
  await f.backend.commit()
  const after = await Lessor.open(f.backend.crash(), { clock: f.clock })
  assert.is(after.lookup(1)?.remainingTtl, 0)
})

test('renew of a checkpointed lease owes a checkpoint of 0, handed out by the next tick', async () => {
  const f = await fixture({ checkpointIntervalMs: MINUTE })
  f.lessor.grant(1, 600)
  f.lessor.checkpoint([{ id: 1, remainingTtl: 300 }])
  f.lessor.promote(0)
  f.lessor.renew(1)
  assert.equal(f.lessor.tick().checkpoints, [{ id: 1, remainingTtl: 0 }])
  f.lessor.checkpoint([{ id: 1, remainingTtl: 0 }])
  f.lessor.renew(1)
  assert.equal(f.lessor.tick().checkpoints, [], 'nothing stored, nothing to clear')
})

test('checkpoint skips revoked leases and rejects oversize or invalid requests, applying nothing', async () => {
  const f = await fixture({ maxCheckpointBatch: 2 })
  f.lessor.grant(1, 600)
  f.lessor.checkpoint([{ id: 1, remainingTtl: 100 }, { id: 99, remainingTtl: 5 }])
  assert.is(f.lessor.lookup(1)?.remainingTtl, 100)
  throwsWithCode(() => f.lessor.checkpoint([{ id: 1, remainingTtl: 1 }, { id: 1, remainingTtl: 2 }, { id: 1, remainingTtl: 3 }]), 'ERR_LEASE_CHECKPOINT_TOO_LARGE')
  throwsWithCode(() => f.lessor.checkpoint([{ id: 1, remainingTtl: 7 }, { id: 1, remainingTtl: -1 }]), 'ERR_LEASE_INVALID_ARGUMENT')
  assert.is(f.lessor.lookup(1)?.remainingTtl, 100)
})

test('checkpoints handed out per tick are bounded; the rest follow on later ticks', async () => {
  const f = await fixture({ checkpointIntervalMs: MINUTE, maxCheckpointBatch: 100 })
  f.lessor.promote(0)
  for (let id = 1; id <= 250; id++) f.lessor.grant(id, 3600)
  f.clock.advance(MINUTE)
  const sizes = [f.lessor.tick(), f.lessor.tick(), f.lessor.tick(), f.lessor.tick()].map((t) => t.checkpoints.length)
  assert.equal(sizes, [100, 100, 50, 0])
  f.lessor.checkValid()
})

test('revoke drops a lease from the checkpoint queue', async () => {
  const f = await fixture({ checkpointIntervalMs: MINUTE })
  f.lessor.promote(0)
  f.lessor.grant(1, 600)
  assert.is(f.lessor.stats().checkpointQueue, 1)
  f.lessor.revoke(1)
  assert.is(f.lessor.stats().checkpointQueue, 0)
  f.clock.advance(MINUTE)
  assert.equal(f.lessor.tick().checkpoints, [])
})

test.run()
