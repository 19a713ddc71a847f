import { compareBytes } from '@strata/backend'
import { MvccError, describe, invalidArgument } from './errors.js'
import type { KeyValue } from './kv.js'
import type { StoreTxnWrite } from './kvstore-txn.js'
import { type IndexRange, type Limits, checkFlag, checkLease, checkOptionsArg, checkRange, checkRangeOptions, checkValue } from './limits.js'
import type { Compare, DeleteOptions, PutOptions, RangeOptions, RequestOp, ResponseOp, TxnRequest, TxnResult } from './types.js'

/** Most levels of nested txns (a limit on recursion; etcd has none but its request size). */
export const MAX_TXN_DEPTH = 16

type CheckedOp =
  | { readonly kind: 'range'; readonly r: IndexRange; readonly o: RangeOptions }
  | { readonly kind: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease: number; readonly prev: boolean }
  | { readonly kind: 'delete'; readonly r: IndexRange; readonly prev: boolean }
  | { readonly kind: 'txn'; readonly t: CheckedTxn }

interface CheckedCompare {
  readonly r: IndexRange
  readonly c: Compare
  readonly value: Uint8Array | number
}

export interface CheckedTxn {
  readonly compare: readonly CheckedCompare[]
  readonly success: readonly CheckedOp[]
  readonly failure: readonly CheckedOp[]
}

const TARGETS = new Set(['value', 'version', 'create', 'mod', 'lease'])
const RESULTS = new Set(['equal', 'greater', 'less', 'notEqual'])

function isObject(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function checkCompare(limits: Limits, c: Compare): CheckedCompare {
  if (!isObject(c)) throw invalidArgument(`a txn compare must be an object { key, end?, target, result, value }, got ${describe(c)}`)
  if (!TARGETS.has(c.target) || !RESULTS.has(c.result)) {
    throw invalidArgument(`unknown compare ${String(c.target)} ${String(c.result)}; target is one of value, version, create, mod, lease and result one of equal, notEqual, greater, less`)
  }
  const r = checkRange(limits, c.key, c.end)
  if (c.target === 'value') {
    if (typeof c.value === 'number') throw invalidArgument('a value compare needs a string or bytes as its value, got a number')
    return { r, c, value: checkValue(limits, c.value) }
  }
  if (typeof c.value !== 'number' || !Number.isSafeInteger(c.value)) throw invalidArgument(`a ${c.target} compare needs a safe integer as its value, got ${describe(c.value)}`)
  return { r, c, value: c.value }
}

function checkList<T>(list: readonly T[] | undefined, what: string): readonly T[] {
  if (list === undefined) return []
  if (!Array.isArray(list)) throw invalidArgument(`a txn's ${what} must be an array, got ${describe(list)}`)
  return list
}

function checkOp(limits: Limits, op: RequestOp, depth: number): CheckedOp {
  if (!isObject(op)) throw invalidArgument(`a txn operation must be an object { range }, { put }, { deleteRange } or { txn }, got ${describe(op)}`)
  if ('range' in op && isObject(op.range)) {
    return { kind: 'range', r: checkRange(limits, op.range.key, op.range.end), o: checkRangeOptions(op.range.options) }
  }
  if ('put' in op && isObject(op.put)) {
    const r = checkRange(limits, op.put.key, undefined)
    const o = checkOptionsArg(op.put.options, 'put') as PutOptions
    return { kind: 'put', key: r.key, value: checkValue(limits, op.put.value), lease: checkLease(o.lease), prev: checkFlag('prevKv', o.prevKv) }
  }
  if ('deleteRange' in op && isObject(op.deleteRange)) {
    const o = checkOptionsArg(op.deleteRange.options, 'deleteRange') as DeleteOptions
    return { kind: 'delete', r: checkRange(limits, op.deleteRange.key, op.deleteRange.end), prev: checkFlag('prevKv', o.prevKv) }
  }
  if ('txn' in op) return { kind: 'txn', t: checkTxn(limits, op.txn, depth + 1) }
  throw invalidArgument(`unknown txn operation with fields ${Object.keys(op).join(', ') || 'none'}; use { range }, { put }, { deleteRange } or { txn }`)
}

function checkOps(limits: Limits, ops: readonly RequestOp[] | undefined, depth: number): CheckedOp[] {
  const list = checkList(ops, 'operations')
  if (list.length > limits.maxTxnOps) throw new MvccError('ERR_MVCC_TOO_MANY_OPS', `mvcc: ${list.length} operations in a txn branch, over the maximum of ${limits.maxTxnOps}; split the txn or raise maxTxnOps`, { ops: list.length, max: limits.maxTxnOps })
  return list.map((op) => checkOp(limits, op, depth))
}

/** Validates a whole txn request (nested ones too) before anything runs: nothing is written on error. */
export function checkTxn(limits: Limits, t: TxnRequest, depth = 0): CheckedTxn {
  if (!isObject(t)) throw invalidArgument(`a txn request must be an object { compare?, success?, failure? }, got ${describe(t)}`)
  if (depth >= MAX_TXN_DEPTH) throw invalidArgument(`txns nested deeper than ${MAX_TXN_DEPTH} levels; flatten the request`)
  const compare = checkList(t.compare, 'compare')
  if (compare.length > limits.maxTxnOps) throw new MvccError('ERR_MVCC_TOO_MANY_OPS', `mvcc: ${compare.length} compares, over the maximum of ${limits.maxTxnOps}; split the txn or raise maxTxnOps`, { compares: compare.length, max: limits.maxTxnOps })
  return { compare: compare.map((c) => checkCompare(limits, c)), success: checkOps(limits, t.success, depth), failure: checkOps(limits, t.failure, depth) }
}

function compareKv(cc: CheckedCompare, kv: KeyValue | undefined): boolean {
  let d: number
  if (cc.c.target === 'value') d = compareBytes(kv?.value ?? new Uint8Array(0), cc.value as Uint8Array)
  else {
    const field = kv === undefined ? 0 : cc.c.target === 'version' ? kv.version : cc.c.target === 'create' ? kv.createRevision : cc.c.target === 'mod' ? kv.modRevision : kv.lease
    d = field - (cc.value as number)
  }
  switch (cc.c.result) {
    case 'equal': return d === 0
    case 'notEqual': return d !== 0
    case 'greater': return d > 0
    case 'less': return d < 0
  }
}

/**
 * Whether a compare holds. With no key in the range a value compare fails (a missing value
 * cannot be told from an empty one) and the others compare against zero (etcd's applyCompare).
 */
function applyCompare(txn: StoreTxnWrite, cc: CheckedCompare): boolean {
  const { kvs } = txn.rangeChecked(cc.r, {})
  if (kvs.length === 0) return cc.c.target === 'value' ? false : compareKv(cc, undefined)
  return kvs.every((kv) => compareKv(cc, kv))
}

/**
 * The branch taken at every level, decided before any op runs: like etcd, all compares (nested
 * ones too) see the state at the start of the txn.
 */
function decidePath(txn: StoreTxnWrite, t: CheckedTxn, path: boolean[]): void {
  const ok = t.compare.every((cc) => applyCompare(txn, cc))
  path.push(ok)
  for (const op of ok ? t.success : t.failure) if (op.kind === 'txn') decidePath(txn, op.t, path)
}

function runOps(txn: StoreTxnWrite, t: CheckedTxn, path: boolean[], at: { i: number }): TxnResult {
  const ok = path[at.i++]!
  const responses: ResponseOp[] = []
  for (const op of ok ? t.success : t.failure) {
    switch (op.kind) {
      case 'range': responses.push({ range: txn.rangeChecked(op.r, op.o) }); break
      case 'put': responses.push({ put: txn.putChecked(op.key, op.value, op.lease, op.prev) }); break
      case 'delete': responses.push({ deleteRange: txn.deleteRangeChecked(op.r, op.prev) }); break
      case 'txn': responses.push({ txn: runOps(txn, op.t, path, at) }); break
    }
  }
  return { succeeded: ok, responses, revision: txn.revision }
}

/** Runs a checked txn request inside a write txn. */
export function runTxn(txn: StoreTxnWrite, t: CheckedTxn): TxnResult {
  const path: boolean[] = []
  decidePath(txn, t, path)
  const result = runOps(txn, t, path, { i: 0 })
  return fixRevisions(result, txn.revision)
}

/** Every level reports the revision after the whole txn (etcd's header revision). */
function fixRevisions(r: TxnResult, revision: number): TxnResult {
  return { ...r, revision, responses: r.responses.map((op) => ('txn' in op ? { txn: fixRevisions(op.txn, revision) } : op)) }
}

