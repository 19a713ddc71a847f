import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { type Prng, withSeed } from '@strata/testkit'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ENUMS, MESSAGES, METHODS } from '../src/api/etcd-proto.js'
import { type FieldTuple, messageCodec } from '../src/api/pb-codec.js'
import { LOADER_OPTIONS, loadEtcdProto } from '../src/api/proto.js'
import { GENERATED_PATH, generateDescriptor } from './proto-descriptor-gen.js'

// protobufjs as proto-loader runs it: the reference the precompiled codecs must equal.
interface PbType { encode(m: unknown): { finish(): Uint8Array }; decode(b: Uint8Array): unknown; fromObject(o: unknown): unknown; toObject(m: unknown, o: object): unknown }
const pb = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'))('protobufjs') as { Root: new () => { resolvePath: unknown; loadSync(f: string, o: object): void; lookupType(n: string): PbType } }
const root = new pb.Root()
root.resolvePath = (_o: string, target: string) => `${LOADER_OPTIONS.includeDirs![0]}${target}`
root.loadSync('rpc.proto', { keepCase: true })
const reference = (type: string): { encode(o: unknown): Buffer; decode(b: Buffer): unknown } => {
  const t = root.lookupType(type)
  return { encode: (o) => Buffer.from(t.encode(t.fromObject(o)).finish()), decode: (b) => t.toObject(t.decode(b), LOADER_OPTIONS) }
}

test('etcd-proto.ts is what proto-descriptor-gen.ts makes of proto/*.proto now (regenerate it with --write after editing a .proto file)', () => {
  assert.is(readFileSync(GENERATED_PATH, 'utf8'), generateDescriptor())
})

test('the precompiled methods are the .proto files\' services: paths, message types and streaming', () => {
  const def = loadEtcdProto() as unknown as Record<string, Record<string, { path: string; requestStream: boolean; responseStream: boolean; requestType: { type: { name: string } }; responseType: { type: { name: string } } }>>
  const fromProto = Object.keys(def).filter((k) => /^etcdserverpb\.(KV|Watch|Lease|Cluster|Maintenance|Auth)$/.test(k))
    .flatMap((k) => Object.values(def[k]!).map((m) => [m.path, m.requestType.type.name, m.responseType.type.name, m.requestStream, m.responseStream].join(' ')))
  assert.equal(METHODS.map(([path, req, res, cs, ss]) => [path, req.split('.').pop(), res.split('.').pop(), cs, ss].join(' ')).sort(), fromProto.sort())
})

const INT64S = [0, 1, -1, 127, 128, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 60, -(2 ** 62), 2 ** 64, 1.75, -2.5, Number.NaN, '42', '-7', '18446744073709551615']
const INT32S = [0, 1, -1, 300, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 + 3, 2.5, '12']
const STRINGS = ['', 'a', 'héllo ✓', '日本語のキー', 'x'.repeat(200)]

function randomValue(prng: Prng, kind: FieldTuple[2], ref: string, depth: number): unknown {
  switch (kind) {
    case 'int64':
    case 'uint64': return prng.bool(0.3) ? prng.int(1_000_000) : prng.pick(INT64S)
    case 'int32':
    case 'uint32': return prng.pick(INT32S)
    case 'bool': return prng.pick([true, false, 0, 1])
    case 'string': return prng.pick(STRINGS)
    case 'enum': return prng.pick([...ENUMS[ref]!.map(([n]) => n), ...ENUMS[ref]!.map(([, v]) => v), 'NOT_A_VALUE', 9])
    case 'bytes': {
      const b = Buffer.from(Array.from({ length: prng.int(40) }, () => prng.int(256)))
      return prng.pick([b, new Uint8Array(b), Buffer.alloc(0), b.toString('base64'), [...b]])
    }
    default: return depth > 3 ? null : randomMessage(prng, ref, depth + 1)
  }
}

function randomMessage(prng: Prng, type: string, depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (const [, name, kind, ref, flags] of MESSAGES[type]!) {
    if (!prng.bool(0.6)) continue
    o[name] = (flags & 1) !== 0
      ? Array.from({ length: prng.int(4) }, () => (kind === 'message' ? randomMessage(prng, ref, depth + 1) : randomValue(prng, kind, ref, depth)))
      : prng.bool(0.1) ? null : randomValue(prng, kind, ref, depth)
  }
  return o
}

test('every message encodes to protobufjs\'s bytes and decodes to proto-loader\'s objects, from random messages', () => {
  withSeed('pb-codec-roundtrip', (prng) => {
    for (const type of Object.keys(MESSAGES)) {
      const ours = messageCodec(type)
      const ref = reference(type)
      for (let i = 0; i < 60; i++) {
        const msg = randomMessage(prng, type)
        const bytes = ref.encode(msg)
        assert.equal(ours.encode(msg), bytes, `${type} encoding ${JSON.stringify(msg)}`)
        assert.equal(ours.decode(bytes), ref.decode(bytes), `${type} decoding`)
      }
    }
  })
})

test('cut, flipped and unknown bytes decode as protobufjs decodes them, or fail where it fails', () => {
  withSeed('pb-codec-damaged', (prng) => {
    for (const type of Object.keys(MESSAGES)) {
      const ours = messageCodec(type)
      const ref = reference(type)
      for (let i = 0; i < 40; i++) {
        const good = ref.encode(randomMessage(prng, type))
        const bad = Buffer.from(good)
        if (bad.length > 0 && prng.bool()) bad[prng.int(bad.length)] = prng.int(256)
        const cut = prng.bool(0.3) ? Buffer.concat([bad, Buffer.from([0xf8, 0x07, 0x05])]) : bad.subarray(0, prng.int(bad.length + 1))
        let expected: unknown
        try {
          expected = ref.decode(cut)
        } catch {
          assert.throws(() => ours.decode(cut), undefined, `${type}: protobufjs refused ${cut.toString('hex')}`)
          continue
        }
        assert.equal(ours.decode(cut), expected, `${type} decoding ${cut.toString('hex')}`)
      }
    }
  })
})

test('what protobufjs refuses to encode is refused: an array for a message, a scalar for a message field or a list', () => {
  const put = messageCodec('etcdserverpb.PutRequest')
  const range = messageCodec('etcdserverpb.RangeResponse')
  assert.throws(() => put.encode([]), TypeError)
  assert.throws(() => range.encode({ header: 5 }), /header: object expected/)
  assert.throws(() => range.encode({ kvs: 'x' }), /kvs: array expected/)
  assert.throws(() => messageCodec('nope.Missing'), /no message nope\.Missing/)
})

test('transactions nested past 100 levels are refused both ways, as protobufjs refuses them; 100 levels pass', () => {
  const txn = messageCodec('etcdserverpb.TxnRequest')
  const ref = reference('etcdserverpb.TxnRequest')
  const nested = (levels: number): object => {
    let t: object = { compare: [], success: [], failure: [] }
    for (let i = 0; i < levels; i++) t = { success: [{ request_txn: t }] }
    return t
  }
  const ok = nested(49) // two messages (RequestOp, TxnRequest) a level
  assert.equal(txn.encode(ok), ref.encode(ok))
  assert.equal(txn.decode(ref.encode(ok)), ref.decode(ref.encode(ok)))
  const deep = nested(60)
  assert.throws(() => ref.encode(deep), /depth/)
  assert.throws(() => txn.encode(deep), /depth/)
  let bytes = Buffer.alloc(0)
  for (let i = 0; i < 60; i++) {
    const op = Buffer.concat([Buffer.from([0x22]), varint(bytes.length), bytes]) // RequestOp.request_txn
    bytes = Buffer.concat([Buffer.from([0x12]), varint(op.length), op]) // TxnRequest.success
  }
  assert.throws(() => ref.decode(bytes), /depth/)
  assert.throws(() => txn.decode(bytes), /depth/)
})

function varint(n: number): Buffer {
  const out: number[] = []
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return Buffer.from(out)
}

test.run()
