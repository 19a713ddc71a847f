import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBackend } from '@strata/backend'
import { rejectsWithCode, throwsWithCode } from '@strata/testkit'
import { Prng } from '@strata/testkit'
import { AuthStore, PasswordHasher, type AuthError, type AuthInfo, type PermissionRequest } from '../src/index.js'
import { isBcryptHash } from '../src/internal.js'
import { FakeClock } from './fake-clock.js'

const hasher = new PasswordHasher({ cost: 4, maxConcurrent: 2 })
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

async function fresh(options: { clock?: FakeClock; maxAuthenticateRetries?: number } = {}): Promise<{ store: AuthStore; backend: MemoryBackend; clock: FakeClock }> {
  const clock = options.clock ?? new FakeClock()
  const backend = new MemoryBackend({ clock, batchIntervalMs: 1_000_000 })
  const store = await AuthStore.open(backend, { hasher, rng: new Prng(7), clock, maxAuthenticateRetries: options.maxAuthenticateRetries ?? 3 })
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

test('a fresh store starts at auth revision 1, persisted, with auth disabled', async () => {
  const { store, backend } = await fresh()
  assert.is(store.revision, 1)
  assert.is(storedRevision(backend), 1)
  assert.is(store.enabled, false)
  assert.equal(store.userList(), [])
})

test('every mutation increases the auth revision by exactly one, in the same write as its effect', async () => {
  const { store, backend } = await fresh()
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
  const { store, backend } = await fresh()
  const hash = await store.hashPassword('pw')
  store.userAdd({ name: 'u', hashedPassword: hash })
  store.roleAdd('r')
  const before = { rev: store.revision, pending: backend.stats().pendingWrites }
  throwsWithCode(() => store.userAdd({ name: '', hashedPassword: hash }), 'ERR_AUTH_USER_EMPTY')
  throwsWithCode(() => store.userAdd({ name: 'u', hashedPassword: hash }), 'ERR_AUTH_USER_ALREADY_EXIST')
  throwsWithCode(() => store.userAdd({ name: 'v', hashedPassword: 'plaintext' }), 'ERR_AUTH_INVALID_PASSWORD_HASH')
  throwsWithCode(() => store.userAdd({ name: 'v' }), 'ERR_AUTH_INVALID_PASSWORD_HASH')
  throwsWithCode(() => store.userAdd({ name: 'x'.repeat(257), hashedPassword: hash }), 'ERR_AUTH_LIMIT')
  throwsWithCode(() => store.userDelete('nobody'), 'ERR_AUTH_USER_NOT_FOUND')
  throwsWithCode(() => store.userChangePassword({ name: 'nobody', hashedPassword: hash }), 'ERR_AUTH_USER_NOT_FOUND')
  throwsWithCode(() => store.userGrantRole({ user: 'nobody', role: 'r' }), 'ERR_AUTH_USER_NOT_FOUND')
  throwsWithCode(() => store.userGrantRole({ user: 'u', role: 'nope' }), 'ERR_AUTH_ROLE_NOT_FOUND')
  throwsWithCode(() => store.userRevokeRole({ user: 'u', role: 'r' }), 'ERR_AUTH_ROLE_NOT_GRANTED')
  throwsWithCode(() => store.roleAdd(''), 'ERR_AUTH_ROLE_EMPTY')
  throwsWithCode(() => store.roleAdd('r'), 'ERR_AUTH_ROLE_ALREADY_EXIST')
  throwsWithCode(() => store.roleDelete('nope'), 'ERR_AUTH_ROLE_NOT_FOUND')
  throwsWithCode(() => store.roleGrantPermission({ role: 'nope', permission: { type: 'read', key: 'a' } }), 'ERR_AUTH_ROLE_NOT_FOUND')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: undefined }), 'ERR_AUTH_PERMISSION_NOT_GIVEN')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'b', end: 'a' } }), 'ERR_AUTH_INVALID_MGMT')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: '' } }), 'ERR_AUTH_INVALID_MGMT')
  throwsWithCode(() => store.roleGrantPermission({ role: 'r', permission: { type: 'admin' as 'read', key: 'a' } }), 'ERR_AUTH_INVALID_MGMT')
  throwsWithCode(() => store.roleRevokePermission({ role: 'r', key: 'a' }), 'ERR_AUTH_PERMISSION_NOT_GRANTED')
  throwsWithCode(() => store.authEnable(), 'ERR_AUTH_ROOT_USER_NOT_EXIST')
  await rejectsWithCode(store.hashPassword(''), 'ERR_AUTH_PASSWORD_EMPTY')
  assert.is(store.revision, before.rev)
  assert.is(backend.stats().pendingWrites, before.pending)
  assert.equal(store.userGet('u').roles, [])
  assert.equal(store.roleGet('r').permissions, [])
})

test('enable needs root with role root; guard rails hold while enabled; enable and disable are idempotent', async () => {
  const { store } = await fresh()
  store.userAdd({ name: 'root', hashedPassword: await store.hashPassword('pw') })
  throwsWithCode(() => store.authEnable(), 'ERR_AUTH_ROOT_ROLE_NOT_EXIST')
  store.userGrantRole({ user: 'root', role: 'root' }) // role root need not exist to be granted
  store.roleAdd('root')
  store.authEnable()
  const rev = store.revision
  store.authEnable()
  assert.is(store.revision, rev, 'enabling twice is a no-op')
  throwsWithCode(() => store.userDelete('root'), 'ERR_AUTH_INVALID_MGMT')
  throwsWithCode(() => store.userRevokeRole({ user: 'root', role: 'root' }), 'ERR_AUTH_INVALID_MGMT')
  throwsWithCode(() => store.roleDelete('root'), 'ERR_AUTH_INVALID_MGMT')
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
  const { store } = await fresh()
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

test('a permission on the same range is replaced by the new type; permissions stay sorted by key', async () => {
  const { store } = await fresh()
  store.roleAdd('r')
  store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'm' } })
  store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'a', end: 'c' } })
  store.roleGrantPermission({ role: 'r', permission: { type: 'write', key: 'm' } })
  const perms = store.roleGet('r').permissions
  assert.equal(perms.map((p) => [Buffer.from(p.key).toString(), p.type]), [['a', 'read'], ['m', 'write']])
})

/** The matrix: users × requests → allowed? (auth enabled). */
test('the permission matrix: read/write/readwrite over keys, ranges and open ends', async () => {
  const { store } = await fresh()
  await withRoot(store)
  store.roleAdd('reader')
  store.roleGrantPermission({ role: 'reader', permission: { type: 'read', key: 'foo' } })
  store.roleAdd('rw-ac')
  store.roleGrantPermission({ role: 'rw-ac', permission: { type: 'readwrite', key: 'a', end: 'c' } })
  store.roleAdd('writer-x')
  store.roleGrantPermission({ role: 'writer-x', permission: { type: 'write', key: 'x', end: '\0' } })
  for (const [u, r] of [['alice', 'reader'], ['bob', 'rw-ac'], ['carol', 'writer-x'], ['dave', 'reader'], ['dave', 'rw-ac']] as const) {
    if (!store.userList().includes(u)) store.userAdd({ name: u, noPassword: true })
    store.userGrantRole({ user: u, role: r })
  }
  const R = (key: string, end?: string): PermissionRequest => ({ type: 'read', key, ...(end === undefined ? {} : { end }) })
  const W = (key: string, end?: string): PermissionRequest => ({ type: 'write', key, ...(end === undefined ? {} : { end }) })
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
        assert.is((err as { code?: string }).code, 'ERR_AUTH_PERMISSION_DENIED', `${user} / ${name}`)
        got = false
      }
      assert.is(got, allowed, `${user} / ${name}`)
    }
  }
})

test('checks: disabled allows all; no user is ERR_AUTH_USER_EMPTY; an old revision fails; unknown users are denied', async () => {
  const { store } = await fresh()
  store.checkPermission(undefined, { type: 'write', key: 'anything' })
  await withRoot(store)
  store.userAdd({ name: 'u', noPassword: true })
  const info = { username: 'u', revision: store.revision }
  throwsWithCode(() => store.checkPermission(undefined, { type: 'read', key: 'k' }), 'ERR_AUTH_USER_EMPTY')
  throwsWithCode(() => store.checkPermission({ username: 'u', revision: 0 }, { type: 'read', key: 'k' }), 'ERR_AUTH_USER_EMPTY')
  throwsWithCode(() => store.checkPermission({ username: 'ghost', revision: store.revision }, { type: 'read', key: 'k' }), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => store.checkPermission(info, { type: 'read', key: 'k' }), 'ERR_AUTH_PERMISSION_DENIED')
  store.roleAdd('r')
  throwsWithCode(() => store.checkPermission(info, { type: 'read', key: 'k' }), 'ERR_AUTH_OLD_REVISION')
  // Internal work (lease expiry) runs as root at the current revision.
  store.checkPermission(store.withRoot(), { type: 'write', key: '\0', end: '\0' })
  store.checkLeaseRevoke(store.withRoot(), ['a', 'b'])
  store.roleGrantPermission({ role: 'r', permission: { type: 'write', key: 'a' } })
  store.userGrantRole({ user: 'u', role: 'r' })
  const now = { username: 'u', revision: store.revision }
  throwsWithCode(() => store.checkLeaseRevoke(now, ['a', 'b']), 'ERR_AUTH_PERMISSION_DENIED')
  store.checkLeaseRevoke(now, ['a'])
  store.checkAdmin(store.withRoot())
  throwsWithCode(() => store.checkAdmin(now), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => store.checkAdmin(undefined), 'ERR_AUTH_USER_EMPTY')
})

test('authenticate: a token for the right password; ERR_AUTH_FAILED otherwise; nothing while disabled', async () => {
  const { store } = await fresh()
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
  throwsWithCode(() => store.authInfoFromToken('nonsense'), 'ERR_AUTH_INVALID_TOKEN')
})

test('tokens die on password change, user delete and auth disable', async () => {
  const { store } = await fresh()
  await withRoot(store)
  store.userAdd({ name: 'u', hashedPassword: await store.hashPassword('one') })
  store.userAdd({ name: 'v', hashedPassword: await store.hashPassword('two') })
  const tu = await store.authenticate('u', 'one')
  const tv = await store.authenticate('v', 'two')
  const troot = await store.authenticate('root', 'rootpw')
  store.userChangePassword({ name: 'u', hashedPassword: await store.hashPassword('three') })
  throwsWithCode(() => store.authInfoFromToken(tu), 'ERR_AUTH_INVALID_TOKEN')
  await rejectsWithCode(store.authenticate('u', 'one'), 'ERR_AUTH_FAILED')
  assert.ok(await store.authenticate('u', 'three'))
  assert.is(store.authInfoFromToken(tv).username, 'v')
  store.userDelete('v')
  throwsWithCode(() => store.authInfoFromToken(tv), 'ERR_AUTH_INVALID_TOKEN')
  assert.is(store.authInfoFromToken(troot).username, 'root')
  store.authDisable()
  throwsWithCode(() => store.authInfoFromToken(troot), 'ERR_AUTH_INVALID_TOKEN')
})

test('authenticate re-checks the auth revision after the comparison, retrying or failing with ERR_AUTH_OLD_REVISION', async () => {
  for (const retries of [0, 2]) {
    const { store } = await fresh({ maxAuthenticateRetries: retries })
    await withRoot(store)
    store.userAdd({ name: 'u', hashedPassword: await store.hashPassword('pw') })
    const pending = store.authenticate('u', 'pw')
    store.roleAdd('concurrent') // lands while the comparison is on the thread pool
    if (retries === 0) await rejectsWithCode(pending, 'ERR_AUTH_OLD_REVISION')
    else assert.is(store.authInfoFromToken(await pending).username, 'u')
  }
  const { store } = await fresh()
  await withRoot(store)
  const revision = await store.checkPassword('root', 'rootpw')
  store.roleAdd('x')
  throwsWithCode(() => store.assignToken('root', { revision }), 'ERR_AUTH_OLD_REVISION')
})

test('a password change during the comparison never yields a token for the old password', async () => {
  const { store } = await fresh({ maxAuthenticateRetries: 3 })
  await withRoot(store)
  store.userAdd({ name: 'u', hashedPassword: await store.hashPassword('old') })
  const newHash = await store.hashPassword('new')
  const pending = store.authenticate('u', 'old')
  store.userChangePassword({ name: 'u', hashedPassword: newHash })
  await rejectsWithCode(pending, 'ERR_AUTH_FAILED')
})

test('a store reopened over the same backend sees the same users, roles, revision and enabled flag', async () => {
  const { store, backend } = await fresh()
  await withRoot(store)
  store.roleAdd('r')
  store.roleGrantPermission({ role: 'r', permission: { type: 'readwrite', key: 'a', end: '\0' } })
  store.userAdd({ name: 'u', noPassword: true })
  store.userGrantRole({ user: 'u', role: 'r' })
  await backend.close()
  const again = await AuthStore.open(backend.reopen(), { hasher })
  assert.is(again.revision, store.revision)
  assert.is(again.enabled, true)
  assert.equal(again.userList(), store.userList())
  assert.equal(again.roleGet('r'), store.roleGet('r'))
  assert.equal(again.userGet('u'), store.userGet('u'))
  again.checkPermission({ username: 'u', revision: again.revision }, { type: 'write', key: 'zz', end: '\0' })
  assert.ok(await again.authenticate('root', 'rootpw'))
})

test('a corrupt record fails loading with ERR_AUTH_CORRUPT', async () => {
  const { backend } = await fresh()
  backend.write((tx) => tx.put('authUsers', enc('u'), Uint8Array.of(1, 0, 0, 9)))
  await backend.commit()
  await rejectsWithCode(AuthStore.open(backend, { hasher }), 'ERR_AUTH_CORRUPT')
  const other = await (await fresh()).backend
  other.write((tx) => tx.put('auth', enc('authEnabled'), Uint8Array.of(2)))
  await rejectsWithCode(AuthStore.open(other, { hasher }), 'ERR_AUTH_CORRUPT')
})

test('limits: long keys, too many permissions per role and too many roles per user fail with ERR_AUTH_LIMIT', async () => {
  const backend = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const store = await AuthStore.open(backend, { hasher, maxKeyBytes: 8, maxPermissionsPerRole: 2, maxRolesPerUser: 1 })
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
})

test('a driver\'s { tx } commits the mutations, the auth revision and its applied index together', async () => {
  const backend = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const auth = await AuthStore.open(backend, { hasher })
  const indexKey = enc('consistent_index')
  const hash = await auth.hashPassword('s3cret')
  backend.write((tx) => {
    auth.userAdd({ name: 'root', hashedPassword: hash }, { tx })
    auth.userGrantRole({ user: 'root', role: 'root' }, { tx })
    auth.authEnable({ tx })
    tx.put('meta', indexKey, Uint8Array.of(42))
  })
  const lost = await AuthStore.open(backend.crash(), { hasher })
  assert.is(lost.revision, 1, 'nothing committed: neither the mutations nor the index survive')
  const backend2 = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const auth2 = await AuthStore.open(backend2, { hasher })
  backend2.write((tx) => {
    auth2.userAdd({ name: 'root', hashedPassword: hash }, { tx })
    auth2.userGrantRole({ user: 'root', role: 'root' }, { tx })
    auth2.authEnable({ tx })
    tx.put('meta', indexKey, Uint8Array.of(42))
  })
  await backend2.commit()
  const after = backend2.crash()
  const kept = await AuthStore.open(after, { hasher })
  assert.is(kept.revision, auth2.revision, 'the mutations and the index committed together')
  assert.equal(after.read((tx) => tx.get('meta', indexKey)), Uint8Array.of(42))
  throwsWithCode(() => auth2.userAdd({ name: 'x', noPassword: true }, { tx: 'nope' as never }), 'ERR_AUTH_INVALID_ARGUMENT')
  await Promise.all([lost.close(), auth.close(), auth2.close(), kept.close()])
})

test('open, close and recover: close is idempotent, every later call fails with ERR_AUTH_CLOSED, recover switches backend', async () => {
  const { store, backend } = await fresh()
  await withRoot(store)
  const token = await store.authenticate('root', 'rootpw')
  // A snapshot restore: the new backend holds another member's state.
  const other = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const donor = await AuthStore.open(other, { hasher })
  donor.userAdd({ name: 'only-here', noPassword: true })
  await donor.close()
  store.recover(other)
  assert.equal(store.userList(), ['only-here'])
  assert.is(store.enabled, false)
  throwsWithCode(() => store.authInfoFromToken(token), 'ERR_AUTH_INVALID_TOKEN') // tokens dropped on recover
  store.roleAdd('r')
  assert.ok(other.read((tx) => tx.get('authRoles', enc('r'))) !== undefined, 'writes go to the new backend')
  assert.is(backend.read((tx) => tx.get('authRoles', enc('r'))), undefined)
  throwsWithCode(() => store.recover({} as never), 'ERR_AUTH_INVALID_ARGUMENT')
  const first = store.close()
  const second = store.close()
  assert.is(first, second, 'a second close returns the first one\'s promise')
  await first
  assert.is(store.closed, true)
  throwsWithCode(() => store.revision, 'ERR_AUTH_CLOSED')
  throwsWithCode(() => store.userList(), 'ERR_AUTH_CLOSED')
  throwsWithCode(() => store.roleAdd('s'), 'ERR_AUTH_CLOSED')
  throwsWithCode(() => store.checkPermission(undefined, { type: 'read', key: 'a' }), 'ERR_AUTH_CLOSED')
  throwsWithCode(() => store.recover(), 'ERR_AUTH_CLOSED')
  throwsWithCode(() => store.authenticate('root', 'rootpw'), 'ERR_AUTH_CLOSED')
  await rejectsWithCode(AuthStore.open(undefined as never), 'ERR_AUTH_INVALID_ARGUMENT')
})

test('close waits for an authentication in flight, which then fails with ERR_AUTH_CLOSED; a store-made hasher is stopped', async () => {
  const backend = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const store = await AuthStore.open(backend, { bcryptCost: 4, rng: new Prng(1), clock: new FakeClock() })
  await withRoot(store)
  const pending = store.authenticate('root', 'rootpw')
  const own = store.hasher
  await store.close()
  await rejectsWithCode(pending, 'ERR_AUTH_CLOSED')
  await rejectsWithCode(own.hash('x'), 'ERR_AUTH_CLOSED')
  // A hasher passed in is the caller's: closing the store leaves it running.
  const shared = await AuthStore.open(backend, { hasher })
  await shared.close()
  assert.ok(isBcryptHash(await hasher.hash('still works')))
})

test('bad options fail at once with ERR_AUTH_INVALID_OPTION', async () => {
  const backend = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const bad: unknown[] = [
    { maxRolesPerUser: 70_000 },
    { maxNameBytes: 0 },
    { maxKeyBytes: '8' },
    { maxAuthenticateRetries: 1.5 },
    { bcryptCost: 3 },
    { bcryptCost: 32 },
    { hasher, bcryptCost: 4 },
    { hasher: {} },
    { tokenTtlMs: 0 },
    { tokenProvider: {} },
    { rng: 7 },
    { clock: {} },
    'options',
  ]
  for (const options of bad) await rejectsWithCode(AuthStore.open(backend, options as never), 'ERR_AUTH_INVALID_OPTION')
  const ok = await AuthStore.open(backend, { bcryptCost: 4, tokenTtlMs: 1000 })
  await ok.close()
})

test('bad arguments fail with ERR_AUTH_INVALID_ARGUMENT, never a TypeError, and change nothing', async () => {
  const { store } = await fresh()
  await withRoot(store)
  store.roleAdd('r')
  const rev = store.revision
  const info = { username: 'root', revision: rev }
  const calls: (() => unknown)[] = [
    () => store.userAdd({ name: 7 as never, noPassword: true }),
    () => store.userAdd({ name: 'u', noPassword: 'yes' as never }),
    () => store.userAdd(undefined as never),
    () => store.userGet(1 as never),
    () => store.roleAdd(null as never),
    () => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 5 as never } }),
    () => store.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'a', end: {} as never } }),
    () => store.roleGrantPermission({ role: 'r', permission: 'read' as never }),
    () => store.checkPermission(info, { type: 'read', key: 1 as never }),
    () => store.checkPermission(info, { type: 'admin' as never, key: 'a' }),
    () => store.checkPermission(info, undefined as never),
    () => store.checkPermission({ username: 'root', revision: -1 }, { type: 'read', key: 'a' }),
    () => store.checkPermission({ username: 'root', revision: 1.5 }, { type: 'read', key: 'a' }),
    () => store.checkLeaseRevoke(info, 3 as never),
    () => store.checkRevision(Number.NaN),
    () => store.assignToken('root', { revision: rev, index: -1 }),
    () => store.authInfoFromToken(42 as never),
  ]
  for (const call of calls) throwsWithCode(call, 'ERR_AUTH_INVALID_ARGUMENT')
  await rejectsWithCode(store.authenticate('root', 42 as never), 'ERR_AUTH_INVALID_ARGUMENT')
  await rejectsWithCode(store.hashPassword(undefined as never), 'ERR_AUTH_INVALID_ARGUMENT')
  assert.is(store.revision, rev)
})

test('checkRevision: a request stamped before the auth revision moved is refused at apply with ERR_AUTH_OLD_REVISION', async () => {
  const { store } = await fresh()
  store.checkRevision(0) // auth disabled: nothing is refused, as in etcd
  await withRoot(store)
  const stamped = store.revision // recorded in the entry's header at propose time
  store.checkRevision(stamped)
  store.checkRevision(stamped + 1)
  store.roleAdd('moved') // applied before the entry
  const err = throwsWithCode(() => store.checkRevision(stamped), 'ERR_AUTH_OLD_REVISION')
  assert.equal((err as AuthError).context, { given: stamped, current: store.revision })
  throwsWithCode(() => store.checkPermission({ username: 'root', revision: stamped }, { type: 'read', key: 'a' }), 'ERR_AUTH_OLD_REVISION')
})

test.run()
