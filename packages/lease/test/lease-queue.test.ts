import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { LeaseQueue } from '../src/internal.js'
import type { QueueEntry } from '../src/internal.js'

const entry = (id: number): QueueEntry => ({ id, expiryPos: -1, checkpointPos: -1 })

function drain(q: LeaseQueue<QueueEntry>): number[] {
  const out: number[] = []
  for (let e = q.peek(); e !== undefined; e = q.peek()) {
    out.push(e.id)
    q.remove(e)
  }
  return out
}

test('entries come out earliest first, ties by smaller id', async () => {
  const q = new LeaseQueue<QueueEntry>('expiry')
  q.push(entry(5), 300)
  q.push(entry(2), 100)
  q.push(entry(9), 100)
  q.push(entry(1), 200)
  assert.is(q.peekTime(), 100)
  assert.equal(drain(q), [2, 9, 1, 5])
  assert.is(q.size, 0)
  assert.is(q.peekTime(), Infinity)
})

test('update moves an entry both earlier and later', async () => {
  const q = new LeaseQueue<QueueEntry>('expiry')
  const a = entry(1)
  const b = entry(2)
  q.push(a, 100)
  q.push(b, 200)
  q.update(b, 50)
  assert.is(q.peek(), b)
  q.update(b, 500)
  assert.is(q.peek(), a)
  assert.is(q.timeOf(b), 500)
  q.checkValid()
})

test('one entry can sit in an expiry queue and a checkpoint queue at once', async () => {
  const expiry = new LeaseQueue<QueueEntry>('expiry')
  const checkpoint = new LeaseQueue<QueueEntry>('checkpoint')
  const es = [1, 2, 3].map(entry)
  es.forEach((e, i) => { expiry.push(e, 10 * i); checkpoint.push(e, 100 - 10 * i) })
  assert.is(expiry.peek()!.id, 1)
  assert.is(checkpoint.peek()!.id, 3)
  expiry.remove(es[0]!)
  assert.is(es[0]!.expiryPos, -1)
  assert.ok(checkpoint.has(es[0]!))
  expiry.checkValid()
  checkpoint.checkValid()
})

test('pushing a queued entry or touching an unqueued one is a broken invariant', async () => {
  const q = new LeaseQueue<QueueEntry>('expiry')
  const a = entry(1)
  q.push(a, 1)
  assert.throws(() => q.push(a, 2))
  assert.throws(() => q.update(entry(2), 3))
  assert.throws(() => q.remove(entry(3)))
})

test('rebuild heapifies taken-over arrays in place and clear empties the queue', async () => {
  const q = new LeaseQueue<QueueEntry>('checkpoint')
  const es = [1, 2, 3, 4, 5].map(entry)
  q.rebuild(es.slice(), new Float64Array([9, 4, 7, 1, 3]))
  q.checkValid()
  assert.is(q.peek()!.id, 4)
  q.push(entry(6), 0)
  assert.is(q.peek()!.id, 6)
  q.clear()
  assert.is(q.size, 0)
  assert.ok(es.every((e) => e.checkpointPos === -1))
})

test('random pushes, updates and removes agree with a sorted-array model (growing and shrinking)', async () => {
  await withSeed('lease-queue model', async (prng) => {
    const q = new LeaseQueue<QueueEntry>('expiry')
    const live = new Map<number, { e: QueueEntry; time: number }>()
    let nextId = 1
    for (let step = 0; step < 6000; step++) {
      const op = step < 3000 ? prng.int(4) : 1 + prng.int(3) // grow, then mostly shrink
      if (op === 0 || live.size === 0) {
        const e = entry(nextId++)
        const time = prng.int(1000)
        q.push(e, time)
        live.set(e.id, { e, time })
      } else {
        const m = live.get(prng.pick([...live.keys()]))!
        if (op === 1) { m.time = prng.int(1000); q.update(m.e, m.time) } else if (op === 2) { q.remove(m.e); live.delete(m.e.id) } else {
          const model = [...live.values()].sort((a, b) => a.time - b.time || a.e.id - b.e.id)[0]!
          assert.is(q.peek(), model.e)
          assert.is(q.peekTime(), model.time)
        }
      }
      if (step % 500 === 0) q.checkValid()
    }
    q.checkValid()
    assert.is(q.size, live.size)
    assert.equal(drain(q), [...live.values()].sort((a, b) => a.time - b.time || a.e.id - b.e.id).map((m) => m.e.id))
  })
})

test.run()
