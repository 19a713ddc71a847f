import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, throwsWithCode } from '@strata/testkit'
import { MAX_LEASE_ID, newLeaseId } from '../src/index.js'
import { RECORD_VALUE_BYTES, checkLeaseId, decodeLeaseRecord, encodeLeaseKey, encodeLeaseRecord } from '../src/internal.js'

test('a record round-trips, including the largest id and TTL', async () => {
  for (const r of [{ id: 1, ttl: 2, remainingTtl: 0 }, { id: MAX_LEASE_ID, ttl: 9_000_000_000, remainingTtl: 8_999_999_999 }]) {
    assert.equal(decodeLeaseRecord(encodeLeaseKey(r.id), encodeLeaseRecord(r)), r)
  }
})

test('keys are u64 big-endian, so bucket order is id order', async () => {
  assert.equal([...encodeLeaseKey(0x0102030405)], [0, 0, 0, 1, 2, 3, 4, 5])
  assert.ok(Buffer.compare(encodeLeaseKey(255), encodeLeaseKey(256)) < 0)
})

test('a wrong size, version, key or an id beyond 2^53 is ERR_LEASE_CORRUPT', async () => {
  const key = encodeLeaseKey(9)
  const value = encodeLeaseRecord({ id: 9, ttl: 10, remainingTtl: 0 })
  throwsWithCode(() => decodeLeaseRecord(key, value.subarray(1)), 'ERR_LEASE_CORRUPT')
  throwsWithCode(() => decodeLeaseRecord(key.subarray(1), value), 'ERR_LEASE_CORRUPT')
  throwsWithCode(() => decodeLeaseRecord(encodeLeaseKey(8), value), 'ERR_LEASE_CORRUPT')
  const badVersion = value.slice()
  badVersion[0] = 2
  throwsWithCode(() => decodeLeaseRecord(key, badVersion), 'ERR_LEASE_CORRUPT')
  const huge = value.slice()
  huge.fill(0xff, 9, 17)
  throwsWithCode(() => decodeLeaseRecord(key, huge), 'ERR_LEASE_CORRUPT')
  assert.is(value.length, RECORD_VALUE_BYTES)
})

test('lease ids: 0 is not found, other non-positive or unsafe ids are invalid', async () => {
  throwsWithCode(() => checkLeaseId(0), 'ERR_LEASE_NOT_FOUND')
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) throwsWithCode(() => checkLeaseId(bad), 'ERR_LEASE_INVALID_ARGUMENT')
  checkLeaseId(1)
  checkLeaseId(MAX_LEASE_ID)
})

test('newLeaseId draws valid ids spread over the whole range', async () => {
  const prng = new Prng(7)
  let high = 0
  for (let i = 0; i < 1000; i++) {
    const id = newLeaseId(prng)
    checkLeaseId(id)
    if (id > 2 ** 52) high++
  }
  assert.ok(high > 400 && high < 600, `${high} of 1000 ids in the upper half`)
})

test.run()
