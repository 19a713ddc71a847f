import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { crc32 } from 'node:zlib'
import { Prng } from '@strata/testkit'
import { JS_CRC_MAX_BYTES, chainStep, crc32Range } from '../src/crc.js'

test('crc32Range equals zlib.crc32 of the same bytes at every length up to past the JS limit and at every alignment', () => {
  const prng = new Prng('crc range')
  const buf = new Uint8Array(2 * JS_CRC_MAX_BYTES + 64)
  for (let i = 0; i < buf.length; i++) buf[i] = prng.int(256)
  for (let start = 0; start < 16; start++) {
    for (let len = 0; len <= JS_CRC_MAX_BYTES + 40; len++) {
      assert.is(crc32Range(buf, start, start + len), crc32(buf.subarray(start, start + len)), `start ${start} length ${len}`)
    }
  }
  assert.is(crc32Range(buf, 0, buf.length), crc32(buf))
  assert.is(crc32Range(new Uint8Array(32).fill(0xff), 0, 32), crc32(new Uint8Array(32).fill(0xff)))
})

test('chainStep equals zlib.crc32 of the word\'s four little-endian bytes continued from prev', () => {
  const prng = new Prng('chain step')
  for (let i = 0; i < 2000; i++) {
    const word = prng.nextU32()
    const prev = i % 7 === 0 ? 0 : prng.nextU32()
    const bytes = new Uint8Array(4)
    new DataView(bytes.buffer).setUint32(0, word, true)
    assert.is(chainStep(word, prev), crc32(bytes, prev))
  }
})

test.run()
