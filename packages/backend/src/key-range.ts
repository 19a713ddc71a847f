/** A key or a value as a caller passes it: a string is encoded as UTF-8. */
export type Bytes = string | Uint8Array

/**
 * A range of keys, the one shape every Strata package takes (CONTRIBUTING.md, keys and values):
 * `end` undefined is the single key `key`; `end` equal to one zero byte (`'\0'`) is every key
 * `>= key`; otherwise the half-open range `[key, end)` — etcd's `range_end`.
 */
export interface KeyRange {
  readonly key: Bytes
  readonly end?: Bytes | undefined
}
