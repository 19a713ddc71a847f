// IdTable (the proposals in flight, by request id) against a Map under the same operations:
// keys that share a slot (the overflow), growth with the overflow placed again, a request that
// waits while the counter laps the ring, and takeAll with and without a choice.
import assert from 'node:assert/strict'
import { test } from 'uvu'
import { IdTable } from '../src/id-table.js'

/** A small deterministic generator (the test needs no seam: it is the table's own test). */
function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function same(t: IdTable<string>, m: Map<number, string>, probes: number[]): void {
  assert.equal(t.size, m.size)
  for (const k of probes) assert.equal(t.get(k), m.get(k), `key ${k}`)
}

test('random inserts and removals agree with a Map, with keys sharing slots and growth', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rnd = lcg(seed)
    const t = new IdTable<string>(16)
    const m = new Map<number, string>()
    // Counters from a narrow window near the end of a 16-slot table and from far apart ranges
    // that land on the same slots (counter % capacity), with four members' low bits.
    const keyOf = (): number => (Math.floor(rnd() * 64) + (rnd() < 0.5 ? 12 : 2 ** 40)) * 1024 + Math.floor(rnd() * 4) * 255
    const seen: number[] = []
    for (let op = 0; op < 20_000; op++) {
      const r = rnd()
      if (r < 0.55) {
        const k = keyOf()
        seen.push(k)
        t.set(k, `v${op}`)
        m.set(k, `v${op}`)
      } else if (seen.length > 0) {
        const k = seen[Math.floor(rnd() * seen.length)]!
        assert.equal(t.take(k), m.get(k))
        m.delete(k)
      }
      if (op % 500 === 0) same(t, m, seen)
    }
    same(t, m, seen)
    const rest = t.takeAll().sort((a, b) => a[0] - b[0])
    assert.deepEqual(rest, [...m].sort((a, b) => a[0] - b[0]))
    assert.equal(t.size, 0)
    for (const k of seen) assert.equal(t.get(k), undefined)
  }
})

test('a request that waits while later ones lap the ring is still found, and so are they', () => {
  const t = new IdTable<string>(16)
  const slow = 100 * 1024 + 3
  t.set(slow, 'slow')
  // 1,000 later requests, at most 8 in flight at once: the counter laps a 16-slot ring many times.
  for (let c = 101; c <= 1100; c++) {
    t.set(c * 1024 + 3, `r${c}`)
    if (c - 8 > 100) assert.equal(t.take((c - 8) * 1024 + 3), `r${c - 8}`)
    assert.equal(t.get(slow), 'slow')
  }
  assert.equal(t.size, 9)
  assert.equal(t.take(slow), 'slow')
  for (let c = 1093; c <= 1100; c++) assert.equal(t.take(c * 1024 + 3), `r${c}`)
  assert.equal(t.size, 0)
})

test('takeAll with a choice removes those only, and the rest stay reachable', () => {
  const t = new IdTable<number>(16)
  for (let c = 1; c <= 100; c++) t.set(c * 1024 + 7, c)
  const taken = t.takeAll((v) => v % 3 === 0).map(([, v]) => v).sort((a, b) => a - b)
  assert.deepEqual(taken, Array.from({ length: 33 }, (_, i) => 3 * (i + 1)))
  assert.equal(t.size, 67)
  for (let c = 1; c <= 100; c++) assert.equal(t.get(c * 1024 + 7), c % 3 === 0 ? undefined : c)
})

test('set replaces a value in place; take of a missing key is undefined', () => {
  const t = new IdTable<string>()
  t.set(5 * 1024, 'a')
  t.set(5 * 1024, 'b')
  assert.equal(t.size, 1)
  assert.equal(t.get(5 * 1024), 'b')
  assert.equal(t.take(6 * 1024), undefined)
  assert.equal(t.take(5 * 1024), 'b')
  assert.equal(t.size, 0)
  assert.equal(t.has(5 * 1024), false)
})

test('a key that is not a positive safe integer is refused', () => {
  const t = new IdTable<string>()
  for (const k of [0, -1024, 1.5, Number.NaN, 2 ** 53]) assert.throws(() => t.set(k, 'x'), RangeError)
  assert.equal(t.size, 0)
})

test.run()
