import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import { decodeRole, decodeU64, decodeUser, encodeRole, encodeU64, encodeUser } from '../src/internal.js'

test('users and roles round-trip through their bytes', () => {
  const user = { name: 'ü', password: '$2b$04$' + 'a'.repeat(53), roles: ['a', 'rôle'], noPassword: false }
  assert.equal(decodeUser('ü', encodeUser(user)), user)
  const np = { name: 'n', password: '', roles: [], noPassword: true }
  assert.equal(decodeUser('n', encodeUser(np)), np)
  const role = { name: 'r', permissions: [{ type: 'readwrite' as const, key: Uint8Array.of(0, 1), end: Uint8Array.of(0) }, { type: 'read' as const, key: Uint8Array.of(9) }] }
  assert.equal(decodeRole('r', encodeRole(role)), role)
  assert.is(decodeU64(encodeU64(2 ** 53 - 1), 'x'), 2 ** 53 - 1)
})

test('truncated, trailing, unknown-version and out-of-range bytes fail with ERR_AUTH_CORRUPT', () => {
  const bytes = encodeUser({ name: 'u', password: 'x', roles: ['r'], noPassword: false })
  throwsWithCode(() => decodeUser('u', bytes.subarray(0, bytes.length - 1)), 'ERR_AUTH_CORRUPT')
  throwsWithCode(() => decodeUser('u', Uint8Array.of(...bytes, 0)), 'ERR_AUTH_CORRUPT')
  throwsWithCode(() => decodeUser('u', Uint8Array.of(2, ...bytes.subarray(1))), 'ERR_AUTH_CORRUPT')
  throwsWithCode(() => decodeRole('r', Uint8Array.of(1, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0)), 'ERR_AUTH_CORRUPT')
  throwsWithCode(() => decodeU64(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 'rev'), 'ERR_AUTH_CORRUPT')
  throwsWithCode(() => decodeU64(Uint8Array.of(1), 'rev'), 'ERR_AUTH_CORRUPT')
  const backwards = { name: 'r', permissions: [{ type: 'read' as const, key: Uint8Array.of(9), end: Uint8Array.of(1) }] }
  throwsWithCode(() => decodeRole('r', encodeRole(backwards)), 'ERR_AUTH_CORRUPT') // would break the interval set's invariant
  throwsWithCode(() => decodeRole('r', encodeRole({ name: 'r', permissions: [{ type: 'read', key: new Uint8Array(0) }] })), 'ERR_AUTH_CORRUPT')
  assert.throws(() => encodeU64(-1)) // an invariant: callers pass revisions the store counted
})

test.run()
