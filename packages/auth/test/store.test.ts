import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBackend } from '@strata/backend'
import { rejectsWithCode, throwsWithCode } from '@strata/testkit'
import { Prng } from '@strata/testkit'
import { AuthStore, PasswordHasher, type AuthInfo, type PermissionRequest } from '../src/index.js'
import { FakeClock } from './fake-clock.js'

const hasher = new PasswordHasher({ cost: 4, maxConcurrent: 2 })
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

function fresh(options: { clock?: FakeClock; maxAuthenticateRetries?: number } = {}): { store: AuthStore; backend: MemoryBackend; clock: FakeClock } {
  const clock = options.clock ?? new FakeClock()
  const backend = new MemoryBackend({ clock, batchInterval: 1_000_000 })
  const store = new AuthStore(backend, { hasher, rng: new Prng(7), clock, maxAuthenticateRetries: options.maxAuthenticateRetries ?? 3 })
  return { store, backend, clock }
}

/** root (role root) plus auth enabled. */
async function withRoot(store: AuthStore, password = 'rootpw'): Promise<void> {
  store.userAdd({ name: 'root', hashedPassword: await store.hashPassword(password) })
  store.userGrantRole({ user: 'root', role: 'root' })
  store.authEnable()
}

function storedRevision(backend: MemoryBackend): number {
  const v = backend.read((tx) => tx.get('auth', enc('authRevision')))
  assert.ok(v !== undefined)
  return Number(Buffer.from(v).readBigUInt64BE(0))
}

test('a fresh store starts at auth revision 1, persisted, with auth disabled', () => {
  const { store, backend } = fresh()
  assert.is(store.revision, 1)
  assert.is(storedRevision(backend), 1)
  assert.is(store.enabled, false)
  assert.equal(store.userList(), [])
})

test('every mutation increases the auth revision by exactly one, in the same write as its effect', async () => {
  const { store, backend } = fresh()
  const hash = await store.hashPassword('pw')
  const steps: (() => void)[] = [
    () => store.userAdd({ name: 'u', hashedPassword: hash }),
    () => store.roleAdd('r'),
    () => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'k' } }),
    () => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'k' } }), // identical re-grant still counts
    () => store.userGrantRole({ user: 'u', role: 'r' }),
    () => store.userChangePassword({ name: 'u', hashedPassword: hash }),
    () => store.userRevokeRole({ user: 'u', role: 'r' }),
    () => store.roleRevokePermission({ role: 'r', key: 'k' }),
    () => store.roleDelete('r'),
    () => store.userDelete('u'),
  ]
  for (const [i, step] of steps.entries()) {
    step()
    assert.is(store.revision, 2 + i)
    assert.is(storedRevision(backend), 2 + i)
  }
})

test('bad input fails with etcd\'s typed errors and changes nothing', async () => {
  const { store, backend } = fresh()
  const hash = await store.hashPassword('pw')
  store.userAdd({ name: 'u', hashedPassword: hash })
  store.roleAdd('r')
  const before = { rev: store.revision, pending: backend.stats().pendingWrites }
  throwsWithCode(() => store.userAdd({ name: '', hashedPassword: hash }), 'ERR_USER_EMPTY')
  throwsWithCode(() => store.userAdd({ name: 'u', hashedPassword: hash }), 'ERR_USER_ALREADY_EXIST')
  throwsWithCode(() => store.userAdd({ name: 'v', hashedPassword: 'plaintext' }), 'ERR_INVALID_PASSWORD_HASH')
  throwsWithCode(() => store.userAdd({ name: 'v' }), 'ERR_INVALID_PASSWORD_HASH')
  throwsWithCode(() => store.userAdd({ name: 'x'.repeat(257), hashedPassword: hash }), 'ERR_AUTH_LIMIT')
  throwsWithCode(() => store.userDelete('nobody'), 'ERR_USER_NOT_FOUND')
  throwsWithCode(() => store.userChangePassword({ name: 'nobody', hashedPassword: hash }), 'ERR_USER_NOT_FOUND')
  throwsWithCode(() => store.userGrantRole({ user: 'nobody', role: 'r' }), 'ERR_USER_NOT_FOUND')
  throwsWithCode(() => store.userGrantRole({ user: 'u', role: 'nope' }), 'ERR_ROLE_NOT_FOUND')
  throwsWithCode(() => store.userRevokeRole({ user: 'u', role: 'r' }), 'ERR_ROLE_NOT_GRANTED')
  throwsWithCode(() => store.roleAdd(''), 'ERR_ROLE_EMPTY')
  throwsWithCode(() => store.roleAdd('r'), 'ERR_ROLE_ALREADY_EXIST')
  throwsWithCode(() => store.roleDelete('nope'), 'ERR_ROLE_NOT_FOUND')
  throwsWithCode(() => store.roleGrantPermission({ role: 'nope', permission: { type: 'read', key: 'a' } }), 'ERR_ROLE_NOT_FOUND')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: undefined }), 'ERR_PERMISSION_NOT_GIVEN')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'b', rangeEnd: 'a' } }), 'ERR_INVALID_AUTH_MGMT')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: '' } }), 'ERR_INVALID_AUTH_MGMT')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'admin' as 'read', key: 'a' } }), 'ERR_INVALID_AUTH_MGMT')
  throwsWithCode(() => store.roleRevokePermission({ role: 'r', key: 'a' }), 'ERR_PERMISSION_NOT_GRANTED')
  throwsWithCode(() => store.authEnable(), 'ERR_ROOT_USER_NOT_EXIST')
  await rejectsWithCode(store.hashPassword(''), 'ERR_PASSWORD_EMPTY')
  assert.is(store.revision, before.rev)
  assert.is(backend.stats().pendingWrites, before.pending)
  assert.equal(store.userGet('u').roles, [])
  assert.equal(store.roleGet('r').permissions, [])
})

test('enable needs root with role root; guard rails hold while enabled; enable and disable are idempotent', async () => {
  const { store } = fresh()
  store.userAdd({ name: 'root', hashedPassword: await store.hashPassword('pw') })
  throwsWithCode(() => store.authEnable(), 'ERR_ROOT_ROLE_NOT_EXIST')
  store.userGrantRole({ user: 'root', role: 'root' }) // role root need not exist to be granted
  store.roleAdd('root')
  store.authEnable()
  const rev = store.revision
  store.authEnable()
  assert.is(store.revision, rev, 'enabling twice is a no-op')
  throwsWithCode(() => store.userDelete('root'), 'ERR_INVALID_AUTH_MGMT')
  throwsWithCode(() => store.userRevokeRole({ user: 'root', role: 'root' }), 'ERR_INVALID_AUTH_MGMT')
  throwsWithCode(() => store.roleDelete('root'), 'ERR_INVALID_AUTH_MGMT')
  assert.is(store.revision, rev)
  store.authDisable()
  assert.is(store.revision, rev + 1, 'disable bumps the revision')
  store.authDisable()
  assert.is(store.revision, rev + 1)
  store.userRevokeRole({ user: 'root', role: 'root' })
  store.roleDelete('root')
  store.userDelete('root')
})

test('granting a held role changes nothing; a role deleted is revoked from its holders', async () => {
  const { store } = fresh()
  store.userAdd({ name: 'u', noPassword: true })
  store.userAdd({ name: 'v', noPassword: true })
  store.roleAdd('b')
  store.roleAdd('a')
  store.userGrantRole({ user: 'u', role: 'b' })
  store.userGrantRole({ user: 'u', role: 'a' })
  store.userGrantRole({ user: 'v', role: 'a' })
  const rev = store.revision
  store.userGrantRole({ user: 'u', role: 'a' })
  assert.is(store.revision, rev)
  assert.equal(store.userGet('u').roles, ['a', 'b'], 'roles are kept sorted')
  store.roleDelete('a')
  assert.equal(store.userGet('u').roles, ['b'])
  assert.equal(store.userGet('v').roles, [])
  assert.is(store.revision, rev + 1)
})

test('a permission on the same range is replaced by the new type; permissions stay sorted by key', () => {
  const { store } = fresh()
  store.roleAdd('r')
  store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'm' } })
  store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'a', rangeEnd: 'c' } })
  store.roleGrantPermission({ role: 'r', permission: { type: 'write', key: 'm' } })
  const perms = store.roleGet('r').permissions
  assert.equal(perms.map((p) => [Buffer.from(p.key).toString(), p.type]), [['a', 'read'], ['m', 'write']])
})

/** The matrix: users × requests → allowed? (auth enabled). */
test('the permission matrix: read/write/readwrite over keys, ranges and open ends', async () => {
  const { store } = fresh()
  await withRoot(store)
  store.roleAdd('reader')
  store.roleGrantPermission({ role: 'reader', permission: { type: 'read', key: 'foo' } })
  store.roleAdd('rw-ac')
  store.roleGrantPermission({ role: 'rw-ac', permission: { type: 'readwrite', key: 'a', rangeEnd: 'c' } })
  store.roleAdd('writer-x')
  store.roleGrantPermission({ role: 'writer-x', permission: { type: 'write', key: 'x', rangeEnd: '\0' } })
  for (const [u, r] of [['alice', 'reader'], ['bob', 'rw-ac'], ['carol', 'writer-x'], ['dave', 'reader'], ['dave', 'rw-ac']] as const) {
    if (!store.userList().includes(u)) store.userAdd({ name: u, noPassword: true })
    store.userGrantRole({ user: u, role: r })
  }
  const R = (key: string, rangeEnd?: string): PermissionRequest => ({ type: 'read', key, ...(rangeEnd === undefined ? {} : { rangeEnd }) })
  const W = (key: string, rangeEnd?: string): PermissionRequest => ({ type: 'write', key, ...(rangeEnd === undefined ? {} : { rangeEnd }) })
  const cases: [string, PermissionRequest, Record<string, boolean>][] = [
    ['read foo', R('foo'), { alice: true, bob: false, carol: false, dave: true, root: true }],
    ['write foo', W('foo'), { alice: false, bob: false, carol: false, dave: false, root: true }],
    ['read [foo, fop)', R('foo', 'fop'), { alice: false, bob: false, carol: false, dave: false, root: true }],
    ['read b', R('b'), { alice: false, bob: true, carol: false, dave: true, root: true }],
    ['write [a, c)', W('a', 'c'), { alice: false, bob: true, carol: false, dave: true, root: true }],
    ['read [a, d)', R('a', 'd'), { alice: false, bob: false, carol: false, dave: false, root: true }],
    ['write x', W('x'), { alice: false, bob: false, carol: true, dave: false, root: true }],
    ['write [y, \\0)', W('y', '\0'), { alice: false, bob: false, carol: true, dave: false, root: true }],
    ['read y', R('y'), { alice: false, bob: false, carol: false, dave: false, root: true }],
    ['read all', R('\0', '\0'), { alice: false, bob: false, carol: false, dave: false, root: true }],
  ]
  for (const [name, request, expected] of cases) {
    for (const [user, allowed] of Object.entries(expected)) {
      const info: AuthInfo = { username: user, revision: store.revision }
      let got = true
      try {
        store.checkPermission(info, request)
      } catch (err) {
        assert.is((err as { code?: string }).code, 'ERR_PERMISSION_DENIED', `${user} / ${name}`)
        got = false
      }
      assert.is(got, allowed, `${user} / ${name}`)
    }
  }
})

test('checks: disabled allows all; no user is ERR_USER_EMPTY; an old revision fails; unknown users are denied', async () => {
  const { store } = fresh()
  store.checkPermission(undefined, { type: 'write', key: 'anything' })
  await withRoot(store)
  store.userAdd({ name: 'u', noPassword: true })
  const info = { username: 'u', revision: store.revision }
  throwsWithCode(() => store.checkPermission(undefined, { type: 'read', key: 'k' }), 'ERR_USER_EMPTY')
  throwsWithCode(() => store.checkPermission({ username: 'u', revision: 0 }, { type: 'read', key: 'k' }), 'ERR_USER_EMPTY')
  throwsWithCode(() => store.checkPermission({ username: 'ghost', revision: store.revision }, { type: 'read', key: 'k' }), 'ERR_PERMISSION_DENIED')
  throwsWithCode(() => store.checkPermission(info, { type: 'read', key: 'k' }), 'ERR_PERMISSION_DENIED')
  store.roleAdd('r')
  throwsWithCode(() => store.checkPermission(info, { type: 'read', key: 'k' }), 'ERR_AUTH_OLD_REVISION')
  // Internal work (lease expiry) runs as root at the current revision.
  store.checkPermission(store.withRoot(), { type: 'write', key: '\0', rangeEnd: '\0' })
  store.checkLeaseRevoke(store.withRoot(), ['a', 'b'])
  store.roleGrantPermission({ role: 'r', permission: { type: 'write', key: 'a' } })
  store.userGrantRole({ user: 'u', role: 'r' })
  const now = { username: 'u', revision: store.revision }
  throwsWithCode(() => store.checkLeaseRevoke(now, ['a', 'b']), 'ERR_PERMISSION_DENIED')
  store.checkLeaseRevoke(now, ['a'])
  store.checkAdmin(store.withRoot())
  throwsWithCode(() => store.checkAdmin(now), 'ERR_PERMISSION_DENIED')
  throwsWithCode(() => store.checkAdmin(undefined), 'ERR_USER_EMPTY')
})

test('authenticate: a token for the right password; ERR_AUTH_FAILED otherwise; nothing while disabled', async () => {
  const { store } = fresh()
  store.userAdd({ name: 'u', hashedPassword: await store.hashPassword('secret') })
  store.userAdd({ name: 'np', noPassword: true })
  await rejectsWithCode(store.authenticate('u', 'secret'), 'ERR_AUTH_NOT_ENABLED')
  await withRoot(store)
  const token = await store.authenticate('u', 'secret', { index: 42 })
  assert.match(token, /^[a-zA-Z]{16}\.42$/)
  assert.equal(store.authInfoFromToken(token), { username: 'u', revision: store.revision })
  await rejectsWithCode(store.authenticate('u', 'wrong'), 'ERR_AUTH_FAILED')
  await rejectsWithCode(store.authenticate('ghost', 'secret'), 'ERR_AUTH_FAILED')
  await rejectsWithCode(store.authenticate('np', ''), 'ERR_AUTH_FAILED')
  throwsWithCode(() => store.authInfoFromToken('nonsense'), 'ERR_INVALID_AUTH_TOKEN')
})

test('tokens die on password change, user delete and auth disable', async () => {
  const { store } = fresh()
  await withRoot(store)
  store.userAdd({ name: 'u', hashedPassword: await store.hashPassword('one') })
  store.userAdd({ name: 'v', hashedPassword: await store.hashPassword('two') })
  const tu = await store.authenticate('u', 'one')
  const tv = await store.authenticate('v', 'two')
  const troot = await store.authenticate('root', 'rootpw')
  store.userChangePassword({ name: 'u', hashedPassword: await store.hashPassword('three') })
  throwsWithCode(() => store.authInfoFromToken(tu), 'ERR_INVALID_AUTH_TOKEN')
  await rejectsWithCode(store.authenticate('u', 'one'), 'ERR_AUTH_FAILED')
  assert.ok(await store.authenticate('u', 'three'))
  assert.is(store.authInfoFromToken(tv).username, 'v')
  store.userDelete('v')
  throwsWithCode(() => store.authInfoFromToken(tv), 'ERR_INVALID_AUTH_TOKEN')
  assert.is(store.authInfoFromToken(troot).username, 'root')
  store.authDisable()
  throwsWithCode(() => store.authInfoFromToken(troot), 'ERR_INVALID_AUTH_TOKEN')
})

test('authenticate re-checks the auth revision after the comparison, retrying or failing with ERR_AUTH_OLD_REVISION', async () => {
  for (const retries of [0, 2]) {
    const { store } = fresh({ maxAuthenticateRetries: retries })
    await withRoot(store)
    store.userAdd({ name: 'u', hashedPassword: await store.hashPassword('pw') })
    const pending = store.authenticate('u', 'pw')
    store.roleAdd('concurrent') // lands while the comparison is on the thread pool
    if (retries === 0) await rejectsWithCode(pending, 'ERR_AUTH_OLD_REVISION')
    else assert.is(store.authInfoFromToken(await pending).username, 'u')
  }
  const { store } = fresh()
  await withRoot(store)
  const revision = await store.checkPassword('root', 'rootpw')
  store.roleAdd('x')
  throwsWithCode(() => store.assignToken('root', { revision }), 'ERR_AUTH_OLD_REVISION')
})

test('a password change during the comparison never yields a token for the old password', async () => {
  const { store } = fresh({ maxAuthenticateRetries: 3 })
  await withRoot(store)
  store.userAdd({ name: 'u', hashedPassword: await store.hashPassword('old') })
  const newHash = await store.hashPassword('new')
  const pending = store.authenticate('u', 'old')
  store.userChangePassword({ name: 'u', hashedPassword: newHash })
  await rejectsWithCode(pending, 'ERR_AUTH_FAILED')
})

test('a store reopened over the same backend sees the same users, roles, revision and enabled flag', async () => {
  const { store, backend } = fresh()
  await withRoot(store)
  store.roleAdd('r')
  store.roleGrantPermission({ role: 'r', permission: { type: 'readwrite', key: 'a', rangeEnd: '\0' } })
  store.userAdd({ name: 'u', noPassword: true })
  store.userGrantRole({ user: 'u', role: 'r' })
  await backend.close()
  const again = new AuthStore(backend.reopen(), { hasher })
  assert.is(again.revision, store.revision)
  assert.is(again.enabled, true)
  assert.equal(again.userList(), store.userList())
  assert.equal(again.roleGet('r'), store.roleGet('r'))
  assert.equal(again.userGet('u'), store.userGet('u'))
  again.checkPermission({ username: 'u', revision: again.revision }, { type: 'write', key: 'zz', rangeEnd: '\0' })
  assert.ok(await again.authenticate('root', 'rootpw'))
})

test('a corrupt record fails loading with ERR_AUTH_CORRUPT', async () => {
  const { backend } = fresh()
  backend.write((tx) => tx.put('authUsers', enc('u'), Uint8Array.of(1, 0, 0, 9)))
  await backend.commit()
  throwsWithCode(() => new AuthStore(backend, { hasher }), 'ERR_AUTH_CORRUPT')
  const other = fresh().backend
  other.write((tx) => tx.put('auth', enc('authEnabled'), Uint8Array.of(2)))
  throwsWithCode(() => new AuthStore(other, { hasher }), 'ERR_AUTH_CORRUPT')
})

test('limits: long keys, too many permissions per role and too many roles per user fail with ERR_AUTH_LIMIT', () => {
  const backend = new MemoryBackend({ clock: new FakeClock(), batchInterval: 1e9 })
  const store = new AuthStore(backend, { hasher, maxKeyBytes: 8, maxPermissionsPerRole: 2, maxRolesPerUser: 1 })
  store.roleAdd('r')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: '123456789' } }), 'ERR_AUTH_LIMIT')
  store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'a' } })
  store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'b' } })
  store.roleGrantPermission({ role: 'r', permission: { type: 'write', key: 'b' } }) // replaces, so still 2
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'c' } }), 'ERR_AUTH_LIMIT')
  store.roleAdd('s')
  store.userAdd({ name: 'u', noPassword: true })
  store.userGrantRole({ user: 'u', role: 'r' })
  throwsWithCode(() => store.userGrantRole({ user: 'u', role: 's' }), 'ERR_AUTH_LIMIT')
  assert.is(store.roleGet('r').permissions.length, 2)
  assert.throws(() => new AuthStore(backend, { maxRolesPerUser: 70_000 }), RangeError)
})

test('the README quick start runs as written (with a cost-4 hasher)', async () => {
  const backend = new MemoryBackend({ clock: new FakeClock(), batchInterval: 1e9 })
  const auth = new AuthStore(backend, { hasher })
  const appliedIndexKey = enc('consistent_index')
  const encodeIndex = (n: number): Uint8Array => Buffer.from(BigInt(n).toString(16).padStart(16, '0'), 'hex')
  const hash = await auth.hashPassword('s3cret')
  backend.write((tx) => {
    auth.userAdd({ name: 'root', hashedPassword: hash }, { tx })
    auth.userGrantRole({ user: 'root', role: 'root' }, { tx })
    auth.userAdd({ name: 'app', noPassword: true }, { tx })
    auth.roleAdd('reader', { tx })
    auth.roleGrantPermission({ role: 'reader', permission: { type: 'read', key: 'config/', rangeEnd: 'config0' } }, { tx })
    auth.userGrantRole({ user: 'app', role: 'reader' }, { tx })
    auth.authEnable({ tx })
    tx.put('meta', appliedIndexKey, encodeIndex(42))
  })
  const token = await auth.authenticate('root', 's3cret')
  assert.is(auth.authInfoFromToken(token).username, 'root')
  auth.checkPermission({ username: 'app', revision: auth.revision }, { type: 'read', key: 'config/a' })
  throwsWithCode(() => auth.checkPermission({ username: 'app', revision: auth.revision }, { type: 'write', key: 'config/a' }), 'ERR_PERMISSION_DENIED')
  await backend.commit()
  const after = new AuthStore(backend.crash(), { hasher })
  assert.is(after.revision, auth.revision, 'the mutations and the index committed together')
})

test.run()
