import assert from 'node:assert/strict'
import { Prng, throwsWithCode, withSeed } from '@strata/testkit'
import { test } from 'uvu'
import { type Request, type RequestBody, type TxnOp, decodeBatch, decodeMember, decodeRequest, encodeBatch, encodeMember, encodeRequest, encodeRequestOf, isBatch } from '../src/index.js'

const enc = new TextEncoder()
const b = (s: string): Uint8Array => enc.encode(s)

/** Every request kind once, with every optional field set somewhere. */
const samples: RequestBody[] = [
  { kind: 'put', key: b('k'), value: b('v'), lease: 7, prevKv: true, ignoreValue: false, ignoreLease: true },
  { kind: 'range', key: b('a'), end: b('z'), options: { revision: 3, limit: 10, countOnly: false, keysOnly: true, sortOrder: 'descend', sortTarget: 'mod', minModRevision: 1, maxModRevision: 9, minCreateRevision: 2, maxCreateRevision: 8 } },
  { kind: 'deleteRange', key: b('a'), end: b('\0'), prevKv: true },
  {
    kind: 'txn',
    txn: {
      compare: [{ key: b('a'), target: 'value', result: 'equal', value: b('x') }, { key: b('a'), end: b('b'), target: 'mod', result: 'less', value: 5 }],
      success: [{ put: { key: b('a'), value: b('y'), options: { lease: 0, prevKv: false } } }, { txn: { compare: [], success: [{ deleteRange: { key: b('q'), end: undefined, options: { prevKv: true } } }], failure: [] } }],
      failure: [{ range: { key: b('a'), end: undefined, options: { revision: 0, limit: 0, countOnly: true, keysOnly: false, sortOrder: 'none', sortTarget: 'key', minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 } } }],
    },
  },
  { kind: 'compact', revision: 42, physical: true },
  { kind: 'leaseGrant', id: 2 ** 52, ttlSeconds: 60 },
  { kind: 'leaseRevoke', id: 5 },
  { kind: 'leaseCheckpoint', checkpoints: [{ id: 1, remainingTtlSeconds: 30 }, { id: 2, remainingTtlSeconds: 0 }] },
  { kind: 'authEnable' },
  { kind: 'authDisable' },
  { kind: 'authenticate', name: 'alice', simpleToken: 'tok.1' },
  { kind: 'userAdd', name: 'ünïcode', hashedPassword: '$2b$10$abc', noPassword: false },
  { kind: 'userDelete', name: 'bob' },
  { kind: 'userChangePassword', name: 'bob', hashedPassword: '$2b$10$def' },
  { kind: 'userGrantRole', user: 'bob', role: 'r' },
  { kind: 'userRevokeRole', user: 'bob', role: 'r' },
  { kind: 'roleAdd', name: 'r' },
  { kind: 'roleDelete', name: 'r' },
  { kind: 'roleGrantPermission', role: 'r', permission: { type: 'readwrite', key: b('a'), end: b('b') } },
  { kind: 'roleRevokePermission', role: 'r', key: b('a'), end: undefined },
  { kind: 'alarm', action: 'activate', memberId: 3, alarm: 'nospace' },
  { kind: 'memberAttrSet', memberId: 9, name: 'm9', clientUrls: ['http://127.0.0.1:2379', 'http://[::1]:2379'] },
]

test('every request kind round-trips through the codec with its header', () => {
  for (const [i, body] of samples.entries()) {
    const request: Request = { header: { id: i + 1, username: i % 2 === 0 ? '' : 'root', authRevision: i * 3 }, body }
    assert.deepEqual(decodeRequest(encodeRequest(request)), request, body.kind)
    const of = encodeRequestOf(request.header.id, request.header.username, request.header.authRevision, body)
    assert.deepEqual([...of], [...encodeRequest(request)], `${body.kind}: encodeRequestOf`)
  }
})

test('strings are taken as UTF-8 and come back as bytes', () => {
  const out = decodeRequest(encodeRequest({ header: { id: 1, username: '', authRevision: 0 }, body: { kind: 'put', key: 'clé', value: 'v' } }))
  assert.equal(out.body.kind, 'put')
  if (out.body.kind === 'put') assert.deepEqual(out.body.key, b('clé'))
})

test('a truncated, extended or bit-flipped payload never decodes into something else silently', () => {
  withSeed('apply-codec-damage', (prng: Prng) => {
    for (const [i, body] of samples.entries()) {
      const data = encodeRequest({ header: { id: i + 1, username: 'u', authRevision: 1 }, body })
      for (let cut = 0; cut < data.length; cut++) throwsWithCode(() => decodeRequest(data.subarray(0, cut)), 'ERR_APPLY_CORRUPT')
      const longer = new Uint8Array(data.length + 1)
      longer.set(data)
      throwsWithCode(() => decodeRequest(longer), 'ERR_APPLY_CORRUPT')
      // A flipped bit either fails to decode or decodes to a request that re-encodes to the same bytes.
      for (let n = 0; n < 20; n++) {
        const bad = data.slice()
        const at = prng.int(bad.length)
        bad[at] = bad[at]! ^ (1 << prng.int(8))
        try {
          const decoded = decodeRequest(bad)
          assert.deepEqual(encodeRequest(decoded), bad)
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'ERR_APPLY_CORRUPT')
        }
      }
    }
  })
})

test('an unknown version or kind tag is ERR_APPLY_CORRUPT', () => {
  const data = encodeRequest({ header: { id: 1, username: '', authRevision: 0 }, body: { kind: 'authEnable' } })
  throwsWithCode(() => decodeRequest(Uint8Array.of(2, ...data.subarray(1))), 'ERR_APPLY_CORRUPT')
  throwsWithCode(() => decodeRequest(Uint8Array.of(1, 250, ...data.subarray(2))), 'ERR_APPLY_CORRUPT')
})

test('bad fields are ERR_APPLY_INVALID_ARGUMENT when encoding, never a TypeError', () => {
  const h = { id: 1, username: '', authRevision: 0 }
  throwsWithCode(() => encodeRequest({ header: { ...h, id: -1 }, body: { kind: 'authEnable' } }), 'ERR_APPLY_INVALID_ARGUMENT')
  throwsWithCode(() => encodeRequest({ header: { ...h, id: 1.5 }, body: { kind: 'authEnable' } }), 'ERR_APPLY_INVALID_ARGUMENT')
  throwsWithCode(() => encodeRequest({ header: h, body: { kind: 'put', key: 5 as never, value: b('v') } }), 'ERR_APPLY_INVALID_ARGUMENT')
  throwsWithCode(() => encodeRequest({ header: h, body: { kind: 'nope' } as never }), 'ERR_APPLY_INVALID_ARGUMENT')
  throwsWithCode(() => encodeRequest({ header: h, body: { kind: 'txn', txn: { compare: [{ key: 'a', target: 'mod', result: 'equal', value: 'x' }] } } }), 'ERR_APPLY_INVALID_ARGUMENT')
  throwsWithCode(() => encodeRequest({ header: h, body: { kind: 'txn', txn: { success: [{} as TxnOp] } } }), 'ERR_APPLY_INVALID_ARGUMENT')
  throwsWithCode(() => encodeRequest({ header: h, body: { kind: 'alarm', action: 'explode' as never, memberId: 1, alarm: 'none' } }), 'ERR_APPLY_INVALID_ARGUMENT')
})

test('a hostile count cannot make the decoder allocate beyond the payload', () => {
  const data = encodeRequest({ header: { id: 1, username: '', authRevision: 0 }, body: { kind: 'leaseCheckpoint', checkpoints: [] } })
  const bad = data.slice()
  new DataView(bad.buffer).setUint32(bad.length - 4, 0xffffffff, true)
  throwsWithCode(() => decodeRequest(bad), 'ERR_APPLY_CORRUPT')
})

test('a member record round-trips', () => {
  const m = { id: 2 ** 40 + 3, name: 'm1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: [], isLearner: true }
  assert.deepEqual(decodeMember(encodeMember(m)), m)
})

test('a batch entry carries its requests\' payloads in order, each decodable alone', () => {
  const payloads = samples.map((body, i) => encodeRequest({ header: { id: i + 1, username: '', authRevision: 0 }, body }))
  const data = encodeBatch(payloads)
  assert.ok(isBatch(data))
  assert.ok(!payloads.some(isBatch), 'a single request is never taken for a batch')
  const out = decodeBatch(data)
  assert.equal(out.length, payloads.length)
  out.forEach((p, i) => {
    assert.deepEqual(p, payloads[i])
    assert.equal(p.buffer, data.buffer, 'views into the entry, not copies')
    assert.deepEqual(decodeRequest(p), decodeRequest(payloads[i]!))
  })
})

test('a batch frame that does not add up does not decode, and a batch is no single request', () => {
  const data = encodeBatch([encodeRequest({ header: { id: 1, username: '', authRevision: 0 }, body: { kind: 'authEnable' } }), encodeRequest({ header: { id: 2, username: '', authRevision: 0 }, body: { kind: 'put', key: 'k', value: 'v' } })])
  for (let cut = 0; cut < data.length; cut++) throwsWithCode(() => decodeBatch(data.subarray(0, cut)), 'ERR_APPLY_CORRUPT')
  throwsWithCode(() => decodeBatch(Uint8Array.of(...data, 0)), 'ERR_APPLY_CORRUPT')
  throwsWithCode(() => decodeBatch(Uint8Array.of(2, 0, 0, 0, 0)), 'ERR_APPLY_CORRUPT')
  throwsWithCode(() => decodeBatch(Uint8Array.of(2, 255, 255, 255, 255, 0)), 'ERR_APPLY_CORRUPT')
  throwsWithCode(() => decodeRequest(data), 'ERR_APPLY_CORRUPT')
})

test.run()
