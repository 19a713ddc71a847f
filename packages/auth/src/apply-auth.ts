import type { Bytes, KeyRange } from '@strata/backend'
import { invalidArgument } from './errors.js'
import type { AuthStore, NoRangeEnd } from './store.js'
import type { AuthInfo } from './token-provider.js'

/**
 * Which permission each KV request needs (etcd's apply_auth.go, reference §5.2), as checks the
 * apply layer runs with the AuthInfo stamped into the request. Each throws the store's error
 * (ERR_AUTH_PERMISSION_DENIED, ERR_AUTH_OLD_REVISION, ERR_AUTH_USER_EMPTY) or returns.
 *
 * Every range here is the one `KeyRange` of `@strata/backend` (`{ key, end? }`), the shape mvcc's
 * requests have too, so an mvcc request can be passed as it is and is checked over its whole
 * range. A range carrying etcd's old `rangeEnd` name fails to compile (`NoRangeEnd`) and, from
 * JavaScript, with ERR_AUTH_INVALID_ARGUMENT.
 */

/** A range to check: a KeyRange, never with `rangeEnd`. */
export type CheckedRange = KeyRange & NoRangeEnd

/** The operations a transaction may hold (nested transactions included). */
export type TxnOp =
  | { readonly range: CheckedRange }
  | { readonly put: { readonly key: Bytes; readonly prevKv?: boolean } }
  | { readonly deleteRange: CheckedRange & { readonly prevKv?: boolean } }
  | { readonly txn: TxnRequest }

export interface TxnRequest {
  /** The compared ranges (each is checked for READ). */
  readonly compare: readonly CheckedRange[]
  readonly success: readonly TxnOp[]
  readonly failure: readonly TxnOp[]
}

export interface PutCheckOptions {
  /** The put returns the previous value: READ on the key too. Default false. */
  readonly prevKv?: boolean
  /** The keys already attached to the lease the put attaches: WRITE on each. Default none. */
  readonly leaseKeys?: Iterable<Bytes>
}

/** Most nesting of transactions inside transactions the check follows; deeper is denied. 64. */
const MAX_TXN_DEPTH = 64

/** Range (and Watch at creation): READ on the whole range. */
export function checkRange(auth: AuthStore, info: AuthInfo | undefined, range: CheckedRange): void {
  auth.checkPermission(info, { type: 'read', ...asRange(range, 'the range') })
}

/**
 * Put: WRITE on the key, READ too when the previous value is returned, and WRITE on every key
 * already attached to the lease the put attaches (etcd: a lease's keys are revoked together).
 */
export function checkPut(auth: AuthStore, info: AuthInfo | undefined, key: Bytes, options?: PutCheckOptions): void {
  auth.checkPermission(info, { type: 'write', key })
  if (options?.prevKv === true) auth.checkPermission(info, { type: 'read', key })
  if (options?.leaseKeys !== undefined) auth.checkLeaseRevoke(info, options.leaseKeys)
}

/** DeleteRange: WRITE on the whole range, READ too when the deleted values are returned. */
export function checkDeleteRange(auth: AuthStore, info: AuthInfo | undefined, range: CheckedRange & { readonly prevKv?: boolean }): void {
  const keys = asRange(range, 'the delete range')
  auth.checkPermission(info, { type: 'write', ...keys })
  if (range.prevKv === true) auth.checkPermission(info, { type: 'read', ...keys })
}

/**
 * Txn: READ on every compared range, and every operation of *both* branches (which branch runs is
 * only known after the check), recursing into nested transactions.
 */
export function checkTxn(auth: AuthStore, info: AuthInfo | undefined, txn: TxnRequest): void {
  checkTxnAt(auth, info, txn, 0)
}

function checkTxnAt(auth: AuthStore, info: AuthInfo | undefined, txn: TxnRequest, depth: number): void {
  if (typeof txn !== 'object' || txn === null || !Array.isArray(txn.compare) || !Array.isArray(txn.success) || !Array.isArray(txn.failure)) {
    throw invalidArgument('the txn', '{ compare, success, failure } (arrays)', txn)
  }
  if (depth > MAX_TXN_DEPTH) {
    auth.checkPermission(info, { type: 'write', key: '\0', end: '\0' }) // only root passes this deep
    return
  }
  for (const c of txn.compare) checkRange(auth, info, c)
  for (const op of [...txn.success, ...txn.failure]) {
    if (typeof op !== 'object' || op === null) throw invalidArgument('a txn op', '{ range } | { put } | { deleteRange } | { txn }', op)
    if ('range' in op) checkRange(auth, info, op.range)
    else if ('put' in op) checkPut(auth, info, op.put.key, { prevKv: op.put.prevKv ?? false })
    else if ('deleteRange' in op) checkDeleteRange(auth, info, op.deleteRange)
    else if ('txn' in op) checkTxnAt(auth, info, op.txn, depth + 1)
    else throw invalidArgument('a txn op', '{ range } | { put } | { deleteRange } | { txn }', op)
  }
}

/**
 * Only the range fields of `range` (mvcc's requests carry more: limit, revision, ...), with
 * `rangeEnd` kept so checkPermission refuses it rather than drop it silently.
 */
function asRange(range: CheckedRange, what: string): CheckedRange {
  if (typeof range !== 'object' || range === null) throw invalidArgument(what, 'a KeyRange { key, end? }', range)
  const r = range as CheckedRange & { readonly rangeEnd?: unknown }
  return r.rangeEnd === undefined ? { key: r.key, end: r.end } : ({ key: r.key, end: r.end, rangeEnd: r.rangeEnd } as unknown as CheckedRange)
}
