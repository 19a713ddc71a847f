import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { OrderedMap, compareBytes } from '../src/ordered-map.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('random sets and deletes keep the map sorted and equal to a model', () => {
  withSeed('ordered-map', (prng) => {
    const map = new OrderedMap<number>()
    const model = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) {
      const key = new Uint8Array(1 + prng.int(3)).map(() => prng.int(40))
      if (prng.int(3) === 0) assert.is(map.delete(key), model.delete(hex(key)))
      else {
        map.set(key, i)
        model.set(hex(key), i)
      }
    }
    map.checkValid()
    assert.is(map.size, model.size)
    const want = [...model.keys()].sort((a, b) => compareBytes(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')))
    assert.equal([...map.entries()].map(([k]) => hex(k)), want)
    for (let i = 0; i < 300; i++) {
      const [lo, hi] = [new Uint8Array([prng.int(40)]), new Uint8Array([prng.int(40), prng.int(40)])]
      const up: string[] = []
      map.walk(lo, hi, false, (k) => { up.push(hex(k)) })
      const down: string[] = []
      map.walk(lo, hi, true, (k) => { down.push(hex(k)) })
      for (const reverse of [false, true]) {
        const cursor = map.cursor(lo, hi, reverse)
        const seen: string[] = []
        for (let k = cursor.next(); k !== undefined; k = cursor.next()) seen.push(hex(k))
        assert.equal(seen, reverse ? [...down] : [...up], 'a cursor walks as walk() does')
      }
      const expect = want.filter((k) => compareBytes(Buffer.from(k, 'hex'), lo) >= 0 && compareBytes(Buffer.from(k, 'hex'), hi) < 0)
      assert.equal(up, expect)
      assert.equal(down, [...expect].reverse())
    }
  })
})

test('appending in order and deleting from the front stay cheap and valid', () => {
  const map = new OrderedMap<number>()
  const key = (i: number): Uint8Array => { const k = new Uint8Array(4); new DataView(k.buffer).setUint32(0, i); return k }
  for (let i = 0; i < 100_000; i++) map.set(key(i), i)
  for (let i = 0; i < 99_990; i++) assert.ok(map.delete(key(i)))
  map.checkValid()
  assert.equal([...map.entries()].map(([, v]) => v), [99_990, 99_991, 99_992, 99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999])
  const clone = map.clone()
  map.clear()
  assert.is(clone.size, 10)
  assert.is(map.get(key(99_999)), undefined)
  assert.is(clone.get(key(99_999)), 99_999)
})

test.run()
