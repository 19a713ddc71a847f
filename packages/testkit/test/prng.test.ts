import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, seedFromEnv, seedFromString, withSeed } from '../src/index.js'

function take(p: Prng, n: number): number[] {
  return Array.from({ length: n }, () => p.nextU32())
}

test('the same seed reproduces the same sequence, and a different seed does not', () => {
  const a = take(new Prng(42), 100)
  assert.equal(take(new Prng(42), 100), a)
  assert.not.equal(take(new Prng(43), 100), a)
  assert.ok(a.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff))
  assert.equal(take(new Prng('wal-crash'), 10), take(new Prng(seedFromString('wal-crash')), 10))
})

test('a seed out of the u32 range is refused', () => {
  assert.throws(() => new Prng(-1), /u32/)
  assert.throws(() => new Prng(2 ** 32), /u32/)
  assert.throws(() => new Prng(1.5), /u32/)
})

test('int(n) stays in [0, n) and hits every value; float stays in [0, 1)', () => {
  const p = new Prng(7)
  const counts = new Array<number>(10).fill(0)
  for (let i = 0; i < 10_000; i++) {
    const x = p.int(10)
    assert.ok(x >= 0 && x < 10)
    counts[x]! += 1
  }
  // Each bucket expects 1000; 800..1200 is more than 6 standard deviations wide.
  assert.ok(counts.every((c) => c > 800 && c < 1200), String(counts))
  for (let i = 0; i < 1000; i++) {
    const f = p.float()
    assert.ok(f >= 0 && f < 1)
  }
  assert.is(p.int(1), 0)
  assert.throws(() => p.int(0), /n must be/)
})

test('bool(p) follows p, pick chooses members and shuffle permutes', () => {
  const p = new Prng(9)
  assert.not.ok(p.bool(0))
  assert.ok(p.bool(1))
  let trues = 0
  for (let i = 0; i < 10_000; i++) if (p.bool(0.2)) trues++
  assert.ok(trues > 1700 && trues < 2300, String(trues))
  const items = ['a', 'b', 'c']
  for (let i = 0; i < 50; i++) assert.ok(items.includes(p.pick(items)))
  assert.throws(() => p.pick([]), /empty/)
  const arr = Array.from({ length: 50 }, (_, i) => i)
  const shuffled = p.shuffle([...arr])
  assert.not.equal(shuffled, arr)
  assert.equal([...shuffled].sort((x, y) => x - y), arr)
})

test('fork gives an independent stream that is itself reproducible', () => {
  const a = new Prng(5)
  const b = new Prng(5)
  const fa = a.fork()
  const fb = b.fork()
  assert.equal(take(fa, 20), take(fb, 20))
  assert.equal(take(a, 20), take(b, 20))
  assert.not.equal(take(new Prng(5).fork(), 20), take(new Prng(5), 20))
})

test('seedFromEnv reads SEED, hashes text seeds, and is random without it', () => {
  const saved = process.env['SEED']
  try {
    process.env['SEED'] = '1234'
    assert.is(seedFromEnv(), 1234)
    process.env['SEED'] = 'abc'
    assert.is(seedFromEnv(), seedFromString('abc'))
    delete process.env['SEED']
    const seeds = new Set(Array.from({ length: 5 }, () => seedFromEnv()))
    assert.ok(seeds.size > 1)
  } finally {
    if (saved === undefined) delete process.env['SEED']
    else process.env['SEED'] = saved
  }
})

/** Captures what `fn` writes to stderr. */
async function captureStderr(fn: () => Promise<void>): Promise<string> {
  const original = process.stderr.write.bind(process.stderr)
  let out = ''
  process.stderr.write = ((chunk: string | Uint8Array) => { out += String(chunk); return true }) as typeof process.stderr.write
  try {
    await fn()
  } finally {
    process.stderr.write = original
  }
  return out
}

test('withSeed prints the seed and rethrows when fn throws or rejects', async () => {
  const boom = new Error('boom')
  const syncOut = await captureStderr(async () => {
    assert.throws(() => withSeed('sync', () => { throw boom }, { seed: 77 }), /boom/)
  })
  assert.is(syncOut, 'sync: seed=77 (replay with SEED=77)\n')
  const asyncOut = await captureStderr(async () => {
    let caught: unknown
    await withSeed('async', async () => { throw boom }, { seed: 78 }).catch((err: unknown) => { caught = err })
    assert.is(caught, boom)
  })
  assert.is(asyncOut, 'async: seed=78 (replay with SEED=78)\n')
})

test('withSeed passes a Prng of the chosen seed and prints nothing on success', async () => {
  const out = await captureStderr(async () => {
    const seen = withSeed('ok', (p) => p.seed, { seed: 99 })
    assert.is(seen, 99)
    assert.equal(await withSeed('ok', async (p) => take(p, 3), { seed: 99 }), take(new Prng(99), 3))
  })
  assert.is(out, '')
})

test.run()
