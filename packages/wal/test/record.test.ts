import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { crc32 } from 'node:zlib'
import { Prng } from '@strata/testkit'
import { chainStep } from '../src/crc.js'
import { FRAME_HEADER_BYTES, RECORD_TYPE, frameBytes, getU64, putHardState, sealFrame, setU64 } from '../src/record.js'

test('frames are header plus payload rounded up to 8 bytes', () => {
  assert.is(frameBytes(0), 24)
  assert.is(frameBytes(1), 32)
  assert.is(frameBytes(8), 32)
  assert.is(frameBytes(9), 40)
})

test('a hard state frame has the documented bytes (FORMAT.md)', () => {
  const buf = new Uint8Array(frameBytes(24)).fill(0xee)
  const view = new DataView(buf.buffer)
  putHardState(view, FRAME_HEADER_BYTES, { term: 2, vote: 3, commit: 2 ** 40 + 5 })
  const chain = sealFrame(buf, view, 0, RECORD_TYPE.hardState, 24, 0x11223344, 7, 0)
  const hex = Buffer.from(buf).toString('hex')
  // length 24, type 3, seed, generation 7
  assert.is(hex.slice(16, 48), '18000000' + '03000000' + '44332211' + '07000000')
  // term 2, vote 3, commit 2^40 + 5 as little-endian u64s
  assert.is(hex.slice(48), '0200000000000000' + '0300000000000000' + '0500000000010000')
  assert.is(view.getUint32(0, true), crc32(buf.subarray(8)))
  assert.is(view.getUint32(4, true), chain)
  assert.is(chain, chainStep(view.getUint32(0, true), 0))
})

test('u64 fields round-trip every safe integer shape and reject what is beyond 2^53', () => {
  const view = new DataView(new ArrayBuffer(8))
  for (const n of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    setU64(view, 0, n)
    assert.is(getU64(view, 0), n)
  }
  view.setUint32(4, 0x200000, true)
  assert.is(getU64(view, 0), undefined)
  assert.throws(() => setU64(view, 0, 2 ** 53))
  assert.throws(() => setU64(view, 0, -1))
})

test.run()
