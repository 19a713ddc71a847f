import assert from 'node:assert'

/**
 * One entry of a {@link LeaseQueue}: the lease's id, the time it is due and its slot in the
 * heap. A lease has at most one item per queue, so "register or update" fixes the heap in place
 * instead of pushing duplicates (etcd's LeaseExpiredNotifier keeps an id map for the same reason).
 */
export interface QueueItem {
  readonly id: number
  /** Clock milliseconds at which the item is due. Invariant: finite. */
  time: number
  /** Position in the heap array; -1 once removed. Invariant: heap[index] === this while queued. */
  index: number
}

/**
 * An indexed binary min-heap of lease ids ordered by due time (ties: smaller id first, so the
 * order is deterministic). It backs both the expiry queue and the checkpoint queue of the
 * primary lessor. Each item carries its own position, so update and remove are O(log n) and the
 * queue needs no id map: the lease record points at its item.
 */
export class LeaseQueue {
  /** Invariant: a min-heap by (time, id); heap[i].index === i for every i. */
  #heap: QueueItem[] = []

  get size(): number {
    return this.#heap.length
  }

  /** The earliest item, without removing it. */
  peek(): QueueItem | undefined {
    return this.#heap[0]
  }

  /** Inserts a new item due at `time` for lease `id` and returns it. */
  push(id: number, time: number): QueueItem {
    assert(Number.isFinite(time), 'LeaseQueue.push: time must be finite')
    const item: QueueItem = { id, time, index: this.#heap.length }
    this.#heap.push(item)
    this.#up(item.index)
    return item
  }

  /** Moves `item` to a new due time. */
  update(item: QueueItem, time: number): void {
    assert(this.#heap[item.index] === item, 'LeaseQueue.update: item is not in this queue')
    assert(Number.isFinite(time), 'LeaseQueue.update: time must be finite')
    const earlier = time < item.time
    item.time = time
    if (earlier) this.#up(item.index)
    else this.#down(item.index)
  }

  /** Removes `item` (which must be in this queue). */
  remove(item: QueueItem): void {
    const heap = this.#heap
    const i = item.index
    assert(heap[i] === item, 'LeaseQueue.remove: item is not in this queue')
    const last = heap.pop()!
    item.index = -1
    if (last === item) return
    heap[i] = last
    last.index = i
    this.#up(i)
    this.#down(last.index)
  }

  /**
   * Replaces the whole content with `items` in O(n) (Floyd's heap construction): how promote
   * rebuilds the queue for a million leases without a million sift-ups.
   */
  rebuild(items: QueueItem[]): void {
    this.#heap = items
    for (let i = 0; i < items.length; i++) items[i]!.index = i
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  /** Drops every item (demote). The array is replaced so its memory is released. */
  clear(): void {
    for (const item of this.#heap) item.index = -1
    this.#heap = []
  }

  /** Checks the heap property and the positions; for tests. */
  checkValid(): void {
    const heap = this.#heap
    for (let i = 0; i < heap.length; i++) {
      const item = heap[i]!
      assert.equal(item.index, i, `item ${item.id} records index ${item.index} but sits at ${i}`)
      if (i > 0) assert(!less(item, heap[(i - 1) >> 1]!), `item ${item.id} is earlier than its parent`)
    }
  }

  #up(i: number): void {
    const heap = this.#heap
    const item = heap[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = heap[p]!
      if (!less(item, parent)) break
      heap[i] = parent
      parent.index = i
      i = p
    }
    heap[i] = item
    item.index = i
  }

  #down(i: number): void {
    const heap = this.#heap
    const n = heap.length
    const item = heap[i]!
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      const right = heap[c + 1]
      if (right !== undefined && less(right, heap[c]!)) c++
      const child = heap[c]!
      if (!less(child, item)) break
      heap[i] = child
      child.index = i
      i = c
    }
    heap[i] = item
    item.index = i
  }
}

function less(a: QueueItem, b: QueueItem): boolean {
  return a.time < b.time || (a.time === b.time && a.id < b.id)
}
