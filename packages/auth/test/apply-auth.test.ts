import { test } from 'uvu'
import { MemoryBackend } from '@strata/backend'
import { throwsWithCode } from '@strata/testkit'
import type { KeyRange } from '@strata/backend'
import { AuthStore, PasswordHasher, checkDeleteRange, checkPut, checkRange, checkTxn, type TxnRequest } from '../src/index.js'
import { FakeClock } from './fake-clock.js'

const hasher = new PasswordHasher({ cost: 4 })

async function setup(): Promise<{ auth: AuthStore; info: { username: string; revision: number } }> {
  const auth = await AuthStore.open(new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 }), { hasher })
  auth.userAdd({ name: 'root', noPassword: true })
  auth.userGrantRole({ user: 'root', role: 'root' })
  auth.userAdd({ name: 'u', noPassword: true })
  auth.roleAdd('r')
  auth.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'r/', end: 'r0' } })
  auth.roleGrantPermission({ role: 'r', permission: { type: 'write', key: 'w/', end: 'w0' } })
  auth.roleGrantPermission({ role: 'r', permission: { type: 'readwrite', key: 'rw/', end: 'rw0' } })
  auth.userGrantRole({ user: 'u', role: 'r' })
  auth.authEnable()
  return { auth, info: { username: 'u', revision: auth.revision } }
}

test('put needs WRITE, plus READ with prevKv, plus WRITE on the keys already on its lease', async () => {
  const { auth, info } = await setup()
  checkPut(auth, info, 'w/a')
  throwsWithCode(() => checkPut(auth, info, 'w/a', { prevKv: true }), 'ERR_AUTH_PERMISSION_DENIED')
  checkPut(auth, info, 'rw/a', { prevKv: true })
  checkPut(auth, info, 'w/a', { leaseKeys: ['w/b', 'rw/c'] })
  throwsWithCode(() => checkPut(auth, info, 'w/a', { leaseKeys: ['w/b', 'r/c'] }), 'ERR_AUTH_PERMISSION_DENIED')
})

test('range needs READ over the whole range; delete needs WRITE (and READ with prevKv)', async () => {
  const { auth, info } = await setup()
  checkRange(auth, info, { key: 'r/', end: 'r0' })
  throwsWithCode(() => checkRange(auth, info, { key: 'r/', end: 'r1' }), 'ERR_AUTH_PERMISSION_DENIED')
  checkDeleteRange(auth, info, { key: 'w/a', end: 'w/z' })
  throwsWithCode(() => checkDeleteRange(auth, info, { key: 'w/a', end: 'w/z', prevKv: true }), 'ERR_AUTH_PERMISSION_DENIED')
  checkDeleteRange(auth, info, { key: 'rw/a', prevKv: true })
})

test('a txn needs READ on its compares and every op of both branches, nested txns included', async () => {
  const { auth, info } = await setup()
  const ok: TxnRequest = { compare: [{ key: 'r/x' }], success: [{ put: { key: 'w/x' } }], failure: [{ range: { key: 'rw/a' } }] }
  checkTxn(auth, info, ok)
  throwsWithCode(() => checkTxn(auth, info, { ...ok, compare: [{ key: 'w/x' }] }), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => checkTxn(auth, info, { ...ok, failure: [{ put: { key: 'r/x' } }] }), 'ERR_AUTH_PERMISSION_DENIED')
  const nested: TxnRequest = { compare: [], success: [{ txn: { compare: [], success: [], failure: [{ deleteRange: { key: 'r/x' } }] } }], failure: [] }
  throwsWithCode(() => checkTxn(auth, info, nested), 'ERR_AUTH_PERMISSION_DENIED')
  checkTxn(auth, auth.withRoot(), nested)
  let deep: TxnRequest = ok
  for (let i = 0; i < 70; i++) deep = { compare: [], success: [{ txn: deep }], failure: [] }
  throwsWithCode(() => checkTxn(auth, info, deep), 'ERR_AUTH_PERMISSION_DENIED')
  checkTxn(auth, auth.withRoot(), deep)
})

test('the hole is closed: a range with end set is checked over the whole range, not its first key', async () => {
  const { auth } = await setup()
  auth.roleAdd('only-a')
  auth.roleGrantPermission({ role: 'only-a', permission: { type: 'readwrite', key: 'a' } })
  auth.userAdd({ name: 'narrow', noPassword: true })
  auth.userGrantRole({ user: 'narrow', role: 'only-a' })
  const info = { username: 'narrow', revision: auth.revision }
  // An mvcc-shaped request (it carries more fields than the range) passes through as it is.
  const mvccRange = { key: 'a', end: 'z', limit: 10, revision: 0 }
  checkRange(auth, info, { key: 'a' })
  throwsWithCode(() => checkRange(auth, info, mvccRange), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => checkDeleteRange(auth, info, { key: 'a', end: 'z' }), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => auth.checkPermission(info, { type: 'read', key: 'a', end: 'z' }), 'ERR_AUTH_PERMISSION_DENIED')
  const txn: TxnRequest = { compare: [{ key: 'a' }], success: [{ range: { key: 'a', end: 'z' } }], failure: [] }
  throwsWithCode(() => checkTxn(auth, info, txn), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => checkTxn(auth, info, { compare: [{ key: 'a', end: 'z' }], success: [], failure: [] }), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => checkTxn(auth, info, { compare: [], success: [], failure: [{ deleteRange: { key: 'a', end: '\0' } }] }), 'ERR_AUTH_PERMISSION_DENIED')
  checkTxn(auth, info, { compare: [{ key: 'a' }], success: [{ range: { key: 'a' } }], failure: [{ put: { key: 'a' } }] })
  // The backend's KeyRange is the type every check takes.
  const range: KeyRange = { key: Uint8Array.of(0x61), end: Uint8Array.of(0x7a) }
  throwsWithCode(() => checkRange(auth, info, range), 'ERR_AUTH_PERMISSION_DENIED')
})

test('a range named with etcd\'s rangeEnd fails to compile, and from JavaScript with ERR_AUTH_INVALID_ARGUMENT', async () => {
  const { auth, info } = await setup()
  // @ts-expect-error -- a KeyRange's end is `end`; `rangeEnd` is refused (excess property)
  throwsWithCode(() => checkRange(auth, info, { key: 'r/', rangeEnd: 'r0' }), 'ERR_AUTH_INVALID_ARGUMENT')
  const oldShape = { key: 'r/a', rangeEnd: 'zzz' }
  // @ts-expect-error -- not only literals: any object with a rangeEnd is refused (rangeEnd?: never)
  throwsWithCode(() => checkDeleteRange(auth, info, oldShape), 'ERR_AUTH_INVALID_ARGUMENT')
  // @ts-expect-error -- the same for a permission check
  throwsWithCode(() => auth.checkPermission(info, { type: 'read', ...oldShape }), 'ERR_AUTH_INVALID_ARGUMENT')
  // @ts-expect-error -- and for a txn's compare
  throwsWithCode(() => checkTxn(auth, info, { compare: [oldShape], success: [], failure: [] }), 'ERR_AUTH_INVALID_ARGUMENT')
  // @ts-expect-error -- and for a permission granted to a role
  throwsWithCode(() => auth.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'k', rangeEnd: 'l' } }), 'ERR_AUTH_INVALID_ARGUMENT')
  throwsWithCode(() => checkTxn(auth, info, { compare: [], success: [{ nope: 1 } as never], failure: [] }), 'ERR_AUTH_INVALID_ARGUMENT')
  throwsWithCode(() => checkTxn(auth, info, undefined as never), 'ERR_AUTH_INVALID_ARGUMENT')
})

test('an mvcc-shaped txn is checked as it is: optional branches, prevKv in options, puts on a lease', async () => {
  const { auth, info } = await setup()
  // mvcc's TxnRequest: compares with targets, prevKv and lease under `options`, branches optional.
  const mvccTxn = {
    compare: [{ key: 'r/a', end: 'r/z', target: 'version' as const, result: 'equal' as const, value: 0 }],
    success: [{ put: { key: 'w/a', value: 'v', options: { lease: 5 } } }],
  }
  checkTxn(auth, info, mvccTxn)
  throwsWithCode(() => checkTxn(auth, info, mvccTxn, { leaseKeys: () => ['r/x'] }), 'ERR_AUTH_PERMISSION_DENIED')
  checkTxn(auth, info, mvccTxn, { leaseKeys: (lease) => (lease === 5 ? ['w/b'] : ['r/x']) })
  const deleteWithPrevKv = { failure: [{ deleteRange: { key: 'w/a', end: 'w/z', options: { prevKv: true } } }] }
  throwsWithCode(() => checkTxn(auth, info, deleteWithPrevKv), 'ERR_AUTH_PERMISSION_DENIED')
  throwsWithCode(() => checkDeleteRange(auth, info, { key: 'w/a', options: { prevKv: true } }), 'ERR_AUTH_PERMISSION_DENIED')
  checkTxn(auth, info, {})
})

test.run()
