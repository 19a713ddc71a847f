import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { crc32 } from 'node:zlib'
import { rejectsWithCode } from '@strata/testkit'
import { BUCKETS } from '../src/index.js'
import type { BucketName, KeyValuePair } from '../src/index.js'
import { decodeSnapshot, encodeSnapshot } from '../src/snapshot-format.js'

const pairs: Record<string, Array<[string, string]>> = { key: [['a', '1'], ['b', '']], auth: [['x', 'yz']] }
const source = (bucket: BucketName): KeyValuePair[] => (pairs[bucket] ?? []).map(([k, v]) => ({ key: Buffer.from(k), value: Buffer.from(v) }))

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size)
}

test('the stream is laid out as FORMAT.md says', () => {
  const bytes = Buffer.concat([...encodeSnapshot(source)])
  assert.is(bytes.subarray(0, 8).toString('latin1'), 'STRBKSNP')
  assert.is(bytes.readUInt32BE(8), 1)
  // first pair: type 1, "key", key "a", value "1"
  assert.equal([...bytes.subarray(16, 16 + 14)], [0x01, 3, 0x6b, 0x65, 0x79, 0, 1, 0, 0, 0, 1, 0x61, 0x31, 0x01])
  const trailer = bytes.length - 13
  assert.is(bytes[trailer], 0xff)
  assert.is(bytes.readBigUInt64BE(trailer + 1), 3n)
  assert.is(bytes.readUInt32BE(bytes.length - 4), crc32(bytes.subarray(0, bytes.length - 4)))
  // buckets in BUCKETS order: key before auth
  assert.ok(bytes.indexOf('key') < bytes.indexOf('auth'))
})

test('decoding does not depend on chunk boundaries', async () => {
  const bytes = Buffer.concat([...encodeSnapshot(source)])
  for (const size of [1, 2, 7, 64, bytes.length]) {
    const got: string[] = []
    const n = await decodeSnapshot(chunksOf(bytes, size), (bucket, k, v) => { got.push(`${bucket}/${Buffer.from(k)}=${Buffer.from(v)}`) })
    assert.is(n, 3)
    assert.equal(got, ['key/a=1', 'key/b=', 'auth/x=yz'])
  }
})

test('a value longer than a chunk, and pairs in every bucket, round-trip under any chunking', async () => {
  const big = new Uint8Array(300 * 1024).map((_, i) => i & 255)
  const many = (bucket: BucketName): KeyValuePair[] =>
    bucket === 'key' ? Array.from({ length: 5_000 }, (_, i) => ({ key: Buffer.from(`k${String(i).padStart(5, '0')}`), value: i === 2_500 ? big : Buffer.from(`v${i}`) })) : [{ key: Buffer.from(bucket), value: Buffer.from('x') }]
  const chunks = [...encodeSnapshot(many)]
  assert.ok(chunks.every((c) => c.length <= 300 * 1024 + 64), 'chunks stay near 256 KiB but for one that holds the big value')
  const bytes = Buffer.concat(chunks)
  assert.is(bytes.readUInt32BE(bytes.length - 4), crc32(bytes.subarray(0, bytes.length - 4)))
  for (const size of [bytes.length, 4096, 1000, 13]) {
    let n = 0
    let sawBig = false
    const seen = new Set<string>()
    await decodeSnapshot(chunksOf(bytes, size), (bucket, k, v) => {
      n++
      seen.add(bucket)
      if (v.length === big.length) sawBig = Buffer.compare(v, big) === 0
      assert.ok(!Buffer.isBuffer(k) && !Buffer.isBuffer(v), 'plain Uint8Arrays')
    })
    assert.is(n, 5_000 + BUCKETS.length - 1)
    assert.is(seen.size, BUCKETS.length)
    assert.ok(sawBig)
  }
})

test('every single-byte corruption and every truncation is refused', async () => {
  const bytes = Buffer.concat([...encodeSnapshot(source)])
  for (let i = 0; i < bytes.length; i++) {
    const bad = Buffer.from(bytes)
    bad[i] = bad[i]! ^ 0x40
    await rejectsWithCode(decodeSnapshot(chunksOf(bad, 5), () => {}), 'ERR_BACKEND_CORRUPT')
    await rejectsWithCode(decodeSnapshot(chunksOf(bytes.subarray(0, i), 5), () => {}), 'ERR_BACKEND_CORRUPT')
  }
})

test.run()
