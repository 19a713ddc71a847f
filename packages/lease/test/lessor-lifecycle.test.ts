// Lessor.open, close and recover (the lifecycle of CONTRIBUTING.md, and the reload a driver
// runs after a snapshot restore).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBackend } from '@strata/backend'
import { rejectsWithCode, throwsWithCode } from '@strata/testkit'
import { Lessor } from '../src/index.js'
import { encodeLeaseKey, encodeLeaseRecord } from '../src/internal.js'
import { ManualClock, bytes, fixture, text } from './helpers.js'

test('close is idempotent and every other call after it fails with ERR_LEASE_CLOSED', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  await f.lessor.close()
  await f.lessor.close()
  const calls: [string, () => unknown][] = [
    ['grant', () => f.lessor.grant(2, 10)],
    ['revoke', () => f.lessor.revoke(1)],
    ['renew', () => f.lessor.renew(1)],
    ['attach', () => f.lessor.attach(1, [bytes('k')])],
    ['detach', () => f.lessor.detach(1, [bytes('k')])],
    ['keysOf', () => f.lessor.keysOf(1)],
    ['timeToLive', () => f.lessor.timeToLive(1)],
    ['leases', () => f.lessor.leases()],
    ['lookup', () => f.lessor.lookup(1)],
    ['leaseOf', () => f.lessor.leaseOf('k')],
    ['promote', () => f.lessor.promote(0)],
    ['demote', () => f.lessor.demote()],
    ['tick', () => f.lessor.tick()],
    ['checkpoint', () => f.lessor.checkpoint([])],
    ['recover', () => f.lessor.recover()],
    ['setRangeDeleter', () => f.lessor.setRangeDeleter(f.kv)],
    ['stats', () => f.lessor.stats()],
    ['isPrimary', () => f.lessor.isPrimary],
  ]
  for (const [name, call] of calls) {
    const err = throwsWithCode(call, 'ERR_LEASE_CLOSED')
    assert.ok(err.message.includes('Lessor.open'), `${name}: the message says what to do`)
  }
  assert.ok(f.backend.read((tx) => tx.get('lease', encodeLeaseKey(1))) !== undefined, 'close leaves the backend and its leases alone')
})

test('open checks its backend argument', async () => {
  await rejectsWithCode(() => Lessor.open(undefined as never), 'ERR_LEASE_INVALID_ARGUMENT')
  await rejectsWithCode(() => Lessor.open({} as never), 'ERR_LEASE_INVALID_ARGUMENT')
})

test('open without options uses the defaults (systemClock, minimum TTL 2 s)', async () => {
  const lessor = await Lessor.open(new MemoryBackend({ clock: new ManualClock() }))
  assert.is(lessor.grant(1, 1).ttl, 2)
  lessor.promote(0)
  assert.ok(lessor.timeToLive(1).authoritative)
  await lessor.close()
})

test('recover drops leases and attachments and reloads the backend after its contents changed', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.lessor.grant(2, 20)
  f.lessor.attach(1, [bytes('a')])
  // What a snapshot restore does to the backend: the lease bucket now holds other leases.
  f.backend.write((tx) => {
    tx.delete('lease', encodeLeaseKey(1))
    tx.put('lease', encodeLeaseKey(3), encodeLeaseRecord({ id: 3, ttl: 30, remainingTtl: 12 }))
  })
  f.lessor.recover()
  assert.equal(f.lessor.leases().map((l) => [l.id, l.ttl, l.remainingTtl, l.keyCount]), [[2, 20, 0, 0], [3, 30, 12, 0]])
  assert.is(f.lessor.leaseOf('a'), undefined, 'attachments are dropped')
  assert.is(f.lessor.stats().attachedKeys, 0)
  // mvcc's rebuild reports each leased key again.
  f.lessor.attach(3, [bytes('b')])
  assert.equal(f.lessor.keysOf(3).map(text), ['b'])
  f.lessor.checkValid()
})

test('recover(backend) switches to the new backend; later writes go there', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  const other = new MemoryBackend({ clock: f.clock })
  other.write((tx) => tx.put('lease', encodeLeaseKey(9), encodeLeaseRecord({ id: 9, ttl: 60, remainingTtl: 0 })))
  f.lessor.recover(other)
  assert.equal(f.lessor.leases().map((l) => l.id), [9])
  f.lessor.grant(10, 10)
  assert.ok(other.read((tx) => tx.get('lease', encodeLeaseKey(10))) !== undefined)
  assert.is(f.backend.read((tx) => tx.get('lease', encodeLeaseKey(10))), undefined)
  throwsWithCode(() => f.lessor.recover({} as never), 'ERR_LEASE_INVALID_ARGUMENT')
})

test('recover on the primary rebuilds the expiry queue with the last promote\'s extension', async () => {
  const f = await fixture({ checkpointIntervalMs: 0 })
  f.lessor.grant(1, 10)
  f.lessor.promote(1_000)
  f.clock.advance(5_000)
  f.backend.write((tx) => tx.put('lease', encodeLeaseKey(2), encodeLeaseRecord({ id: 2, ttl: 20, remainingTtl: 0 })))
  f.lessor.recover()
  assert.ok(f.lessor.isPrimary)
  assert.equal(f.lessor.leases().map((l) => [l.id, l.expiry]), [[1, 5_000 + 1_000 + 10_000], [2, 5_000 + 1_000 + 20_000]])
  assert.is(f.lessor.stats().expiryQueue, 2)
  f.lessor.checkValid()
  f.clock.advance(11_000)
  assert.equal(f.lessor.tick().expired, [1])
})

test('recover on a non-primary queues nothing (#11731)', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.lessor.recover()
  assert.is(f.lessor.stats().expiryQueue, 0)
  assert.is(f.lessor.lookup(1)?.expiry, undefined)
  f.lessor.checkValid()
})

test('a corrupt record stops recover with ERR_LEASE_CORRUPT and leaves the lessor as it was', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.lessor.attach(1, [bytes('a')])
  const bad = new MemoryBackend({ clock: f.clock })
  bad.write((tx) => tx.put('lease', encodeLeaseKey(4), new Uint8Array(3)))
  throwsWithCode(() => f.lessor.recover(bad), 'ERR_LEASE_CORRUPT')
  assert.equal(f.lessor.keysOf(1).map(text), ['a'])
  f.lessor.grant(2, 10)
  assert.ok(f.backend.read((tx) => tx.get('lease', encodeLeaseKey(2))) !== undefined, 'still on the old backend')
})

test.run()
