import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import { Lessor, encodeLeaseKey } from '../src/index.js'
import type { RangeDeleter } from '../src/index.js'
import { bytes, fixture, text } from './helpers.js'

const leaseRecords = (f: ReturnType<typeof fixture>): number => f.backend.read((tx) => tx.range('lease', new Uint8Array(0), undefined).length)

test('grant raises a short TTL to the minimum and persists the lease', () => {
  const f = fixture({ minTtl: 5 })
  const info = f.lessor.grant(7, 1)
  assert.is(info.ttl, 5)
  assert.is(info.remainingTtl, 0)
  assert.is(info.expiry, undefined, 'a non-primary lessor tracks no expiry')
  assert.ok(f.backend.read((tx) => tx.get('lease', encodeLeaseKey(7))) !== undefined)
  assert.is(f.lessor.lookup(7)?.ttl, 5)
})

test('grant rejects id 0, bad ids, bad or too large TTLs and duplicates, writing nothing', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  throwsWithCode(() => f.lessor.grant(0, 10), 'ERR_LEASE_NOT_FOUND')
  throwsWithCode(() => f.lessor.grant(-3, 10), 'ERR_LEASE_ID_INVALID')
  throwsWithCode(() => f.lessor.grant(2 ** 53, 10), 'ERR_LEASE_ID_INVALID')
  throwsWithCode(() => f.lessor.grant(2, 1.5), 'ERR_LEASE_TTL_INVALID')
  throwsWithCode(() => f.lessor.grant(2, 9_000_000_001), 'ERR_LEASE_TTL_TOO_LARGE')
  throwsWithCode(() => f.lessor.grant(1, 10), 'ERR_LEASE_EXISTS')
  assert.is(leaseRecords(f), 1)
  assert.is(f.lessor.stats().leases, 1)
  assert.is(f.lessor.grant(3, 9_000_000_000).ttl, 9_000_000_000, 'the maximum itself is allowed')
})

test('revoke deletes the attached keys in sorted order at one revision with the lease record', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  f.backend.write((tx) => { for (const k of ['c', 'a', 'b']) f.kv.put(k, 1, tx) })
  f.lessor.attach(1, ['c', 'a', 'b'].map(bytes))
  const before = f.kv.revision()
  assert.is(f.lessor.revoke(1), 3)
  assert.equal(f.kv.events, [{ revision: before + 1, key: 'a' }, { revision: before + 1, key: 'b' }, { revision: before + 1, key: 'c' }])
  assert.is(f.kv.revision(), before + 1)
  assert.is(leaseRecords(f), 0)
  assert.is(f.lessor.lookup(1), undefined)
  assert.is(f.lessor.stats().attachedKeys, 0)
  f.lessor.checkValid()
})

test('revoke of a lease without keys bumps no revision; an unknown lease is not found', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  f.lessor.revoke(1)
  assert.is(f.kv.revision(), 0)
  throwsWithCode(() => f.lessor.revoke(1), 'ERR_LEASE_NOT_FOUND')
})

test('revoke shares the caller transaction, so the applied index commits in the same batch', async () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  f.backend.write((tx) => f.kv.put('k', 1, tx))
  f.lessor.attach(1, [bytes('k')])
  await f.backend.commit()
  f.backend.write((tx) => {
    f.lessor.revoke(1, { tx })
    tx.put('meta', bytes('ci'), bytes('9'))
  })
  const stats = f.backend.stats()
  assert.is(stats.pendingWrites > 0, true)
  const lost = f.backend.crash()
  // Power loss before the batch committed: none of the revoke, none of the index.
  assert.ok(lost.read((tx) => tx.get('lease', encodeLeaseKey(1))) !== undefined)
  assert.ok(lost.read((tx) => tx.get('key', bytes('k'))) !== undefined)
  assert.is(lost.read((tx) => tx.get('meta', bytes('ci'))), undefined)
})

test('revoke with attached keys and no RangeDeleter fails and writes nothing', () => {
  const f = fixture()
  const lessor = new Lessor(f.backend, { clock: f.clock })
  lessor.grant(1, 10)
  lessor.attach(1, [bytes('k')])
  throwsWithCode(() => lessor.revoke(1), 'ERR_NO_RANGE_DELETER')
  assert.is(lessor.lookup(1)?.keyCount, 1)
  lessor.setRangeDeleter(f.kv)
  lessor.revoke(1)
  assert.is(lessor.lookup(1), undefined)
})

test('a RangeDeleter that detaches the keys it deletes (as mvcc does) is safe', () => {
  const f = fixture()
  const seen: string[] = []
  const detaching: RangeDeleter = {
    deleteKeys(keys) {
      for (const k of keys) {
        seen.push(text(k))
        f.lessor.detach(1, [k])
      }
    },
  }
  f.lessor.setRangeDeleter(detaching)
  f.lessor.grant(1, 10)
  f.lessor.attach(1, ['y', 'x'].map(bytes))
  assert.is(f.lessor.revoke(1), 2)
  assert.equal(seen, ['x', 'y'])
  f.lessor.checkValid()
})

test('attach moves a key between leases; detach ignores keys of other leases', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  f.lessor.grant(2, 10)
  f.lessor.attach(1, [bytes('a'), bytes('b')])
  f.lessor.attach(2, [bytes('a')])
  assert.is(f.lessor.leaseOf(bytes('a')), 2)
  assert.is(f.lessor.lookup(1)?.keyCount, 1)
  f.lessor.detach(1, [bytes('a')])
  assert.is(f.lessor.leaseOf(bytes('a')), 2, 'detach from lease 1 must not drop lease 2')
  f.lessor.detach(2, [bytes('a')])
  assert.is(f.lessor.leaseOf(bytes('a')), undefined)
  throwsWithCode(() => f.lessor.attach(9, [bytes('z')]), 'ERR_LEASE_NOT_FOUND')
  throwsWithCode(() => f.lessor.detach(9, [bytes('z')]), 'ERR_LEASE_NOT_FOUND')
  f.lessor.checkValid()
})

test('keys of any bytes are kept exactly, and timeToLive lists them in byte order', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  const keys = [new Uint8Array([0xff, 0]), new Uint8Array([0]), new Uint8Array([0x80, 0x7f])]
  f.lessor.attach(1, keys)
  f.lessor.promote(0)
  const ttl = f.lessor.timeToLive(1, { keys: true })
  assert.equal(ttl.keys?.map((k) => [...k]), [[0], [0x80, 0x7f], [0xff, 0]])
  assert.is(f.lessor.timeToLive(1).keys, undefined)
})

test('renew and timeToLive need the primary; tick on a non-primary hands out nothing', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  throwsWithCode(() => f.lessor.renew(1), 'ERR_NOT_PRIMARY')
  throwsWithCode(() => f.lessor.timeToLive(1), 'ERR_NOT_PRIMARY')
  f.clock.advance(1e9)
  assert.equal(f.lessor.tick(), { expired: [], checkpoints: [] })
})

test('renew restarts the countdown at the full TTL; timeToLive counts it down', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  f.lessor.promote(0)
  f.clock.advance(4_500)
  assert.is(f.lessor.timeToLive(1).ttl, 5)
  assert.is(f.lessor.timeToLive(1).grantedTtl, 10)
  assert.is(f.lessor.renew(1), 10)
  assert.is(f.lessor.lookup(1)?.expiry, 14_500)
  assert.is(f.lessor.timeToLive(1).ttl, 10)
  throwsWithCode(() => f.lessor.renew(2), 'ERR_LEASE_NOT_FOUND')
})

test('renew of an expired lease whose revoke is pending fails with ERR_LEASE_EXPIRED', () => {
  const f = fixture()
  f.lessor.grant(1, 10)
  f.lessor.promote(0)
  f.clock.advance(10_000)
  throwsWithCode(() => f.lessor.renew(1), 'ERR_LEASE_EXPIRED')
  assert.is(f.lessor.timeToLive(1).ttl, 0)
  f.lessor.revoke(1)
  throwsWithCode(() => f.lessor.renew(1), 'ERR_LEASE_NOT_FOUND')
})

test('leases() lists the soonest expiry first', () => {
  const f = fixture()
  f.lessor.grant(1, 30)
  f.lessor.grant(2, 10)
  f.lessor.grant(3, 20)
  assert.equal(f.lessor.leases().map((l) => l.id), [1, 2, 3], 'non-primary: by id')
  f.lessor.promote(0)
  assert.equal(f.lessor.leases().map((l) => l.id), [2, 3, 1])
})

test('a reopened lessor recovers every lease with its TTL clamped to the new minimum', async () => {
  const f = fixture()
  f.lessor.grant(1, 3)
  f.lessor.grant(2, 60)
  await f.backend.commit()
  const backend = f.backend.crash()
  const again = new Lessor(backend, { clock: f.clock, minTtl: 5 })
  assert.equal(again.leases().map((l) => [l.id, l.ttl, l.expiry]), [[1, 5, undefined], [2, 60, undefined]])
  assert.is(again.isPrimary, false)
  again.checkValid()
})

test('a corrupt lease record stops recovery with ERR_LEASE_CORRUPT', () => {
  const f = fixture()
  f.backend.write((tx) => tx.put('lease', encodeLeaseKey(4), new Uint8Array(3)))
  throwsWithCode(() => new Lessor(f.backend, { clock: f.clock }), 'ERR_LEASE_CORRUPT')
})

test.run()
