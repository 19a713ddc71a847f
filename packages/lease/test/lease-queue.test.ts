import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { LeaseQueue } from '../src/index.js'
import type { QueueItem } from '../src/index.js'

test('items come out earliest first, ties by smaller id', () => {
  const q = new LeaseQueue()
  q.push(5, 300)
  q.push(2, 100)
  q.push(9, 100)
  q.push(1, 200)
  const out: number[] = []
  for (let it = q.peek(); it !== undefined; it = q.peek()) {
    out.push(it.id)
    q.remove(it)
  }
  assert.equal(out, [2, 9, 1, 5])
  assert.is(q.size, 0)
})

test('update moves an item both earlier and later', () => {
  const q = new LeaseQueue()
  const a = q.push(1, 100)
  const b = q.push(2, 200)
  q.update(b, 50)
  assert.is(q.peek(), b)
  q.update(b, 500)
  assert.is(q.peek(), a)
  q.checkValid()
})

test('removing an item marks it gone and keeps the heap valid', () => {
  const q = new LeaseQueue()
  const items = [5, 3, 8, 1, 9, 2].map((t, i) => q.push(i + 1, t))
  q.remove(items[2]!)
  assert.is(items[2]!.index, -1)
  q.checkValid()
  assert.is(q.size, 5)
})

test('rebuild heapifies any array in place and clear empties the queue', () => {
  const q = new LeaseQueue()
  const items: QueueItem[] = [9, 4, 7, 1, 3].map((t, i) => ({ id: i + 1, time: t, index: 0 }))
  q.rebuild(items)
  q.checkValid()
  assert.is(q.peek()!.time, 1)
  q.clear()
  assert.is(q.size, 0)
  assert.ok(items.every((it) => it.index === -1))
})

test('random pushes, updates and removes agree with a sorted-array model', () => {
  withSeed('lease-queue model', (prng) => {
    const q = new LeaseQueue()
    const live = new Map<number, QueueItem>()
    let nextId = 1
    for (let step = 0; step < 5000; step++) {
      const op = prng.int(4)
      if (op === 0 || live.size === 0) {
        const id = nextId++
        live.set(id, q.push(id, prng.int(1000)))
      } else {
        const ids = [...live.keys()]
        const item = live.get(prng.pick(ids))!
        if (op === 1) q.update(item, prng.int(1000))
        else if (op === 2) { q.remove(item); live.delete(item.id) } else {
          const top = q.peek()!
          const model = [...live.values()].sort((a, b) => a.time - b.time || a.id - b.id)[0]!
          assert.is(top, model)
        }
      }
      if (step % 500 === 0) q.checkValid()
    }
    q.checkValid()
    assert.is(q.size, live.size)
  })
})

test.run()
