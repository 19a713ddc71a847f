import assert from 'node:assert'

/**
 * Key-range permission semantics (etcd's range_perm_cache.go, reference §5.2).
 *
 * A permission or a request names keys as a KeyRange `(key, end)` (`@strata/backend`):
 * - `end` absent (or empty, as etcd's empty range_end): the single key `key`, which is the
 *   half-open interval `[key, key + "\0")`;
 * - `end` is `"\0"`: every key from `key` on, `[key, +∞)`;
 * - otherwise `[key, end)`, which a permission requires to be non-empty (`key < end`).
 *
 * A user's permissions of one kind are the union of its roles' intervals, kept here merged into
 * disjoint, sorted, maximal intervals. Then "the union covers [a, b)" is one binary search: the
 * single merged interval that holds `a` must also reach `b`, because two intervals that touch are
 * always merged into one.
 */

/** Bytewise (memcmp) order, the order of keys in the store. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b)
}

const ZERO = new Uint8Array([0])

/** True for the `"\0"` range end that means "to the end of the key space". */
export function isOpenEnd(end: Uint8Array): boolean {
  return end.length === 1 && end[0] === 0
}

/** The key right after `key` in byte order: `key + "\0"`. */
export function nextKey(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1)
  out.set(key)
  return out
}

/**
 * True when `(key, end)` is a valid permission range (etcd's isValidPermissionRange): the key
 * is non-empty, and the end is absent, empty, `"\0"`, or after the key.
 */
export function isValidPermissionRange(key: Uint8Array, end: Uint8Array | undefined): boolean {
  if (key.length === 0) return false
  if (end === undefined || end.length === 0 || isOpenEnd(end)) return true
  return compareKeys(key, end) < 0
}

/** A half-open interval of keys; `end` undefined means +∞. */
export interface KeyInterval {
  readonly start: Uint8Array
  readonly end: Uint8Array | undefined
}

/**
 * The interval a permission range denotes. The range must be valid
 * ({@link isValidPermissionRange}).
 */
export function permissionInterval(key: Uint8Array, end: Uint8Array | undefined): KeyInterval {
  if (end === undefined || end.length === 0) return { start: key, end: nextKey(key) }
  if (isOpenEnd(end)) return { start: key, end: undefined }
  return { start: key, end }
}

/**
 * The interval a request denotes. A request whose end is at or before its key (an empty range,
 * which reads or deletes nothing) is checked as the point `key`: it is allowed exactly when the
 * key alone would be, so an empty range never opens a way around a permission.
 */
export function requestInterval(key: Uint8Array, end: Uint8Array | undefined): KeyInterval {
  if (end === undefined || end.length === 0) return { start: key, end: nextKey(key) }
  if (isOpenEnd(end)) return { start: key, end: undefined }
  if (compareKeys(key, end) >= 0) return { start: key, end: nextKey(key) }
  return { start: key, end }
}

/** `a` compared with `b` where undefined is +∞. */
function compareEnds(a: Uint8Array | undefined, b: Uint8Array | undefined): number {
  if (a === undefined) return b === undefined ? 0 : 1
  if (b === undefined) return -1
  return compareKeys(a, b)
}

/**
 * An immutable union of key intervals, stored merged: sorted by start, pairwise disjoint and
 * non-adjacent. Built in O(n log n); a point or range query is O(log n).
 */
export class KeyIntervalSet {
  /** Invariant: strictly increasing; starts[i] < ends[i]; ends[i] < starts[i + 1] (gaps between). */
  readonly #starts: Uint8Array[]
  /** Invariant: same length as #starts; undefined (+∞) only in the last slot. */
  readonly #ends: (Uint8Array | undefined)[]

  constructor(intervals: Iterable<KeyInterval>) {
    const sorted = [...intervals].sort((a, b) => compareKeys(a.start, b.start))
    const starts: Uint8Array[] = []
    const ends: (Uint8Array | undefined)[] = []
    for (const iv of sorted) {
      assert.ok(iv.end === undefined || compareKeys(iv.start, iv.end) < 0, 'KeyIntervalSet: empty interval')
      const last = ends.length - 1
      // Touching intervals ([a, b) and [b, c)) merge too: that is what makes coverage one lookup.
      if (last >= 0 && (ends[last] === undefined || compareKeys(iv.start, ends[last]!) <= 0)) {
        if (compareEnds(iv.end, ends[last]) > 0) ends[last] = iv.end
      } else {
        starts.push(iv.start)
        ends.push(iv.end)
      }
    }
    this.#starts = starts
    this.#ends = ends
  }

  /** The number of merged intervals. */
  get size(): number {
    return this.#starts.length
  }

  /** The merged intervals, in order (for tests and diagnostics). */
  intervals(): KeyInterval[] {
    return this.#starts.map((start, i) => ({ start, end: this.#ends[i] }))
  }

  /** The index of the last interval whose start is <= key, or -1. */
  #floor(key: Uint8Array): number {
    let lo = 0
    let hi = this.#starts.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (compareKeys(this.#starts[mid]!, key) <= 0) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found
  }

  /** True when `key` lies in the union. */
  containsKey(key: Uint8Array): boolean {
    const i = this.#floor(key)
    if (i < 0) return false
    const end = this.#ends[i]
    return end === undefined || compareKeys(key, end) < 0
  }

  /** True when the whole of `interval` lies in the union. */
  covers(interval: KeyInterval): boolean {
    const i = this.#floor(interval.start)
    if (i < 0) return false
    const end = this.#ends[i]
    if (end !== undefined && compareKeys(interval.start, end) >= 0) return false
    return compareEnds(interval.end, end) <= 0
  }

  /** Asserts the invariants (tests call it after building). */
  checkValid(): void {
    assert.equal(this.#starts.length, this.#ends.length)
    for (let i = 0; i < this.#starts.length; i++) {
      const end = this.#ends[i]
      if (end === undefined) assert.equal(i, this.#starts.length - 1, 'only the last interval may be open')
      else assert.ok(compareKeys(this.#starts[i]!, end) < 0, 'interval not empty')
      const next = this.#starts[i + 1]
      if (next !== undefined) assert.ok(end !== undefined && compareKeys(end, next) < 0, 'gap between intervals')
    }
  }
}

export { ZERO as OPEN_END }

/** A user's merged permissions (etcd's unifiedRangePermissions). */
export interface UnifiedPermissions {
  readonly read: KeyIntervalSet
  readonly write: KeyIntervalSet
}

/** Merges the permissions of `roles`; READWRITE counts for both sets. */
export function unifyPermissions(
  roles: Iterable<{ readonly permissions: readonly { readonly type: 'read' | 'write' | 'readwrite'; readonly key: Uint8Array; readonly end?: Uint8Array | undefined }[] }>,
): UnifiedPermissions {
  const read: KeyInterval[] = []
  const write: KeyInterval[] = []
  for (const role of roles) {
    for (const p of role.permissions) {
      const iv = permissionInterval(p.key, p.end)
      if (p.type !== 'write') read.push(iv)
      if (p.type !== 'read') write.push(iv)
    }
  }
  return { read: new KeyIntervalSet(read), write: new KeyIntervalSet(write) }
}
