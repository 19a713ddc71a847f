import type { Compare, CompareResult, CompareTarget, GetResult, RangeOptions, ResponseOp, SortOrder, SortTarget, TxnBody, TxnOp } from './types.js'
import type { ApiContext, CallContext } from './context.js'
import { type PbHeader, type PbKeyValue, boolField, bytesField, enumField, intField, pbKeyValue, rangeEndField } from './codec.js'
import { etcdError, invalidArgument } from './errors.js'

/** A decoded request message: fields by their .proto names (snake_case). */
export type Req = Readonly<Record<string, unknown>>

export interface RangeResponse { header: PbHeader; kvs: PbKeyValue[]; more: boolean; count: number }
export interface PutResponse { header: PbHeader; prev_kv?: PbKeyValue }
export interface DeleteRangeResponse { header: PbHeader; deleted: number; prev_kvs: PbKeyValue[] }
export interface TxnResponse { header: PbHeader; succeeded: boolean; responses: PbResponseOp[] }
export type PbResponseOp =
  | { response_range: Omit<RangeResponse, 'header'> & { header: Partial<PbHeader> } }
  | { response_put: { header: Partial<PbHeader>; prev_kv?: PbKeyValue } }
  | { response_delete_range: { header: Partial<PbHeader>; deleted: number; prev_kvs: PbKeyValue[] } }
  | { response_txn: { header: Partial<PbHeader>; succeeded: boolean; responses: PbResponseOp[] } }

const SORT_ORDERS = ['NONE', 'ASCEND', 'DESCEND'] as const
const SORT_TARGETS = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const
const ORDER_OF: Record<(typeof SORT_ORDERS)[number], SortOrder> = { NONE: 'none', ASCEND: 'ascend', DESCEND: 'descend' }
const SORT_TARGET_OF: Record<(typeof SORT_TARGETS)[number], SortTarget> = { KEY: 'key', VERSION: 'version', CREATE: 'create', MOD: 'mod', VALUE: 'value' }
const COMPARE_RESULTS = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const
const COMPARE_TARGETS = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const
const RESULT_OF: Record<(typeof COMPARE_RESULTS)[number], CompareResult> = { EQUAL: 'equal', GREATER: 'greater', LESS: 'less', NOT_EQUAL: 'notEqual' }
const TARGET_OF: Record<(typeof COMPARE_TARGETS)[number], CompareTarget> = { VERSION: 'version', CREATE: 'create', MOD: 'mod', VALUE: 'value', LEASE: 'lease' }
const TARGET_FIELD: Record<(typeof COMPARE_TARGETS)[number], string> = { VERSION: 'version', CREATE: 'create_revision', MOD: 'mod_revision', VALUE: 'value', LEASE: 'lease' }

/** etcd's checkRangeRequest/checkPutRequest/...: a request without a key is refused before anything else. */
function key(r: Req): Uint8Array {
  const k = bytesField(r.key, 'key')
  if (k.length === 0) throw etcdError('emptyKey')
  return k
}

function rangeOptions(r: Req): RangeOptions {
  return {
    revision: intField(r.revision, 'revision'),
    limit: intField(r.limit, 'limit'),
    countOnly: boolField(r.count_only),
    keysOnly: boolField(r.keys_only),
    sortOrder: ORDER_OF[enumField(r.sort_order, SORT_ORDERS, 'sort_order')],
    sortTarget: SORT_TARGET_OF[enumField(r.sort_target, SORT_TARGETS, 'sort_target')],
    minModRevision: intField(r.min_mod_revision, 'min_mod_revision'),
    maxModRevision: intField(r.max_mod_revision, 'max_mod_revision'),
    minCreateRevision: intField(r.min_create_revision, 'min_create_revision'),
    maxCreateRevision: intField(r.max_create_revision, 'max_create_revision'),
  }
}

function rangeBody(r: Pick<GetResult, 'kvs' | 'more' | 'count'>): Omit<RangeResponse, 'header'> {
  return { kvs: r.kvs.map(pbKeyValue), more: r.more, count: r.count }
}

function putOptions(r: Req): { lease: number; prevKv: boolean; ignoreValue: boolean; ignoreLease: boolean } {
  const value = bytesField(r.value, 'value')
  const lease = intField(r.lease, 'lease')
  const ignoreValue = boolField(r.ignore_value)
  const ignoreLease = boolField(r.ignore_lease)
  if (ignoreValue && value.length !== 0) throw etcdError('valueProvided')
  if (ignoreLease && lease !== 0) throw etcdError('leaseProvided')
  return { lease, prevKv: boolField(r.prev_kv), ignoreValue, ignoreLease }
}

function compare(c: Req): Compare {
  const target = enumField(c.target, COMPARE_TARGETS, 'compare.target')
  const raw = c[TARGET_FIELD[target]]
  const value = target === 'VALUE' ? bytesField(raw, 'compare.value') : intField(raw, `compare.${TARGET_FIELD[target]}`)
  const k = bytesField(c.key, 'compare.key')
  if (k.length === 0) throw etcdError('emptyKey')
  const end = rangeEndField(c.range_end)
  const cmp = { key: k, target: TARGET_OF[target], result: RESULT_OF[enumField(c.result, COMPARE_RESULTS, 'compare.result')], value }
  return end === undefined ? cmp : { ...cmp, end }
}

function requestOp(op: Req): TxnOp {
  const r = (name: string): Req => (op[name] ?? {}) as Req
  if (op.request_range != null) {
    const q = r('request_range')
    return { range: { key: key(q), end: rangeEndField(q.range_end), options: rangeOptions(q) } }
  }
  if (op.request_put != null) {
    const q = r('request_put')
    const o = putOptions(q)
    if (o.ignoreValue || o.ignoreLease) throw invalidArgument('ignore_value and ignore_lease are not supported inside a txn by Strata; put the value or lease explicitly')
    return { put: { key: key(q), value: bytesField(q.value, 'value'), options: { lease: o.lease, prevKv: o.prevKv } } }
  }
  if (op.request_delete_range != null) {
    const q = r('request_delete_range')
    return { deleteRange: { key: key(q), end: rangeEndField(q.range_end), options: { prevKv: boolField(q.prev_kv) } } }
  }
  if (op.request_txn != null) return { txn: txnBody(r('request_txn')) }
  throw etcdError('keyNotFound')
}

function list(v: unknown): Req[] {
  return Array.isArray(v) ? (v as Req[]) : []
}

/** A TxnRequest as embed's TxnBody; nested txns included. */
export function txnBody(r: Req): TxnBody {
  return { compare: list(r.compare).map(compare), success: list(r.success).map(requestOp), failure: list(r.failure).map(requestOp) }
}

function responseOp(op: ResponseOp): PbResponseOp {
  if ('range' in op) return { response_range: { header: { revision: op.range.revision }, ...rangeBody(op.range) } }
  if ('put' in op) return { response_put: op.put.prevKv === undefined ? { header: { revision: op.put.revision } } : { header: { revision: op.put.revision }, prev_kv: pbKeyValue(op.put.prevKv) } }
  if ('deleteRange' in op) return { response_delete_range: { header: { revision: op.deleteRange.revision }, deleted: op.deleteRange.deleted, prev_kvs: (op.deleteRange.prevKvs ?? []).map(pbKeyValue) } }
  return { response_txn: { header: { revision: op.txn.revision }, succeeded: op.txn.succeeded, responses: op.txn.responses.map(responseOp) } }
}

/** etcd's KV service over a store: Range, Put, DeleteRange, Txn, Compact. */
export function kvHandlers(api: ApiContext) {
  return {
    Range: (r: Req, ctx: CallContext): Promise<RangeResponse> =>
      api.run(ctx, async (v) => {
        const k = key(r)
        const end = rangeEndField(r.range_end)
        const res = await v.get(k, { ...rangeOptions(r), ...(end === undefined ? {} : { end }), serializable: boolField(r.serializable) })
        return { header: api.header(res.header), ...rangeBody(res) }
      }),

    Put: (r: Req, ctx: CallContext): Promise<PutResponse> =>
      api.run(ctx, async (v) => {
        const k = key(r)
        const o = putOptions(r)
        const res = await v.put(k, bytesField(r.value, 'value'), {
          ...(o.lease === 0 ? {} : { lease: o.lease }), prevKv: o.prevKv, ignoreValue: o.ignoreValue, ignoreLease: o.ignoreLease,
        })
        return res.prevKv === undefined ? { header: api.header(res.header) } : { header: api.header(res.header), prev_kv: pbKeyValue(res.prevKv) }
      }),

    DeleteRange: (r: Req, ctx: CallContext): Promise<DeleteRangeResponse> =>
      api.run(ctx, async (v) => {
        const k = key(r)
        const end = rangeEndField(r.range_end)
        const res = await v.delete(k, { ...(end === undefined ? {} : { end }), prevKv: boolField(r.prev_kv) })
        return { header: api.header(res.header), deleted: res.deleted, prev_kvs: (res.prevKvs ?? []).map(pbKeyValue) }
      }),

    Txn: (r: Req, ctx: CallContext): Promise<TxnResponse> =>
      api.run(ctx, async (v) => {
        const res = await v.txn(txnBody(r))
        return { header: api.header(res.header), succeeded: res.succeeded, responses: res.responses.map(responseOp) }
      }),

    Compact: (r: Req, ctx: CallContext): Promise<{ header: PbHeader }> =>
      api.run(ctx, async (v) => {
        const res = await v.compact(intField(r.revision, 'revision'), { physical: boolField(r.physical) })
        return { header: api.header(res.header) }
      }),
  }
}
