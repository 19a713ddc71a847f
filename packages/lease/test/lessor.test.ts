import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rejectsWithCode, throwsWithCode } from '@strata/testkit'
import { Lessor } from '../src/index.js'
import { encodeLeaseKey } from '../src/internal.js'
import type { RangeDeleter } from '../src/index.js'
import type { WriteTx } from '@strata/backend'
import { bytes, fixture, text } from './helpers.js'
import type { Fixture } from './helpers.js'

const leaseRecords = (f: Fixture): number => f.backend.read((tx) => tx.range('lease', new Uint8Array(0), undefined).length)

test('grant raises a short TTL to the minimum and persists the lease', async () => {
  const f = await fixture({ minTtlSeconds: 5 })
  const info = f.lessor.grant(7, 1)
  assert.is(info.ttl, 5)
  assert.is(info.remainingTtl, 0)
  assert.is(info.expiry, undefined, 'a non-primary lessor tracks no expiry')
  assert.ok(f.backend.read((tx) => tx.get('lease', encodeLeaseKey(7))) !== undefined)
  assert.is(f.lessor.lookup(7)?.ttl, 5)
})

test('grant rejects id 0, bad ids, bad or too large TTLs and duplicates, writing nothing', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  throwsWithCode(() => f.lessor.grant(0, 10), 'ERR_LEASE_NOT_FOUND')
  throwsWithCode(() => f.lessor.grant(-3, 10), 'ERR_LEASE_INVALID_ARGUMENT')
  throwsWithCode(() => f.lessor.grant(2 ** 53, 10), 'ERR_LEASE_INVALID_ARGUMENT')
  throwsWithCode(() => f.lessor.grant(2, 1.5), 'ERR_LEASE_INVALID_ARGUMENT')
  throwsWithCode(() => f.lessor.grant(2, 9_000_000_001), 'ERR_LEASE_TTL_TOO_LARGE')
  throwsWithCode(() => f.lessor.grant(1, 10), 'ERR_LEASE_EXISTS')
  assert.is(leaseRecords(f), 1)
  assert.is(f.lessor.stats().leases, 1)
  assert.is(f.lessor.grant(3, 9_000_000_000).ttl, 9_000_000_000, 'the maximum itself is allowed')
})

test('revoke deletes the attached keys in sorted order at one revision with the lease record', async () => {
  const f = await fixture()
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

test('revoke of a lease without keys bumps no revision; an unknown lease is not found', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.lessor.revoke(1)
  assert.is(f.kv.revision(), 0)
  throwsWithCode(() => f.lessor.revoke(1), 'ERR_LEASE_NOT_FOUND')
})

test('revoke shares the caller transaction, so the applied index commits in the same batch', async () => {
  const f = await fixture()
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

test('revoke with attached keys and no RangeDeleter fails and writes nothing', async () => {
  const f = await fixture()
  const lessor = await Lessor.open(f.backend, { clock: f.clock })
  lessor.grant(1, 10)
  lessor.attach(1, [bytes('k')])
  throwsWithCode(() => lessor.revoke(1), 'ERR_LEASE_NO_RANGE_DELETER')
  assert.is(lessor.lookup(1)?.keyCount, 1)
  lessor.grant(2, 10)
  assert.is(lessor.revoke(2), 0, 'a lease without keys needs no deleter')
  lessor.setRangeDeleter(f.kv)
  lessor.revoke(1)
  assert.is(lessor.lookup(1), undefined)
})

test('a RangeDeleter that detaches the keys it deletes (as mvcc does) is safe', async () => {
  const f = await fixture()
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

test('attach moves a key between leases; detach ignores keys of other leases', async () => {
  const f = await fixture()
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

test('keys of any bytes are kept exactly, and timeToLive lists them in byte order', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  const keys = [new Uint8Array([0xff, 0]), new Uint8Array([0]), new Uint8Array([0x80, 0x7f])]
  f.lessor.attach(1, keys)
  f.lessor.promote(0)
  const ttl = f.lessor.timeToLive(1, { keys: true })
  assert.equal(ttl.keys?.map((k) => [...k]), [[0], [0x80, 0x7f], [0xff, 0]])
  assert.is(f.lessor.timeToLive(1).keys, undefined)
})

test('renew needs the primary; tick on a non-primary hands out nothing', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  throwsWithCode(() => f.lessor.renew(1), 'ERR_LEASE_NOT_PRIMARY')
  f.clock.advance(1e9)
  assert.equal(f.lessor.tick(), { expired: [], checkpoints: [] })
})

test('keysOf and timeToLive answer on a non-primary: keys in byte order, the granted TTL marked not authoritative', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.lessor.grant(2, 10)
  f.lessor.attach(1, [bytes('b'), new Uint8Array([0xff]), bytes('a')])
  f.lessor.attach(1, ['c'])
  assert.equal(f.lessor.keysOf(1).map(text), ['a', 'b', 'c', text(new Uint8Array([0xff]))])
  assert.equal(f.lessor.keysOf(2), [])
  f.clock.advance(4_500)
  const ttl = f.lessor.timeToLive(1, { keys: true })
  assert.equal({ ...ttl, keys: ttl.keys?.map((k) => [...k]) }, { id: 1, ttl: 10, grantedTtl: 10, authoritative: false, keys: [[0x61], [0x62], [0x63], [0xff]] })
  throwsWithCode(() => f.lessor.keysOf(3), 'ERR_LEASE_NOT_FOUND')
  throwsWithCode(() => f.lessor.timeToLive(3), 'ERR_LEASE_NOT_FOUND')
  f.lessor.promote(0) // the countdown starts here
  f.clock.advance(4_500)
  assert.equal(f.lessor.timeToLive(1), { id: 1, ttl: 5, grantedTtl: 10, authoritative: true, keys: undefined })
  assert.is(f.lessor.keysOf(1).length, 4, 'the same keys on the primary')
})

test('keysOf returns copies: changing one changes nothing in the lessor', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.lessor.attach(1, [bytes('a')])
  f.lessor.keysOf(1)[0]![0] = 0x7a
  assert.equal(f.lessor.keysOf(1).map(text), ['a'])
  assert.is(f.lessor.leaseOf('a'), 1)
  assert.is(f.lessor.leaseOf('z'), undefined)
})

test('revoke passes the sorted keys and the caller\'s own transaction to deleteKeys', async () => {
  const f = await fixture()
  const calls: { keys: string[]; tx: WriteTx }[] = []
  f.lessor.setRangeDeleter({ deleteKeys: (keys, tx) => { calls.push({ keys: keys.map(text), tx }) } })
  f.lessor.grant(1, 10)
  f.lessor.grant(2, 10)
  f.lessor.attach(1, ['b', 'a'].map(bytes))
  let outer: WriteTx | undefined
  f.backend.write((tx) => {
    outer = tx
    assert.is(f.lessor.revoke(1, { tx }), 2)
    assert.is(f.lessor.revoke(2, { tx }), 0)
  })
  assert.is(calls.length, 1, 'a lease without keys does not call the deleter')
  assert.equal(calls[0]!.keys, ['a', 'b'])
  assert.ok(calls[0]!.tx === outer, 'the same transaction object')
  f.lessor.grant(3, 10)
  f.lessor.attach(3, [bytes('c')])
  f.lessor.revoke(3) // no tx: the lessor's own write, handed to the deleter as well
  assert.equal(calls[1]!.keys, ['c'])
  assert.ok(calls[1]!.tx !== undefined)
})

test('renew restarts the countdown at the full TTL; timeToLive counts it down', async () => {
  const f = await fixture()
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

test('renew of an expired lease whose revoke is pending fails with ERR_LEASE_EXPIRED', async () => {
  const f = await fixture()
  f.lessor.grant(1, 10)
  f.lessor.promote(0)
  f.clock.advance(10_000)
  throwsWithCode(() => f.lessor.renew(1), 'ERR_LEASE_EXPIRED')
  assert.is(f.lessor.timeToLive(1).ttl, 0)
  f.lessor.revoke(1)
  throwsWithCode(() => f.lessor.renew(1), 'ERR_LEASE_NOT_FOUND')
})

test('leases() lists the soonest expiry first', async () => {
  const f = await fixture()
  f.lessor.grant(1, 30)
  f.lessor.grant(2, 10)
  f.lessor.grant(3, 20)
  assert.equal(f.lessor.leases().map((l) => l.id), [1, 2, 3], 'non-primary: by id')
  f.lessor.promote(0)
  assert.equal(f.lessor.leases().map((l) => l.id), [2, 3, 1])
})

test('a reopened lessor recovers every lease with its TTL clamped to the new minimum', async () => {
  const f = await fixture()
  f.lessor.grant(1, 3)
  f.lessor.grant(2, 60)
  await f.backend.commit()
  const backend = f.backend.crash()
  const again = await Lessor.open(backend, { clock: f.clock, minTtlSeconds: 5 })
  assert.equal(again.leases().map((l) => [l.id, l.ttl, l.expiry]), [[1, 5, undefined], [2, 60, undefined]])
  assert.is(again.isPrimary, false)
  again.checkValid()
})

test('a corrupt lease record stops recovery with ERR_LEASE_CORRUPT', async () => {
  const f = await fixture()
  f.backend.write((tx) => tx.put('lease', encodeLeaseKey(4), new Uint8Array(3)))
  await rejectsWithCode(() => Lessor.open(f.backend, { clock: f.clock }), 'ERR_LEASE_CORRUPT')
})

test.run()
