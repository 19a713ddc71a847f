import type { StoreWatcher as Watcher } from './watcher.js'

/**
 * A set of watchers indexed for the write path: single-key watchers by key (one map lookup
 * per event), range watchers in a list scanned per event (etcd uses an interval tree; ranges
 * are few in practice, and this keeps the cost visible).
 */
export class WatcherGroup {
  /** Invariant: every watcher here has `range.end === undefined`. */
  readonly #byKey = new Map<string, Set<Watcher>>()
  /** Invariant: every watcher here has a range end. */
  readonly #ranges = new Set<Watcher>()
  #size = 0

  get size(): number {
    return this.#size
  }

  add(w: Watcher): void {
    if (w.range.end !== undefined) {
      if (!this.#ranges.has(w)) this.#size++
      this.#ranges.add(w)
      return
    }
    let set = this.#byKey.get(w.range.key)
    if (set === undefined) this.#byKey.set(w.range.key, (set = new Set()))
    if (!set.has(w)) this.#size++
    set.add(w)
  }

  delete(w: Watcher): boolean {
    if (w.range.end !== undefined) {
      const had = this.#ranges.delete(w)
      if (had) this.#size--
      return had
    }
    const set = this.#byKey.get(w.range.key)
    if (set === undefined || !set.delete(w)) return false
    if (set.size === 0) this.#byKey.delete(w.range.key)
    this.#size--
    return true
  }

  has(w: Watcher): boolean {
    return w.range.end !== undefined ? this.#ranges.has(w) : this.#byKey.get(w.range.key)?.has(w) === true
  }

  /** Calls `fn` for each watcher whose range holds `key`. */
  forMatching(key: string, fn: (w: Watcher) => void): void {
    const set = this.#byKey.get(key)
    if (set !== undefined) for (const w of set) fn(w)
    for (const w of this.#ranges) if (w.matches(key)) fn(w)
  }

  /** Every watcher, in insertion order per index. */
  *all(): IterableIterator<Watcher> {
    for (const set of this.#byKey.values()) yield* set
    yield* this.#ranges
  }
}
