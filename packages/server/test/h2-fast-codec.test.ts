// The lean server's hand codecs for Put, Range, DeleteRange, Txn and Watch responses against proto-loader's: the same requests
// decode to what the handlers read the same way, the same responses decode back equal, and
// anything outside their reach falls back (undefined).
import assert from 'node:assert/strict'
import { test } from 'uvu'
import { loadEtcdProto } from '../src/api/proto.js'
import { txnBody } from '../src/api/kv.js'
import { FAST_CODECS } from '../src/h2/fast-codec.js'

type Def = { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): Record<string, unknown>; responseSerialize(v: unknown): Buffer; responseDeserialize(b: Buffer): unknown }
const kv = loadEtcdProto()['etcdserverpb.KV'] as unknown as Record<string, Def>
const SORT_ORDERS = ['NONE', 'ASCEND', 'DESCEND']
const SORT_TARGETS = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']

/** Every field the fast decoder set equals proto-loader's; every one it left out is proto-loader's default. */
function sameRequest(method: string, request: Record<string, unknown>): void {
  const bytes = kv[method]!.requestSerialize(request)
  const fast = FAST_CODECS.get(`/etcdserverpb.KV/${method}`)!.decode(bytes) as Record<string, unknown> | undefined
  assert.ok(fast !== undefined, `${method} ${JSON.stringify(request)} fell back`)
  const generic = kv[method]!.requestDeserialize(bytes)
  for (const [k, v] of Object.entries(generic)) {
    const f: unknown = fast[k]
    if (k === 'sort_order') assert.equal(SORT_ORDERS[(f as number | undefined) ?? 0], v, k)
    else if (k === 'sort_target') assert.equal(SORT_TARGETS[(f as number | undefined) ?? 0], v, k)
    else if (Buffer.isBuffer(v)) assert.ok(Buffer.from((f as Uint8Array | undefined) ?? []).equals(v), k)
    else if (f === undefined) assert.ok(v === 0 || v === false || v === null || v === undefined, `${k}: ${String(v)} left out`)
    else assert.equal(f, v, k)
  }
  for (const k of Object.keys(fast)) assert.ok(k in generic, `unknown field ${k}`)
}

test('Put and Range requests decode as proto-loader decodes them', () => {
  sameRequest('Put', { key: Buffer.from('k'), value: Buffer.from('v') })
  sameRequest('Put', { key: Buffer.from('k'), value: Buffer.alloc(0), lease: 2 ** 40 + 7, prev_kv: true, ignore_value: true, ignore_lease: true })
  sameRequest('Range', { key: Buffer.from('a') })
  sameRequest('Range', {
    key: Buffer.from('a'), range_end: Buffer.from([0]), limit: 10, revision: 77, sort_order: 'DESCEND', sort_target: 'MOD', serializable: true,
    keys_only: true, count_only: true, min_mod_revision: 1, max_mod_revision: 2 ** 50, min_create_revision: 3, max_create_revision: 4,
  })
})

test('bytes fields decode as views of the request message, not copies', () => {
  const bytes = kv.Put!.requestSerialize({ key: Buffer.from('key'), value: Buffer.from('value') })
  const r = FAST_CODECS.get('/etcdserverpb.KV/Put')!.decode(bytes) as { key: Buffer; value: Buffer }
  assert.equal(r.key.buffer, bytes.buffer)
  assert.equal(r.value.buffer, bytes.buffer)
  assert.equal(Buffer.from(r.value).toString(), 'value')
})

test('a response encodes where the alloc says (inside a larger buffer) the same bytes as into its own', () => {
  const header = { cluster_id: 7, member_id: 1, revision: 99, raft_term: 2 }
  const kv1 = { key: Buffer.from('k'), create_revision: 5, mod_revision: 6, version: 2, value: Buffer.alloc(40, 3), lease: 0 }
  const cases: [string, unknown][] = [
    ['/etcdserverpb.KV/Put', { header, prev_kv: kv1 }],
    ['/etcdserverpb.KV/Range', { header, kvs: [kv1], more: true, count: 2 }],
    ['/etcdserverpb.KV/DeleteRange', { header, deleted: 1, prev_kvs: [kv1] }],
    ['/etcdserverpb.KV/Txn', { header, succeeded: true, responses: [{ response_put: { header: { revision: 99 } } }] }],
    ['/etcdserverpb.Watch/Watch', { header, watch_id: 3, events: [{ type: 'PUT', kv: kv1 }] }],
  ]
  for (const [path, resp] of cases) {
    const codec = FAST_CODECS.get(path)!
    const own = codec.encode(resp)!
    const big = Buffer.alloc(own.length + 20, 0xee)
    const out = codec.encode(resp, (size) => {
      assert.equal(size, own.length, path)
      return { buf: big, at: 10 }
    })!
    assert.ok(out.equals(own), path)
    assert.ok(big.subarray(10, 10 + own.length).equals(own), path)
    assert.ok(big.subarray(0, 10).every((b) => b === 0xee) && big.subarray(10 + own.length).every((b) => b === 0xee), `${path}: wrote outside its slot`)
  }
})

test('Put and Range responses encode to what proto-loader decodes back as its own encoding', () => {
  const header = { cluster_id: 2 ** 52 + 3, member_id: 1, revision: 123456, raft_term: 9 }
  const kv1 = { key: Buffer.from('k'), create_revision: 5, mod_revision: 6, version: 2, value: Buffer.alloc(300, 1), lease: 0 }
  const kv2 = { key: Buffer.from('z'), create_revision: 0, mod_revision: 0, version: 0, value: Buffer.alloc(0), lease: 2 ** 45 }
  const cases: [string, unknown][] = [
    ['Put', { header }], ['Put', { header, prev_kv: kv1 }],
    ['Range', { header, kvs: [], more: false, count: 0 }], ['Range', { header, kvs: [kv1, kv2], more: true, count: 1_000_000 }],
  ]
  for (const [method, resp] of cases) {
    const fast = FAST_CODECS.get(`/etcdserverpb.KV/${method}`)!.encode(resp)
    assert.ok(fast !== undefined, `${method} fell back`)
    const d = kv[method]!
    assert.deepEqual(d.responseDeserialize(fast), d.responseDeserialize(d.responseSerialize(resp)))
  }
})

test('what the fast codecs do not handle falls back to proto-loader', () => {
  const put = FAST_CODECS.get('/etcdserverpb.KV/Put')!
  assert.equal(put.decode(Buffer.from([0x0a, 0x01, 0x6b, 0x38, 0x01])), undefined) // field 7: unknown
  assert.equal(put.decode(kv.Put!.requestSerialize({ key: Buffer.from('k'), lease: -1 })), undefined) // negative int64
  assert.equal(put.decode(Buffer.from([0x0a, 0x05, 0x6b])), undefined) // truncated
  assert.equal(put.encode({ header: { cluster_id: -1, member_id: 1, revision: 1, raft_term: 1 } }), undefined)
  assert.equal(put.encode({ header: { cluster_id: 1, member_id: 1, revision: 1, raft_term: 1 }, extra: 1 }), undefined)
})

const b = (s: string): Buffer => Buffer.from(s)

test('DeleteRange requests decode as proto-loader decodes them; Txn requests read the same to the handlers (nested txns, every compare target)', () => {
  sameRequest('DeleteRange', { key: b('a') })
  sameRequest('DeleteRange', { key: b('a'), range_end: b('z'), prev_kv: true })
  const txns: Record<string, unknown>[] = [
    {},
    { success: [{ request_put: { key: b('k'), value: b('v') } }] },
    {
      compare: [
        { result: 'EQUAL', target: 'VERSION', key: b('a'), version: 0 },
        { result: 'GREATER', target: 'CREATE', key: b('b'), create_revision: 2 ** 40 },
        { result: 'LESS', target: 'MOD', key: b('c'), mod_revision: 7, range_end: b('d') },
        { result: 'NOT_EQUAL', target: 'VALUE', key: b('e'), value: b('x') },
        { result: 'EQUAL', target: 'LEASE', key: b('f'), lease: 99 },
        { key: b('g') },
      ],
      success: [
        { request_range: { key: b('a'), range_end: b('b'), limit: 3, sort_order: 'DESCEND', sort_target: 'VALUE', keys_only: true, count_only: false, revision: 5 } },
        { request_put: { key: b('k'), value: b('v'), lease: 12, prev_kv: true } },
        { request_delete_range: { key: b('d'), range_end: b([0] as unknown as string), prev_kv: true } },
        { request_txn: { compare: [{ target: 'MOD', key: b('z'), mod_revision: 1 }], success: [{ request_put: { key: b('n'), value: b('') } }], failure: [{ request_range: { key: b('n') } }] } },
      ],
      failure: [{ request_put: { key: b('f'), value: Buffer.alloc(1000, 2) } }, { request_delete_range: { key: b('q') } }],
    },
    { success: Array.from({ length: 128 }, (_, i) => ({ request_put: { key: b(`key-${i}`), value: Buffer.alloc(32, i) } })) },
  ]
  for (const t of txns) {
    const bytes = kv.Txn!.requestSerialize(t)
    const fast = FAST_CODECS.get('/etcdserverpb.KV/Txn')!.decode(bytes)
    assert.ok(fast !== undefined, `Txn ${JSON.stringify(t).slice(0, 200)} fell back`)
    assert.deepEqual(txnBody(fast), txnBody(kv.Txn!.requestDeserialize(bytes)))
  }
})

test('DeleteRange and Txn responses encode to what proto-loader decodes back as its own encoding', () => {
  const header = { cluster_id: 2 ** 52 + 3, member_id: 1, revision: 123456, raft_term: 9 }
  const kv1 = { key: b('k'), create_revision: 5, mod_revision: 6, version: 2, value: Buffer.alloc(300, 1), lease: 0 }
  const kv2 = { key: b('z'), create_revision: 0, mod_revision: 0, version: 0, value: Buffer.alloc(0), lease: 2 ** 45 }
  const cases: [string, unknown][] = [
    ['DeleteRange', { header, deleted: 0, prev_kvs: [] }],
    ['DeleteRange', { header, deleted: 2, prev_kvs: [kv1, kv2] }],
    ['Txn', { header, succeeded: false, responses: [] }],
    ['Txn', { header, succeeded: true, responses: Array.from({ length: 128 }, (_, i) => ({ response_put: { header: { revision: 1000 + i } } })) }],
    ['Txn', {
      header, succeeded: true, responses: [
        { response_range: { header: { revision: 5 }, kvs: [kv1, kv2], more: true, count: 2 } },
        { response_range: { header: { revision: 5 }, kvs: [], more: false, count: 0 } },
        { response_put: { header: { revision: 6 }, prev_kv: kv1 } },
        { response_delete_range: { header: { revision: 7 }, deleted: 1, prev_kvs: [kv2] } },
        { response_txn: { header: { revision: 8 }, succeeded: false, responses: [{ response_put: { header: { revision: 8 } } }, { response_txn: { header: { revision: 8 }, succeeded: true, responses: [] } }] } },
      ],
    }],
  ]
  for (const [method, resp] of cases) {
    const fast = FAST_CODECS.get(`/etcdserverpb.KV/${method}`)!.encode(resp)
    assert.ok(fast !== undefined, `${method} fell back`)
    const d = kv[method]!
    assert.deepEqual(d.responseDeserialize(fast), d.responseDeserialize(d.responseSerialize(resp)))
  }
})

test('Txn and DeleteRange: what the fast codecs do not handle falls back to proto-loader', () => {
  const txn = FAST_CODECS.get('/etcdserverpb.KV/Txn')!
  const del = FAST_CODECS.get('/etcdserverpb.KV/DeleteRange')!
  // a RequestOp carrying two members of its oneof: field 2 (put) and field 3 (delete_range)
  const put = kv.Put!.requestSerialize({ key: b('k') })
  const twoMembers = Buffer.concat([Buffer.from([0x12, put.length + 2 + put.length + 2, 0x12, put.length]), put, Buffer.from([0x1a, put.length]), put])
  assert.equal(txn.decode(Buffer.concat([Buffer.from([0x12, twoMembers.length - 2]), twoMembers.subarray(2)])), undefined)
  // a Compare with two members of target_union (version = 4 and lease = 8)
  const cmp = Buffer.from([0x1a, 0x01, 0x61, 0x20, 0x01, 0x40, 0x02])
  assert.equal(txn.decode(Buffer.concat([Buffer.from([0x0a, cmp.length]), cmp])), undefined)
  // an unknown field inside a nested put; an enum value beyond the known ones
  assert.equal(txn.decode(Buffer.from([0x12, 0x07, 0x12, 0x05, 0x0a, 0x01, 0x6b, 0x38, 0x01])), undefined)
  assert.equal(txn.decode(Buffer.from([0x0a, 0x05, 0x08, 0x09, 0x1a, 0x01, 0x61])), undefined)
  assert.equal(del.decode(Buffer.from([0x0a, 0x05, 0x6b])), undefined) // truncated
  const header = { cluster_id: 1, member_id: 1, revision: 1, raft_term: 1 }
  assert.equal(txn.encode({ header, succeeded: true, responses: [{ response_put: { header: {} }, response_range: { header: {} } }] }), undefined)
  assert.equal(txn.encode({ header, succeeded: true, responses: [{ response_put: { header: { revision: -1 } } }] }), undefined)
  assert.equal(txn.encode({ header, succeeded: true, responses: [], extra: 1 }), undefined)
  assert.equal(del.encode({ header, deleted: 2 ** 60, prev_kvs: [] }), undefined)
})

test('Watch responses encode to what proto-loader decodes back as its own encoding; requests are left to proto-loader', () => {
  const watch = (loadEtcdProto()['etcdserverpb.Watch'] as unknown as Record<string, Def>).Watch!
  const fast = FAST_CODECS.get('/etcdserverpb.Watch/Watch')!
  const header = { cluster_id: 2 ** 52 + 3, member_id: 1, revision: 123456, raft_term: 9 }
  const kv1 = { key: b('k'), create_revision: 5, mod_revision: 6, version: 2, value: Buffer.alloc(300, 1), lease: 0 }
  const kv2 = { key: b('z'), create_revision: 0, mod_revision: 7, version: 0, value: Buffer.alloc(0), lease: 2 ** 45 }
  const cases: unknown[] = [
    { header, watch_id: 0, created: true },
    { header, watch_id: 3, canceled: true, compact_revision: 99 },
    { header, watch_id: 4, canceled: true, cancel_reason: 'mvcc: required revision has been compacted — é' },
    { header: { revision: 5 }, watch_id: 7, events: [] },
    { header, watch_id: 2 ** 40, events: [{ type: 'PUT', kv: kv1 }, { type: 'DELETE', kv: kv2, prev_kv: kv1 }, { type: 'PUT', kv: kv2, prev_kv: kv2 }], fragment: true },
    { header, watch_id: 1, events: Array.from({ length: 100 }, (_, i) => ({ type: i % 3 === 0 ? 'DELETE' : 'PUT', kv: { ...kv1, key: b(`key-${i}`), mod_revision: 1000 + i } })) },
  ]
  for (const resp of cases) {
    const bytes = fast.encode(resp)
    assert.ok(bytes !== undefined, `${JSON.stringify(resp).slice(0, 120)} fell back`)
    assert.deepEqual(watch.responseDeserialize(bytes), watch.responseDeserialize(watch.responseSerialize(resp)))
  }
  // the progress notification's watch id -1, an unknown event type, an unknown field: proto-loader's
  assert.equal(fast.encode({ header, watch_id: -1 }), undefined)
  assert.equal(fast.encode({ header, watch_id: 1, events: [{ type: 'UPSERT', kv: kv1 }] }), undefined)
  assert.equal(fast.encode({ header, watch_id: 1, extra: true }), undefined)
  assert.equal(fast.decode(watch.requestSerialize({ create_request: { key: b('a') } })), undefined)
})

test.run()
