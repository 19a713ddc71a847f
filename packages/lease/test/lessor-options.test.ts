// Options (ERR_LEASE_INVALID_OPTION) and arguments (ERR_LEASE_INVALID_ARGUMENT) are checked at
// once, with a message that says what to do.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBackend } from '@strata/backend'
import { rejectsWithCode, throwsWithCode } from '@strata/testkit'
import { Lessor } from '../src/index.js'
import type { LessorOptions } from '../src/index.js'
import { ManualClock, fixture } from './helpers.js'

const open = (options: unknown): Promise<Lessor> => {
  const clock = new ManualClock()
  return Lessor.open(new MemoryBackend({ clock }), { clock, ...(options as LessorOptions) })
}

test('every option out of its bounds, of the wrong type or unknown fails with ERR_LEASE_INVALID_OPTION', async () => {
  const bad: unknown[] = [
    { minTtlSeconds: 0 }, { minTtlSeconds: 1.5 }, { minTtlSeconds: '2' }, { maxTtlSeconds: -1 },
    { minTtlSeconds: 10, maxTtlSeconds: 5 }, { revokesPerSecond: 0 }, { maxExpiredPerTick: Number.NaN },
    { maxCheckpointBatch: 2 ** 53 }, { expiredRetryIntervalMs: 0 }, { expiredRetryIntervalMs: Infinity },
    { checkpointIntervalMs: -1 }, { checkpointIntervalMs: '5' }, { persistCheckpoints: 1 },
    { clock: {} }, { rangeDeleter: {} }, { failpoint: 'x' }, { ttl: 5 },
  ]
  for (const options of bad) await rejectsWithCode(() => open(options), 'ERR_LEASE_INVALID_OPTION')
  await rejectsWithCode(() => Lessor.open(new MemoryBackend(), 5 as never), 'ERR_LEASE_INVALID_OPTION')
})

test('an option under its old name (without its unit) says what it is called now', async () => {
  for (const [old, now] of [['minTtl', 'minTtlSeconds'], ['maxTtl', 'maxTtlSeconds'], ['revokeRate', 'revokesPerSecond'], ['expiredRetryInterval', 'expiredRetryIntervalMs'], ['checkpointInterval', 'checkpointIntervalMs']]) {
    const err = await rejectsWithCode(() => open({ [old!]: 5 }), 'ERR_LEASE_INVALID_OPTION')
    assert.ok(err.message.includes(now!), err.message)
  }
})

test('bad ids, TTLs, keys and checkpoint entries fail with ERR_LEASE_INVALID_ARGUMENT, writing nothing', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  const calls: (() => unknown)[] = [
    () => f.lessor.grant(-1, 10), () => f.lessor.grant(1.5, 10), () => f.lessor.grant(2 ** 53, 10), () => f.lessor.grant('2' as never, 10),
    () => f.lessor.grant(2, 1.5), () => f.lessor.grant(2, -1), () => f.lessor.grant(2, Number.NaN), () => f.lessor.grant(2, '10' as never),
    () => f.lessor.revoke(-1), () => f.lessor.revoke(0.5), () => f.lessor.renew(-1), () => f.lessor.lookup(1.5),
    () => f.lessor.keysOf(-1), () => f.lessor.timeToLive(Number.NaN), () => f.lessor.attach(-1, []),
    () => f.lessor.attach(1, [5 as never]), () => f.lessor.attach(1, 'k' as never), () => f.lessor.detach(1, [null as never]),
    () => f.lessor.leaseOf(5 as never), () => f.lessor.promote(-1), () => f.lessor.promote(Number.NaN),
    () => f.lessor.checkpoint([{ id: 1, remainingTtl: -1 }]), () => f.lessor.checkpoint([{ id: 0, remainingTtl: 1 }]),
    () => f.lessor.checkpoint([null as never]), () => f.lessor.checkpoint('x' as never),
    () => f.lessor.grant(2, 10, { tx: {} as never }), () => f.lessor.setRangeDeleter({} as never),
  ]
  for (const call of calls) throwsWithCode(call, 'ERR_LEASE_INVALID_ARGUMENT')
  assert.equal(f.lessor.leases().map((l) => l.id), [1])
  assert.is(f.lessor.stats().attachedKeys, 0, 'an attach with one bad key attaches none')
  assert.is(f.lessor.isPrimary, false)
})

test('id 0 names no lease: a grant of it is ERR_LEASE_NOT_FOUND (etcd), a lookup finds nothing', async () => {
  const f = await fixture()
  const err = throwsWithCode(() => f.lessor.grant(0, 10), 'ERR_LEASE_NOT_FOUND')
  assert.ok(err.message.includes('newLeaseId'))
  assert.is(f.lessor.lookup(0), undefined)
  throwsWithCode(() => f.lessor.revoke(0), 'ERR_LEASE_NOT_FOUND')
})

test('every code the package throws is prefixed ERR_LEASE_ and its message begins with "lease:"', async () => {
  const f = await fixture({ maxCheckpointBatch: 1 })
  f.lessor.grant(1, 10)
  f.lessor.attach(1, ['k'])
  const other = await Lessor.open(f.backend, { clock: f.clock })
  other.attach(1, ['k'])
  const errors = [
    throwsWithCode(() => f.lessor.grant(1, 10), 'ERR_LEASE_EXISTS'),
    throwsWithCode(() => f.lessor.grant(2, 9_000_000_001), 'ERR_LEASE_TTL_TOO_LARGE'),
    throwsWithCode(() => f.lessor.renew(1), 'ERR_LEASE_NOT_PRIMARY'),
    throwsWithCode(() => f.lessor.revoke(5), 'ERR_LEASE_NOT_FOUND'),
    throwsWithCode(() => f.lessor.checkpoint([{ id: 1, remainingTtl: 1 }, { id: 1, remainingTtl: 2 }]), 'ERR_LEASE_CHECKPOINT_TOO_LARGE'),
    throwsWithCode(() => other.revoke(1), 'ERR_LEASE_NO_RANGE_DELETER'),
    await rejectsWithCode(() => open({ minTtlSeconds: 0 }), 'ERR_LEASE_INVALID_OPTION'),
    throwsWithCode(() => f.lessor.grant(-1, 1), 'ERR_LEASE_INVALID_ARGUMENT'),
  ]
  f.lessor.promote(0)
  f.clock.advance(10_000)
  errors.push(throwsWithCode(() => f.lessor.renew(1), 'ERR_LEASE_EXPIRED'))
  await f.lessor.close()
  errors.push(throwsWithCode(() => f.lessor.tick(), 'ERR_LEASE_CLOSED'))
  for (const e of errors) {
    assert.ok((e as unknown as { code: string }).code.startsWith('ERR_LEASE_'))
    assert.ok(e.message.startsWith('lease: '), e.message)
    assert.ok(/;/.test(e.message), `says what to do: ${e.message}`)
  }
})

test.run()
