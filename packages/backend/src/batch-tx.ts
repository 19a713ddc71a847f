import type { BucketName } from './backend.js'
import { OrderedMap } from './ordered-map.js'

/** Marks a key deleted in the pending batch (a tombstone over the committed value). */
export const TOMBSTONE = null
export type Pending = Uint8Array | typeof TOMBSTONE

/**
 * The pending batch (etcd's batchTxBuffered): the last write to each key since the previous
 * commit, per bucket, in key order, with deletes kept as tombstones so that reads merging it
 * over the committed state see them.
 */
export class PendingBatch {
  /** Invariant: holds a map only for buckets written since the batch began. */
  readonly #buckets = new Map<BucketName, OrderedMap<Pending>>()
  /** Invariant: counts every put and delete since the batch began (rewrites of a key included), as etcd's `pending` does. */
  #writes = 0

  /** Puts and deletes since the batch began; what `batchLimit` is compared with. */
  get writes(): number {
    return this.#writes
  }

  put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void {
    this.#map(bucket).set(key, value)
    this.#writes++
  }

  delete(bucket: BucketName, key: Uint8Array): void {
    this.#map(bucket).set(key, TOMBSTONE)
    this.#writes++
  }

  /** The pending value, TOMBSTONE for a pending delete, or undefined when the batch has not touched the key. */
  get(bucket: BucketName, key: Uint8Array): Pending | undefined {
    return this.#buckets.get(bucket)?.get(key)
  }

  /** The bucket's pending entries, or undefined when it has none. */
  bucket(bucket: BucketName): OrderedMap<Pending> | undefined {
    return this.#buckets.get(bucket)
  }

  /** Every bucket with pending entries. */
  entries(): IterableIterator<[BucketName, OrderedMap<Pending>]> {
    return this.#buckets.entries()
  }

  #map(bucket: BucketName): OrderedMap<Pending> {
    let map = this.#buckets.get(bucket)
    if (map === undefined) {
      map = new OrderedMap<Pending>()
      this.#buckets.set(bucket, map)
    }
    return map
  }
}
