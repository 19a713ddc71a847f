import { MvccError } from './errors.js'
import type { KeyValue } from './kv.js'
import { type KeyRange, type Limits, checkLease, checkRange, checkRangeOptions, checkValue } from './limits.js'
import type { TxnWrite } from './kvstore-txn.js'
import type { Compare, RangeOptions, RequestOp, ResponseOp, TxnRequest, TxnResult } from './types.js'

/** Most levels of nested txns (a limit on recursion; etcd has none but its request size). */
export const MAX_TXN_DEPTH = 16

type CheckedOp =
  | { readonly kind: 'range'; readonly r: KeyRange; readonly o: RangeOptions }
  | { readonly kind: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease: number; readonly prev: boolean }
  | { readonly kind: 'delete'; readonly r: KeyRange; readonly prev: boolean }
  | { readonly kind: 'txn'; readonly t: CheckedTxn }

interface CheckedCompare {
  readonly r: KeyRange
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

function checkCompare(limits: Limits, c: Compare): CheckedCompare {
  if (!TARGETS.has(c.target) || !RESULTS.has(c.result)) throw new MvccError('ERR_INVALID_OPTION', `mvcc: bad compare ${String(c.target)} ${String(c.result)}`)
  const r = checkRange(limits, c.key, c.end)
  if (c.target === 'value') {
    if (typeof c.value === 'number') throw new MvccError('ERR_INVALID_OPTION', 'mvcc: a value compare needs bytes')
    return { r, c, value: checkValue(limits, c.value) }
  }
  if (typeof c.value !== 'number' || !Number.isSafeInteger(c.value)) throw new MvccError('ERR_INVALID_OPTION', `mvcc: a ${c.target} compare needs a safe integer`)
  return { r, c, value: c.value }
}

function checkOps(limits: Limits, ops: readonly RequestOp[] | undefined, depth: number): CheckedOp[] {
  const list = ops ?? []
  if (list.length > limits.maxTxnOps) throw new MvccError('ERR_TOO_MANY_OPS', `mvcc: ${list.length} operations in a txn branch, over the maximum of ${limits.maxTxnOps}`, { ops: list.length, max: limits.maxTxnOps })
  return list.map((op): CheckedOp => {
    if ('range' in op) {
      checkRangeOptions(op.range.options ?? {})
      return { kind: 'range', r: checkRange(limits, op.range.key, op.range.end), o: op.range.options ?? {} }
    }
    if ('put' in op) {
      const r = checkRange(limits, op.put.key, undefined)
      return { kind: 'put', key: r.key, value: checkValue(limits, op.put.value), lease: checkLease(op.put.options?.lease), prev: op.put.options?.prevKv === true }
    }
    if ('deleteRange' in op) return { kind: 'delete', r: checkRange(limits, op.deleteRange.key, op.deleteRange.end), prev: op.deleteRange.options?.prevKv === true }
    if ('txn' in op) return { kind: 'txn', t: checkTxn(limits, op.txn, depth + 1) }
    throw new MvccError('ERR_INVALID_OPTION', 'mvcc: unknown request op')
  })
}

/** Validates a whole txn request (nested ones too) before anything runs: nothing is written on error. */
export function checkTxn(limits: Limits, t: TxnRequest, depth = 0): CheckedTxn {
  if (depth >= MAX_TXN_DEPTH) throw new MvccError('ERR_INVALID_OPTION', `mvcc: txns nested deeper than ${MAX_TXN_DEPTH}`)
  const compare = t.compare ?? []
  if (compare.length > limits.maxTxnOps) throw new MvccError('ERR_TOO_MANY_OPS', `mvcc: ${compare.length} compares, over the maximum of ${limits.maxTxnOps}`)
  return { compare: compare.map((c) => checkCompare(limits, c)), success: checkOps(limits, t.success, depth), failure: checkOps(limits, t.failure, depth) }
}

function compareKv(cc: CheckedCompare, kv: KeyValue | undefined): boolean {
  let d: number
  if (cc.c.target === 'value') d = Buffer.compare(kv?.value ?? new Uint8Array(0), cc.value as Uint8Array)
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
function applyCompare(txn: TxnWrite, cc: CheckedCompare): boolean {
  const { kvs } = txn.rangeChecked(cc.r, {})
  if (kvs.length === 0) return cc.c.target === 'value' ? false : compareKv(cc, undefined)
  return kvs.every((kv) => compareKv(cc, kv))
}

/**
 * The branch taken at every level, decided before any op runs: like etcd, all compares (nested
 * ones too) see the state at the start of the txn.
 */
function decidePath(txn: TxnWrite, t: CheckedTxn, path: boolean[]): void {
  const ok = t.compare.every((cc) => applyCompare(txn, cc))
  path.push(ok)
  for (const op of ok ? t.success : t.failure) if (op.kind === 'txn') decidePath(txn, op.t, path)
}

function runOps(txn: TxnWrite, t: CheckedTxn, path: boolean[], at: { i: number }): TxnResult {
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
export function runTxn(txn: TxnWrite, t: CheckedTxn): TxnResult {
  const path: boolean[] = []
  decidePath(txn, t, path)
  const result = runOps(txn, t, path, { i: 0 })
  return fixRevisions(result, txn.revision)
}

/** Every level reports the revision after the whole txn (etcd's header revision). */
function fixRevisions(r: TxnResult, revision: number): TxnResult {
  return { ...r, revision, responses: r.responses.map((op) => ('txn' in op ? { txn: fixRevisions(op.txn, revision) } : op)) }
}

