// The lean server's hand codecs for Put and Range against proto-loader's: the same requests
// decode to what the handlers read the same way, the same responses decode back equal, and
// anything outside their reach falls back (undefined).
import assert from 'node:assert/strict'
import { test } from 'uvu'
import { loadEtcdProto } from '../src/api/proto.js'
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

test.run()
