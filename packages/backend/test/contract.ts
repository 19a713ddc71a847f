// The behaviour every Backend implementation shares. memory-backend.test.ts and
// lmdb-backend.test.ts run it against their implementation through a Harness.

import type { FailpointName } from '@strata/seams'
import { Prng, rejectsWithCode, SimClock, throwsWithCode, withSeed } from '@strata/testkit'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BUCKETS, BackendError, MAX_KEY_BYTES, MAX_VALUE_BYTES, compareBytes } from '../src/index.js'
import type { Backend, BackendOptions, BucketName, WriteTx } from '../src/index.js'

/** How the contract opens, crashes and reopens one implementation. */
export interface Harness {
  open(options: BackendOptions): Promise<Backend>
  /** Kills `b` without committing: what it returns holds exactly the committed batches. */
  crash(b: Backend, options: BackendOptions): Promise<Backend>
  /** Closes `b` (committing) and opens the same state again. */
  reopen(b: Backend, options: BackendOptions): Promise<Backend>
  cleanup(): Promise<void>
}

const enc = new TextEncoder()
export const bytes = (s: string): Uint8Array => enc.encode(s)
export const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('latin1'))
const keysOf = (pairs: ReadonlyArray<{ key: Uint8Array }>): Array<string | undefined> => pairs.map((p) => text(p.key))

/** Every pair of every bucket, as `bucket/key=value` strings, for whole-state comparisons. */
export function dump(b: Backend): string[] {
  return b.read((tx) => BUCKETS.flatMap((bucket) => tx.range(bucket, new Uint8Array([0]), undefined).map((p) => `${bucket}/${text(p.key)}=${text(p.value)}`)))
}

/**
 * Waits until `b` has committed `n` batches and checks it did no more: an asynchronous
 * backend's commit (LMDB's, on lmdb-js's writer thread) lands after the call that started it.
 * Bounded: fails after ~5 s.
 */
export async function landed(b: Backend, n: number): Promise<void> {
  for (let i = 0; i < 5000 && b.stats().commits < n; i++) await new Promise((resolve) => setTimeout(resolve, 1))
  assert.is(b.stats().commits, n)
}

export function contractSuite(name: string, makeHarness: () => Promise<Harness>): void {
  const test = suite(`${name} contract`)
  let h: Harness
  let clock: SimClock
  const opts = (extra: BackendOptions = {}): BackendOptions => ({ clock, batchIntervalMs: 100, batchLimit: 1000, ...extra })
  test.before.each(async () => {
    h = await makeHarness()
    clock = new SimClock()
  })
  test.after.each(async () => {
    await h.cleanup()
  })

  test('writes are visible to reads before they commit', async () => {
    const b = await h.open(opts())
    b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
    assert.is(text(b.read((tx) => tx.get('key', bytes('a')))), '1')
    assert.is(b.read((tx) => tx.get('meta', bytes('a'))), undefined, 'buckets are separate')
    b.write((tx) => tx.delete('key', bytes('a')))
    assert.is(b.read((tx) => tx.get('key', bytes('a'))), undefined)
    assert.is(b.stats().pendingWrites, 2)
    assert.is(b.stats().commits, 0)
    await b.close()
  })

  test('keys are ordered bytewise and range honours start, end, limit and reverse', async () => {
    const b = await h.open(opts())
    const keys = [[0x00], [0x01], [0x01, 0x00], [0x7f], [0x80], [0xff], [0xff, 0xff]].map((k) => new Uint8Array(k))
    b.write((tx) => { for (const k of [...keys].reverse()) tx.put('key', k, k) })
    await b.commit()
    b.write((tx) => { tx.put('key', new Uint8Array([0x02]), bytes('p')); tx.delete('key', new Uint8Array([0x7f])) })
    const hex = (pairs: ReadonlyArray<{ key: Uint8Array }>): string[] => pairs.map((p) => Buffer.from(p.key).toString('hex'))
    b.read((tx) => {
      assert.equal(hex(tx.range('key', new Uint8Array([0]), undefined)), ['00', '01', '0100', '02', '80', 'ff', 'ffff'])
      assert.equal(hex(tx.range('key', new Uint8Array([1]), new Uint8Array([0x80]))), ['01', '0100', '02'])
      assert.equal(hex(tx.range('key', new Uint8Array([1]), undefined, { limit: 2 })), ['01', '0100'])
      assert.equal(hex(tx.range('key', new Uint8Array([1]), new Uint8Array([0xff]), { reverse: true })), ['80', '02', '0100', '01'])
      assert.equal(hex(tx.range('key', new Uint8Array([0]), undefined, { reverse: true, limit: 3 })), ['ffff', 'ff', '80'])
      assert.equal(tx.range('key', new Uint8Array([5]), new Uint8Array([5])), [], 'empty range')
      assert.equal(tx.range('key', new Uint8Array([9]), new Uint8Array([5])), [], 'end before start')
      const seen: string[] = []
      tx.forEach('key', new Uint8Array([1]), undefined, (k) => { seen.push(Buffer.from(k).toString('hex')); return seen.length < 3 })
      assert.equal(seen, ['01', '0100', '02'], 'forEach stops when fn returns false')
    })
    await b.close()
  })

  test('a batch commits when it reaches batchLimit', async () => {
    const b = await h.open(opts({ batchLimit: 10 }))
    for (let i = 0; i < 9; i++) b.write((tx) => tx.put('key', bytes(`k${i}`), bytes('v')))
    assert.is(b.stats().pendingWrites, 9)
    assert.is(b.stats().commits, 0)
    b.write((tx) => tx.put('key', bytes('k9'), bytes('v')))
    assert.is(b.stats().pendingWrites, 0, 'the full batch went to a commit at once')
    await landed(b, 1)
    const after = await h.crash(b, opts())
    assert.is(after.read((tx) => tx.range('key', bytes('k'), undefined)).length, 10)
    await after.close()
  })

  test('a batch commits batchIntervalMs ms after its first write, and not before', async () => {
    const b = await h.open(opts({ batchIntervalMs: 100 }))
    b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
    clock.advance(60)
    b.write((tx) => tx.put('key', bytes('b'), bytes('2')))
    clock.advance(39)
    assert.is(b.stats().pendingWrites, 2, 'no commit started before the interval')
    assert.is(b.stats().commits, 0)
    clock.advance(1)
    assert.is(b.stats().pendingWrites, 0, 'the commit started when the interval passed')
    await landed(b, 1)
    clock.advance(1000)
    await landed(b, 1) // no commit without writes
    const after = await h.crash(b, opts())
    assert.equal(keysOf(after.read((tx) => tx.range('key', bytes('a'), undefined))), ['a', 'b'])
    await after.close()
  })

  test('a crash keeps committed batches and drops the pending one', async () => {
    const b = await h.open(opts())
    b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
    await b.commit()
    b.write((tx) => { tx.put('key', bytes('b'), bytes('2')); tx.delete('key', bytes('a')) })
    const after = await h.crash(b, opts())
    assert.equal(dump(after), ['key/a=1'])
    await rejectsWithCode(b.commit(), 'ERR_BACKEND_CLOSED')
    await after.close()
  })

  test('the pre-commit hook runs inside each commit, so its writes land with the effects', async () => {
    const b = await h.open(opts({ batchLimit: 3 }))
    let applied = 0
    b.setPreCommitHook((tx: WriteTx) => tx.put('meta', bytes('consistent_index'), bytes(String(applied))))
    const apply = (i: number): void => b.write((tx) => { tx.put('key', bytes(`k${i}`), bytes('v')); applied = i })
    apply(1)
    apply(2)
    await b.commit()
    apply(3)
    apply(4)
    apply(5) // the third write of this batch (with its hook write) reaches the limit
    apply(6)
    const after = await h.crash(b, opts())
    const ci = Number(text(after.read((tx) => tx.get('meta', bytes('consistent_index')))))
    const keys = after.read((tx) => tx.range('key', bytes('k'), undefined)).length
    assert.is(ci, 5)
    assert.is(keys, ci, 'the applied index covers exactly the effects that survived')
    await after.close()
  })

  for (const point of ['backendBeforeCommit', 'backendAfterCommit'] as const) {
    test(`a failpoint throwing at ${point} leaves the batch committed ${point === 'backendBeforeCommit' ? 'not at all' : 'in full'} and refuses writes`, async () => {
      let armed = false
      const failpoint = (name: FailpointName): void => {
        if (armed && name === point) throw new Error(`injected at ${name}`)
      }
      const b = await h.open(opts({ failpoint }))
      b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
      await b.commit()
      b.write((tx) => { tx.put('key', bytes('b'), bytes('2')); tx.put('key', bytes('c'), bytes('3')) })
      armed = true
      try {
        await b.commit()
        assert.unreachable('the commit should fail')
      } catch (err) {
        assert.match((err as Error).message, 'injected')
      }
      throwsWithCode(() => b.write((tx) => tx.put('key', bytes('d'), bytes('4'))), 'ERR_BACKEND_COMMIT')
      await rejectsWithCode(b.commit(), 'ERR_BACKEND_COMMIT')
      const after = await h.crash(b, opts())
      assert.equal(dump(after), point === 'backendBeforeCommit' ? ['key/a=1'] : ['key/a=1', 'key/b=2', 'key/c=3'])
      await after.close()
    })
  }

  test('close() whose final commit fails still closes, and reopening finds the committed state', async () => {
    let armed = false
    const b = await h.open(opts({ failpoint: (name) => { if (armed && name === 'backendBeforeCommit') throw new Error('injected') } }))
    b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
    await b.commit()
    b.write((tx) => tx.put('key', bytes('b'), bytes('2')))
    armed = true
    try {
      await b.close()
      assert.unreachable('close should report the failed commit')
    } catch (err) {
      assert.match((err as Error).message, 'injected')
    }
    throwsWithCode(() => b.stats(), 'ERR_BACKEND_CLOSED')
    const again = await h.reopen(b, opts())
    assert.equal(dump(again), ['key/a=1'])
    await again.close()
  })

  test('snapshot and restore round-trip every bucket into another backend', async () => {
    const a = await h.open(opts())
    a.write((tx) => {
      BUCKETS.forEach((bucket, i) => tx.put(bucket, bytes(`k${i}`), bytes(`v${i}`)))
      tx.put('key', new Uint8Array([0xff, 0]), new Uint8Array(0))
      tx.put('key', bytes('big'), new Uint8Array(700_000).fill(7))
    })
    const chunks: Uint8Array[] = []
    for await (const c of a.snapshot()) chunks.push(c)
    assert.is(a.stats().pendingWrites, 0, 'the snapshot committed the pending batch first')
    const expected = dump(a)
    await a.close()
    const h2 = await makeHarness()
    try {
      const b = await h2.open(opts())
      b.write((tx) => tx.put('lease', bytes('stale'), bytes('x')))
      await b.commit()
      b.write((tx) => tx.put('lease', bytes('pending'), bytes('x')))
      await b.restore((async function* () { yield* chunks })())
      assert.equal(dump(b), expected)
      const after = await h2.crash(b, opts())
      assert.equal(dump(after), expected, 'restore is durable')
      await after.close()
    } finally {
      await h2.cleanup()
    }
  })

  test('reads between a snapshot\'s chunks do not change what the stream holds', async () => {
    const a = await h.open(opts())
    // ~900 KiB of distinct values: the stream comes in several chunks, and a value read between
    // two of them (LMDB hands short values in one reused buffer) differs from every other.
    for (let i = 0; i < 3000; i += 500) {
      a.write((tx) => {
        for (let j = i; j < i + 500; j++) tx.put('key', bytes(`k${String(j).padStart(5, '0')}`), new Uint8Array(300).fill(j % 251))
      })
      await a.commit()
    }
    const expected = dump(a)
    const chunks: Uint8Array[] = []
    for await (const c of a.snapshot()) {
      chunks.push(c)
      a.read((tx) => {
        tx.get('key', bytes('k02999'))
        tx.range('key', bytes('k01000'), bytes('k01010'))
        tx.forEachView?.('key', bytes('k02000'), bytes('k02010'), () => {})
      })
    }
    assert.ok(chunks.length > 2, 'the stream came in several chunks')
    const h2 = await makeHarness()
    try {
      const b = await h2.open(opts())
      await b.restore((async function* () { yield* chunks })())
      assert.equal(dump(b), expected)
      await b.close()
    } finally {
      await h2.cleanup()
      await a.close()
    }
  })

  test('restore refuses a corrupt or truncated snapshot and changes nothing', async () => {
    const b = await h.open(opts())
    b.write((tx) => { tx.put('key', bytes('a'), bytes('1')); tx.put('auth', bytes('x'), bytes('y')) })
    const whole = Buffer.concat(await collect(b.snapshot()))
    const before = dump(b)
    const flipped = Buffer.from(whole)
    flipped[20] = flipped[20]! ^ 0x01
    for (const bad of [flipped, whole.subarray(0, whole.length - 3), whole.subarray(0, 10), Buffer.concat([whole, Buffer.from([0])]), Buffer.from('not a snapshot at all')]) {
      await rejectsWithCode(b.restore((async function* () { yield bad })()), 'ERR_BACKEND_CORRUPT')
      assert.equal(dump(b), before)
    }
    b.write((tx) => tx.put('key', bytes('b'), bytes('2')))
    await b.close()
  })

  test('bad buckets, keys and values are refused with typed errors and nothing is written', async () => {
    const b = await h.open(opts())
    const big = new Uint8Array(MAX_VALUE_BYTES + 1)
    throwsWithCode(() => b.write((tx) => tx.put('key', new Uint8Array(0), bytes('v'))), 'ERR_BACKEND_INVALID_ARGUMENT')
    throwsWithCode(() => b.write((tx) => tx.put('nope' as BucketName, bytes('k'), bytes('v'))), 'ERR_BACKEND_INVALID_ARGUMENT')
    throwsWithCode(() => b.write((tx) => tx.put('key', new Uint8Array(MAX_KEY_BYTES + 1), bytes('v'))), 'ERR_BACKEND_KEY_TOO_LARGE')
    throwsWithCode(() => b.write((tx) => tx.put('key', bytes('k'), big)), 'ERR_BACKEND_VALUE_TOO_LARGE')
    throwsWithCode(() => b.write((tx) => tx.delete('key', new Uint8Array(MAX_KEY_BYTES + 1))), 'ERR_BACKEND_KEY_TOO_LARGE')
    throwsWithCode(() => b.write((tx) => tx.put('key', 'k' as unknown as Uint8Array, bytes('v'))), 'ERR_BACKEND_INVALID_ARGUMENT')
    assert.is(b.stats().pendingWrites, 0)
    const longest = new Uint8Array(MAX_KEY_BYTES).fill(0x61)
    b.write((tx) => tx.put('key', longest, bytes('edge')))
    await b.commit()
    assert.is(text(b.read((tx) => tx.get('key', longest))), 'edge', 'a key of exactly MAX_KEY_BYTES is fine')
    assert.equal(dump(b).length, 1)
    await b.close()
  })

  test('a write() whose callback throws leaves none of its writes; a nested one undoes only its own', async () => {
    const b = await h.open(opts())
    b.write((tx) => { tx.put('key', bytes('a'), bytes('1')); tx.put('key', bytes('b'), bytes('2')) })
    await b.commit()
    b.write((tx) => tx.put('key', bytes('c'), bytes('3')))
    throwsWithCode(() => b.write((tx) => {
      tx.put('key', bytes('a'), bytes('changed'))
      tx.delete('key', bytes('b'))
      tx.delete('key', bytes('c'))
      tx.put('key', bytes('d'), bytes('new'))
      tx.put('key', bytes('d'), bytes('newer'))
      tx.put('key', new Uint8Array(MAX_KEY_BYTES + 1), bytes('too long')) // throws half-way
    }), 'ERR_BACKEND_KEY_TOO_LARGE')
    assert.equal(dump(b), ['key/a=1', 'key/b=2', 'key/c=3'])
    assert.is(b.stats().pendingWrites, 1)
    b.write((tx) => {
      tx.put('key', bytes('e'), bytes('5'))
      try {
        b.write((inner) => { inner.put('key', bytes('f'), bytes('6')); throw new Error('inner') })
      } catch {
        // the inner write is undone, the outer goes on
      }
      tx.put('key', bytes('g'), bytes('7'))
    })
    assert.equal(dump(b), ['key/a=1', 'key/b=2', 'key/c=3', 'key/e=5', 'key/g=7'])
    const after = await h.reopen(b, opts())
    assert.equal(dump(after), ['key/a=1', 'key/b=2', 'key/c=3', 'key/e=5', 'key/g=7'])
    await after.close()
  })

  test('bad arguments to reads and calls are ERR_BACKEND_INVALID_ARGUMENT, never a TypeError', async () => {
    const b = await h.open(opts())
    const notBytes = 'k' as unknown as Uint8Array
    const bad = (fn: () => unknown): void => { throwsWithCode(fn, 'ERR_BACKEND_INVALID_ARGUMENT') }
    bad(() => b.read((tx) => tx.get('key', notBytes)))
    bad(() => b.read((tx) => tx.get('key', 42 as unknown as Uint8Array)))
    bad(() => b.read((tx) => tx.range('key', notBytes, undefined)))
    bad(() => b.read((tx) => tx.range('key', bytes('a'), [1] as unknown as Uint8Array)))
    bad(() => b.read((tx) => tx.range('key', bytes('a'), undefined, { limit: -1 })))
    bad(() => b.read((tx) => tx.range('key', bytes('a'), undefined, { limit: 1.5 })))
    bad(() => b.read((tx) => tx.range('key', bytes('a'), undefined, { reverse: 'yes' as unknown as boolean })))
    bad(() => b.read((tx) => tx.forEach('key', bytes('a'), undefined, undefined as unknown as () => void)))
    bad(() => b.read((tx) => tx.get('nope' as BucketName, bytes('a'))))
    bad(() => b.read(undefined as unknown as () => void))
    bad(() => b.write(undefined as unknown as () => void))
    bad(() => b.setPreCommitHook('hook' as unknown as () => void))
    await rejectsWithCode(b.restore(42 as unknown as AsyncIterable<Uint8Array>), 'ERR_BACKEND_INVALID_ARGUMENT')
    await rejectsWithCode(b.restore((async function* () { yield 'x' as unknown as Uint8Array })()), 'ERR_BACKEND_INVALID_ARGUMENT')
    b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
    assert.equal(dump(b), ['key/a=1'], 'still usable afterwards')
    await b.close()
  })

  test('bad options are ERR_BACKEND_INVALID_OPTION, saying which and what to pass', async () => {
    const invalid = ['batchIntervalMs', -1, 'batchIntervalMs', '100', 'batchIntervalMs', Infinity, 'batchIntervalMs', 86_400_001, 'batchLimit', 0, 'batchLimit', 1.5, 'batchLimit', '10',
      'clock', {}, 'failpoint', 'x', 'batchInterval', 100, 'fileSystem', {}, 'batchIntervalMS', 100] as const
    for (let i = 0; i < invalid.length; i += 2) {
      const option = invalid[i] as string
      await rejectsWithCode(h.open({ ...opts(), [option]: invalid[i + 1] } as BackendOptions), 'ERR_BACKEND_INVALID_OPTION')
    }
    try {
      await h.open({ ...opts(), batchInterval: 5 } as BackendOptions)
      assert.unreachable('the old name is refused')
    } catch (err) {
      assert.instance(err, BackendError)
      assert.match((err as Error).message, /renamed batchIntervalMs/)
    }
    const b = await h.open(opts({ batchIntervalMs: 0, batchLimit: 1, failpoint: undefined }))
    await b.close()
  })

  test('close() is idempotent: a second call resolves, also while the first runs', async () => {
    const b = await h.open(opts())
    b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
    const first = b.close()
    const second = b.close()
    await Promise.all([first, second])
    await b.close()
    throwsWithCode(() => b.read((tx) => tx.get('key', bytes('a'))), 'ERR_BACKEND_CLOSED')
  })

  test('writes are refused inside a walk and outside their write() callback', async () => {
    const b = await h.open(opts())
    b.write((tx) => { tx.put('key', bytes('a'), bytes('1')); tx.put('key', bytes('b'), bytes('2')) })
    throwsWithCode(() => b.write((tx) => tx.forEach('key', bytes('a'), undefined, (k) => tx.delete('key', k))), 'ERR_BACKEND_INVALID_ARGUMENT')
    let leaked: WriteTx | undefined
    b.write((tx) => { leaked = tx })
    throwsWithCode(() => leaked!.put('key', bytes('c'), bytes('3')), 'ERR_BACKEND_INVALID_ARGUMENT')
    assert.equal(dump(b), ['key/a=1', 'key/b=2'])
    await b.close()
  })

  test('a closed backend refuses every call with ERR_BACKEND_CLOSED; reopening keeps the data', async () => {
    const b = await h.open(opts())
    b.write((tx) => tx.put('members', bytes('m1'), bytes('x')))
    await b.close()
    await b.close()
    throwsWithCode(() => b.read((tx) => tx.get('members', bytes('m1'))), 'ERR_BACKEND_CLOSED')
    throwsWithCode(() => b.write((tx) => tx.put('members', bytes('m1'), bytes('y'))), 'ERR_BACKEND_CLOSED')
    throwsWithCode(() => b.stats(), 'ERR_BACKEND_CLOSED')
    await rejectsWithCode(b.commit(), 'ERR_BACKEND_CLOSED')
    const again = await h.reopen(b, opts())
    assert.equal(dump(again), ['members/m1=x'])
    await again.close()
  })

  test('defragment keeps every pair and the stats stay consistent', async () => {
    const b = await h.open(opts({ batchLimit: 500 }))
    for (let i = 0; i < 2000; i++) b.write((tx) => tx.put('key', bytes(`k${String(i).padStart(5, '0')}`), new Uint8Array(200).fill(i & 0xff)))
    for (let i = 0; i < 2000; i += 2) b.write((tx) => tx.delete('key', bytes(`k${String(i).padStart(5, '0')}`)))
    const before = dump(b)
    await b.defragment()
    assert.equal(dump(b), before)
    const s = b.stats()
    assert.ok(s.sizeInUseBytes > 1000 * 200 && s.sizeInUseBytes <= s.sizeBytes, JSON.stringify(s))
    b.write((tx) => tx.put('key', bytes('after'), bytes('1')))
    const again = await h.reopen(b, opts())
    assert.is(dump(again).length, 1001)
    await again.close()
  })

  test('randomized writes, reads, commits and crashes match a model of the committed state', async () => {
    await withSeed(`${name} model`, async (prng: Prng) => {
      let b = await h.open(opts({ batchLimit: 37 }))
      let live = new Map<string, string>()
      let durable = new Map<string, string>()
      const key = (): string => String.fromCharCode(prng.int(4), 97 + prng.int(3), ...(prng.bool() ? [prng.int(256)] : []))
      for (let step = 0; step < 1500; step++) {
        const r = prng.int(100)
        if (r < 50) {
          const k = key()
          const v = String(step)
          b.write((tx) => tx.put('key', Buffer.from(k, 'latin1'), bytes(v)))
          live.set(k, v)
        } else if (r < 70) {
          const k = key()
          b.write((tx) => tx.delete('key', Buffer.from(k, 'latin1')))
          live.delete(k)
        } else if (r < 85) {
          const [lo, hi] = [key(), key()].sort()
          const reverse = prng.bool()
          const got = keysOf(b.read((tx) => tx.range('key', Buffer.from(lo!, 'latin1'), Buffer.from(hi!, 'latin1'), { reverse })))
          const want = [...live.keys()].filter((k) => k >= lo! && k < hi!).sort((x, y) => compareBytes(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1')))
          assert.equal(got, reverse ? want.reverse() : want)
        } else if (r < 93) {
          await b.commit()
        } else if (r < 96) {
          clock.advance(100)
        } else {
          b = await h.crash(b, opts({ batchLimit: 37 }))
          live = new Map(durable)
        }
        if (b.stats().pendingWrites === 0) durable = new Map(live)
      }
      const got = b.read((tx) => tx.range('key', new Uint8Array([0]), undefined)).map((p) => `${text(p.key)}=${text(p.value)}`)
      const want = [...live].sort(([x], [y]) => compareBytes(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1'))).map(([k, v]) => `${k}=${v}`)
      assert.equal(got, want)
      await b.close()
    })
  })

  test.run()
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of stream) out.push(c)
  return out
}

