import { test } from 'uvu'
import { MemoryBackend } from '@strata/backend'
import { throwsWithCode } from '@strata/testkit'
import { AuthStore, PasswordHasher, checkDeleteRange, checkPut, checkRange, checkTxn, type TxnRequest } from '../src/index.js'
import { FakeClock } from './fake-clock.js'

function setup(): { auth: AuthStore; info: { username: string; revision: number } } {
  const auth = new AuthStore(new MemoryBackend({ clock: new FakeClock(), batchInterval: 1e9 }), { hasher: new PasswordHasher({ cost: 4 }) })
  auth.userAdd({ name: 'root', noPassword: true })
  auth.userGrantRole({ user: 'root', role: 'root' })
  auth.userAdd({ name: 'u', noPassword: true })
  auth.roleAdd('r')
  auth.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'r/', rangeEnd: 'r0' } })
  auth.roleGrantPermission({ role: 'r', permission: { type: 'write', key: 'w/', rangeEnd: 'w0' } })
  auth.roleGrantPermission({ role: 'r', permission: { type: 'readwrite', key: 'rw/', rangeEnd: 'rw0' } })
  auth.userGrantRole({ user: 'u', role: 'r' })
  auth.authEnable()
  return { auth, info: { username: 'u', revision: auth.revision } }
}

test('put needs WRITE, plus READ with prevKv, plus WRITE on the keys already on its lease', () => {
  const { auth, info } = setup()
  checkPut(auth, info, 'w/a')
  throwsWithCode(() => checkPut(auth, info, 'w/a', { prevKv: true }), 'ERR_PERMISSION_DENIED')
  checkPut(auth, info, 'rw/a', { prevKv: true })
  checkPut(auth, info, 'w/a', { leaseKeys: ['w/b', 'rw/c'] })
  throwsWithCode(() => checkPut(auth, info, 'w/a', { leaseKeys: ['w/b', 'r/c'] }), 'ERR_PERMISSION_DENIED')
})

test('range needs READ over the whole range; delete needs WRITE (and READ with prevKv)', () => {
  const { auth, info } = setup()
  checkRange(auth, info, { key: 'r/', rangeEnd: 'r0' })
  throwsWithCode(() => checkRange(auth, info, { key: 'r/', rangeEnd: 'r1' }), 'ERR_PERMISSION_DENIED')
  checkDeleteRange(auth, info, { key: 'w/a', rangeEnd: 'w/z' })
  throwsWithCode(() => checkDeleteRange(auth, info, { key: 'w/a', rangeEnd: 'w/z', prevKv: true }), 'ERR_PERMISSION_DENIED')
  checkDeleteRange(auth, info, { key: 'rw/a', prevKv: true })
})

test('a txn needs READ on its compares and every op of both branches, nested txns included', () => {
  const { auth, info } = setup()
  const ok: TxnRequest = { compare: [{ key: 'r/x' }], success: [{ put: { key: 'w/x' } }], failure: [{ range: { key: 'rw/a' } }] }
  checkTxn(auth, info, ok)
  throwsWithCode(() => checkTxn(auth, info, { ...ok, compare: [{ key: 'w/x' }] }), 'ERR_PERMISSION_DENIED')
  throwsWithCode(() => checkTxn(auth, info, { ...ok, failure: [{ put: { key: 'r/x' } }] }), 'ERR_PERMISSION_DENIED')
  const nested: TxnRequest = { compare: [], success: [{ txn: { compare: [], success: [], failure: [{ deleteRange: { key: 'r/x' } }] } }], failure: [] }
  throwsWithCode(() => checkTxn(auth, info, nested), 'ERR_PERMISSION_DENIED')
  checkTxn(auth, auth.withRoot(), nested)
  let deep: TxnRequest = ok
  for (let i = 0; i < 70; i++) deep = { compare: [], success: [{ txn: deep }], failure: [] }
  throwsWithCode(() => checkTxn(auth, info, deep), 'ERR_PERMISSION_DENIED')
  checkTxn(auth, auth.withRoot(), deep)
})

test.run()
