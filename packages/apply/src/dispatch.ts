import type { WriteTx } from '@strata/backend'
import { type AuthInfo, type AuthStore, checkDeleteRange, checkPut, checkRange, checkTxn } from '@strata/auth'
import type { Lessor } from '@strata/lease'
import type { DeleteResult, MvccStore, PutResult, RangeResult, TxnResult } from '@strata/mvcc'
import { ApplyError } from './errors.js'
import type { Alarms } from './alarms.js'
import type { Members } from './members.js'
import type { RequestBody, RequestHeader, TxnBody, TxnOp } from './request.js'

/** What applying one request produced, handed to the caller that proposed it. */
export type ApplyResponse =
  | { readonly kind: 'put'; readonly result: PutResult }
  | { readonly kind: 'range'; readonly result: RangeResult }
  | { readonly kind: 'deleteRange'; readonly result: DeleteResult }
  | { readonly kind: 'txn'; readonly result: TxnResult }
  | { readonly kind: 'compact'; readonly revision: number; readonly done: Promise<void> }
  | { readonly kind: 'leaseGrant'; readonly id: number; readonly ttlSeconds: number }
  | { readonly kind: 'leaseRevoke'; readonly id: number; readonly deletedKeys: number }
  | { readonly kind: 'authenticate'; readonly token: string }
  | { readonly kind: 'alarm'; readonly alarms: ReturnType<Alarms['list']> }
  | { readonly kind: 'none' }

/** The state one apply works on: every store over one backend, and the write transaction. */
export interface DispatchTarget {
  readonly mvcc: MvccStore
  readonly lessor: Lessor
  readonly auth: AuthStore
  readonly alarms: Alarms
  readonly members: Members
}

/** The identity a request was checked as (etcd's AuthInfo from the raft header). */
function authInfo(h: RequestHeader): AuthInfo | undefined {
  return h.username === '' ? undefined : { username: h.username, revision: h.authRevision }
}

const isPut = (op: TxnOp): boolean => 'put' in op || ('txn' in op && txnHasPut(op.txn))
function txnHasPut(t: TxnBody): boolean {
  return (t.success ?? []).some(isPut) || (t.failure ?? []).some(isPut)
}

/** Lease ids of every put in a txn, both branches, nested ones included. */
function txnLeases(t: TxnBody, out: Set<number>): Set<number> {
  for (const op of [...(t.success ?? []), ...(t.failure ?? [])]) {
    if ('put' in op && (op.put.options?.lease ?? 0) !== 0) out.add(op.put.options!.lease!)
    if ('txn' in op) txnLeases(op.txn, out)
  }
  return out
}

/** etcd's ErrLeaseNotFound for a put naming a lease that does not exist (the lessor's ERR_LEASE_NOT_FOUND). */
function checkLeaseExists(lessor: Lessor, id: number): void {
  if (id !== 0) lessor.keysOf(id)
}

/** Refuses what grows the store while NOSPACE is raised, and everything while CORRUPT is. */
function checkCapped(t: DispatchTarget, body: RequestBody): void {
  if (t.alarms.has('corrupt') && isWrite(body)) {
    throw new ApplyError('ERR_APPLY_CORRUPT_ALARM', 'apply: a CORRUPT alarm is raised; writes are refused until the member is repaired (restore it from a snapshot or discard its data and rejoin)')
  }
  const grows = body.kind === 'put' || body.kind === 'leaseGrant' || (body.kind === 'txn' && txnHasPut(body.txn))
  if (grows && t.alarms.has('nospace')) {
    throw new ApplyError('ERR_APPLY_NO_SPACE', 'apply: the NOSPACE alarm is raised; compact, defragment, then disarm the alarm to write again')
  }
}

function isWrite(body: RequestBody): boolean {
  return body.kind !== 'range' && body.kind !== 'alarm' && body.kind !== 'authenticate'
}

/**
 * Applies one decoded request through `tx` (the entry's backend transaction). Throws a typed
 * error when the request is refused; the caller rolls its writes back and still advances the
 * applied index: a refusal is the entry's deterministic outcome on every member.
 */
export function dispatch(t: DispatchTarget, header: RequestHeader, body: RequestBody, tx: WriteTx, index: number): ApplyResponse {
  checkCapped(t, body)
  const info = authInfo(header)
  switch (body.kind) {
    case 'put': return applyPut(t, info, body)
    case 'range':
      checkRange(t.auth, info, { key: body.key, end: body.end })
      return { kind: 'range', result: t.mvcc.range(body.key, body.end, body.options) }
    case 'deleteRange':
      checkDeleteRange(t.auth, info, { key: body.key, end: body.end, prevKv: body.prevKv })
      return { kind: 'deleteRange', result: t.mvcc.deleteRange(body.key, body.end, { prevKv: body.prevKv === true }) }
    case 'txn': {
      checkTxn(t.auth, info, body.txn as never)
      for (const id of txnLeases(body.txn, new Set())) checkLeaseExists(t.lessor, id)
      return { kind: 'txn', result: t.mvcc.txn(body.txn as never) }
    }
    case 'compact': {
      const handle = t.mvcc.compact(body.revision)
      return { kind: 'compact', revision: body.revision, done: handle.done }
    }
    default: return dispatchOther(t, info, header, body, tx, index)
  }
}

function applyPut(t: DispatchTarget, info: AuthInfo | undefined, body: Extract<RequestBody, { kind: 'put' }>): ApplyResponse {
  let { value, lease = 0 } = body
  if (body.ignoreValue === true || body.ignoreLease === true) {
    const prev = t.mvcc.range(body.key).kvs[0]
    if (prev === undefined) throw new ApplyError('ERR_APPLY_KEY_NOT_FOUND', 'apply: put with ignoreValue or ignoreLease needs an existing key')
    if (body.ignoreValue === true) value = prev.value
    if (body.ignoreLease === true) lease = prev.lease
  }
  checkLeaseExists(t.lessor, lease)
  const prevKv = body.prevKv === true
  // Without auth every check passes: no request objects for it (most puts).
  if (t.auth.enabled) checkPut(t.auth, info, body.key, { prevKv, leaseKeys: lease === 0 ? undefined : t.lessor.keysOf(lease) })
  return { kind: 'put', result: t.mvcc.put(body.key, value, lease === 0 && !prevKv ? undefined : { lease, prevKv }) }
}

function dispatchOther(t: DispatchTarget, info: AuthInfo | undefined, header: RequestHeader, body: RequestBody, tx: WriteTx, index: number): ApplyResponse {
  const opts = { tx }
  switch (body.kind) {
    case 'leaseGrant': {
      const granted = t.lessor.grant(body.id, body.ttlSeconds, opts)
      return { kind: 'leaseGrant', id: granted.id, ttlSeconds: granted.ttl }
    }
    case 'leaseRevoke': {
      if (t.lessor.lookup(body.id) !== undefined) t.auth.checkLeaseRevoke(info, t.lessor.keysOf(body.id))
      return { kind: 'leaseRevoke', id: body.id, deletedKeys: t.lessor.revoke(body.id, opts) }
    }
    case 'leaseCheckpoint':
      t.lessor.checkpoint(body.checkpoints.map((c) => ({ id: c.id, remainingTtl: c.remainingTtlSeconds })), opts)
      return { kind: 'none' }
    case 'authenticate':
      // The header carries the auth revision the password was checked at: a change in between
      // (a new password, a deleted user) fails with ERR_AUTH_OLD_REVISION instead of a token.
      return { kind: 'authenticate', token: t.auth.assignToken(body.name, { revision: header.authRevision, index }) }
    case 'alarm': return applyAlarm(t, info, body, tx)
    case 'memberAttrSet': {
      const m = t.members.get(body.memberId)
      if (m !== undefined) t.members.put(tx, { ...m, name: body.name, clientUrls: [...body.clientUrls] })
      return { kind: 'none' }
    }
    default:
      applyAuthAdmin(t.auth, info, body, tx)
      return { kind: 'none' }
  }
}

function applyAlarm(t: DispatchTarget, info: AuthInfo | undefined, body: Extract<RequestBody, { kind: 'alarm' }>, tx: WriteTx): ApplyResponse {
  if (body.action !== 'get') t.auth.checkAdmin(info)
  if (body.alarm !== 'none') {
    const a = { memberId: body.memberId, alarm: body.alarm }
    if (body.action === 'activate') t.alarms.activate(tx, a)
    if (body.action === 'deactivate') t.alarms.deactivate(tx, a)
  }
  return { kind: 'alarm', alarms: t.alarms.list() }
}

/** The auth admin requests: root only once auth is on (etcd's checkAdmin), effects in `tx`. */
function applyAuthAdmin(auth: AuthStore, info: AuthInfo | undefined, body: RequestBody, tx: WriteTx): void {
  const opts = { tx }
  if (body.kind !== 'authEnable') auth.checkAdmin(info)
  switch (body.kind) {
    case 'authEnable': auth.authEnable(opts); return
    case 'authDisable': auth.authDisable(opts); return
    case 'userAdd': auth.userAdd({ name: body.name, hashedPassword: body.hashedPassword, noPassword: body.noPassword === true }, opts); return
    case 'userDelete': auth.userDelete(body.name, opts); return
    case 'userChangePassword': auth.userChangePassword({ name: body.name, hashedPassword: body.hashedPassword }, opts); return
    case 'userGrantRole': auth.userGrantRole({ user: body.user, role: body.role }, opts); return
    case 'userRevokeRole': auth.userRevokeRole({ user: body.user, role: body.role }, opts); return
    case 'roleAdd': auth.roleAdd(body.name, opts); return
    case 'roleDelete': auth.roleDelete(body.name, opts); return
    case 'roleGrantPermission': {
      const p = body.permission
      auth.roleGrantPermission({ role: body.role, permission: { type: p.type, key: p.key, end: p.end } }, opts)
      return
    }
    case 'roleRevokePermission': auth.roleRevokePermission({ role: body.role, key: body.key, end: body.end }, opts); return
    default: throw new ApplyError('ERR_APPLY_CORRUPT', `apply: no handler for request kind ${body.kind}`)
  }
}
