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

/** What a request returns besides its effect: `prevKv` needs READ too (top level or in `options`). */
export interface PrevKvOption {
  readonly prevKv?: boolean
  /** mvcc's request shape: `options.prevKv` counts as `prevKv`. */
  readonly options?: { readonly prevKv?: boolean; readonly lease?: number }
}

/**
 * The operations a transaction may hold (nested transactions included). mvcc's `RequestOp` and
 * `TxnRequest` have this shape, so an mvcc transaction is checked as it is.
 */
export type TxnOp =
  | { readonly range: CheckedRange }
  | { readonly put: { readonly key: Bytes } & PrevKvOption }
  | { readonly deleteRange: CheckedRange & PrevKvOption }
  | { readonly txn: TxnRequest }

export interface TxnRequest {
  /** The compared ranges (each is checked for READ). Default none. */
  readonly compare?: readonly CheckedRange[]
  readonly success?: readonly TxnOp[]
  readonly failure?: readonly TxnOp[]
}

export interface TxnCheckOptions {
  /**
   * The keys attached to a lease, for the puts of the txn that attach one (`options.lease`
   * non-zero): WRITE on each, as for a single put. Without it those lease checks are skipped.
   */
  readonly leaseKeys?: (lease: number) => Iterable<Bytes>
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
export function checkDeleteRange(auth: AuthStore, info: AuthInfo | undefined, range: CheckedRange & PrevKvOption): void {
  const keys = asRange(range, 'the delete range')
  auth.checkPermission(info, { type: 'write', ...keys })
  if (wantsPrevKv(range)) auth.checkPermission(info, { type: 'read', ...keys })
}

/**
 * Txn: READ on every compared range, and every operation of *both* branches (which branch runs is
 * only known after the check), recursing into nested transactions.
 */
export function checkTxn(auth: AuthStore, info: AuthInfo | undefined, txn: TxnRequest, options?: TxnCheckOptions): void {
  checkTxnAt(auth, info, txn, options?.leaseKeys, 0)
}

function checkTxnAt(auth: AuthStore, info: AuthInfo | undefined, txn: TxnRequest, leaseKeys: TxnCheckOptions['leaseKeys'], depth: number): void {
  const parts = [txn?.compare, txn?.success, txn?.failure]
  if (typeof txn !== 'object' || txn === null || parts.some((p) => p !== undefined && !Array.isArray(p))) {
    throw invalidArgument('the txn', '{ compare?, success?, failure? } (arrays)', txn)
  }
  if (depth > MAX_TXN_DEPTH) {
    auth.checkPermission(info, { type: 'write', key: '\0', end: '\0' }) // only root passes this deep
    return
  }
  for (const c of txn.compare ?? []) checkRange(auth, info, c)
  for (const op of [...(txn.success ?? []), ...(txn.failure ?? [])]) {
    if (typeof op !== 'object' || op === null) throw invalidArgument('a txn op', '{ range } | { put } | { deleteRange } | { txn }', op)
    if ('range' in op) checkRange(auth, info, op.range)
    else if ('put' in op) {
      const lease = op.put.options?.lease
      const attached = lease !== undefined && lease !== 0 && leaseKeys !== undefined ? leaseKeys(lease) : undefined
      checkPut(auth, info, op.put.key, { prevKv: wantsPrevKv(op.put), ...(attached === undefined ? {} : { leaseKeys: attached }) })
    } else if ('deleteRange' in op) checkDeleteRange(auth, info, op.deleteRange)
    else if ('txn' in op) checkTxnAt(auth, info, op.txn, leaseKeys, depth + 1)
    else throw invalidArgument('a txn op', '{ range } | { put } | { deleteRange } | { txn }', op)
  }
}

/** `prevKv` asked for at the top level or, in mvcc's shape, in `options`. */
function wantsPrevKv(request: PrevKvOption | undefined): boolean {
  return request?.prevKv === true || request?.options?.prevKv === true
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
