import type { AuthStore, KeyInput } from './store.js'
import type { AuthInfo } from './token-provider.js'

/**
 * Which permission each KV request needs (etcd's apply_auth.go, reference §5.2), as checks the
 * apply layer runs with the AuthInfo stamped into the request. Each throws the store's error
 * (ERR_PERMISSION_DENIED, ERR_AUTH_OLD_REVISION, ERR_USER_EMPTY) or returns.
 */

/** A key range as requests name it: `rangeEnd` omitted = the single key, `"\0"` = open end. */
export interface KeyRange {
  readonly key: KeyInput
  readonly rangeEnd?: KeyInput
}

/** The operations a transaction may hold (nested transactions included). */
export type TxnOp =
  | { readonly range: KeyRange }
  | { readonly put: { readonly key: KeyInput; readonly prevKv?: boolean } }
  | { readonly deleteRange: KeyRange & { readonly prevKv?: boolean } }
  | { readonly txn: TxnRequest }

export interface TxnRequest {
  readonly compare: readonly KeyRange[]
  readonly success: readonly TxnOp[]
  readonly failure: readonly TxnOp[]
}

/** Most nesting of transactions inside transactions the check follows; deeper is denied. 64. */
const MAX_TXN_DEPTH = 64

/** Range (and Watch at creation): READ on the range. */
export function checkRange(auth: AuthStore, info: AuthInfo | undefined, range: KeyRange): void {
  auth.checkPermission(info, { type: 'read', ...range })
}

/**
 * Put: WRITE on the key, READ too when the previous value is returned, and WRITE on every key
 * already attached to the lease the put attaches (etcd: a lease's keys are revoked together).
 */
export function checkPut(auth: AuthStore, info: AuthInfo | undefined, key: KeyInput, options: { readonly prevKv?: boolean; readonly leaseKeys?: Iterable<KeyInput> } = {}): void {
  auth.checkPermission(info, { type: 'write', key })
  if (options.prevKv === true) auth.checkPermission(info, { type: 'read', key })
  if (options.leaseKeys !== undefined) auth.checkLeaseRevoke(info, options.leaseKeys)
}

/** DeleteRange: WRITE on the range, READ too when the deleted values are returned. */
export function checkDeleteRange(auth: AuthStore, info: AuthInfo | undefined, range: KeyRange & { readonly prevKv?: boolean }): void {
  const { prevKv, ...keys } = range
  auth.checkPermission(info, { type: 'write', ...keys })
  if (prevKv === true) auth.checkPermission(info, { type: 'read', ...keys })
}

/**
 * Txn: READ on every compared range, and every operation of *both* branches (which branch runs is
 * only known after the check), recursing into nested transactions.
 */
export function checkTxn(auth: AuthStore, info: AuthInfo | undefined, txn: TxnRequest, depth = 0): void {
  if (depth > MAX_TXN_DEPTH) {
    auth.checkPermission(info, { type: 'write', key: '\0', rangeEnd: '\0' }) // only root passes this deep
    return
  }
  for (const c of txn.compare) checkRange(auth, info, c)
  for (const op of [...txn.success, ...txn.failure]) {
    if ('range' in op) checkRange(auth, info, op.range)
    else if ('put' in op) checkPut(auth, info, op.put.key, { prevKv: op.put.prevKv ?? false })
    else if ('deleteRange' in op) checkDeleteRange(auth, info, op.deleteRange)
    else checkTxn(auth, info, op.txn, depth + 1)
  }
}
