import type { ReadTx } from '@strata/backend'
import xxhash from 'xxhash-wasm'
import { decodeRevision, encodeRevision, isTombstoneKey, revisionId } from './revision.js'

export type XxHash = Awaited<ReturnType<typeof xxhash>>

let shared: Promise<XxHash> | undefined

/** The xxhash-wasm instance, compiled once per process. */
export function loadHasher(): Promise<XxHash> {
  shared ??= xxhash()
  return shared
}

/** What {@link MvccStore.hashByRev} returns (etcd's HashKV response). */
export interface KvHash {
  /** xxhash64 of the key bucket up to `revision`, as 16 hex digits. */
  readonly hash: string
  /** The store's compact revision when the hash was taken. Compare hashes only when it is equal. */
  readonly compactRevision: number
  /** The revision hashed up to. */
  readonly revision: number
}

const BUCKET_NAME = new TextEncoder().encode('key')
const FROM_START = new Uint8Array(0)

/**
 * Hashes every entry of the key bucket with main revision <= `rev` except those compaction at
 * `compactRev` removes (or will remove: entries not in `keep`), and except a tombstone exactly
 * at `compactRev` (kept by this store, dropped by older etcd versions). Entries a running
 * compaction has not deleted yet are skipped the same way as deleted ones, so the hash is
 * stable while a compaction runs (etcd TestHashKVWhenCompacting).
 */
export function hashKeyBucket(h: XxHash, tx: ReadTx, compactRev: number, rev: number, keep: ReadonlySet<string>): KvHash {
  const state = h.create64(0n)
  state.update(BUCKET_NAME)
  tx.forEach('key', FROM_START, encodeRevision({ main: rev + 1, sub: 0 }), (k, v) => {
    const kr = decodeRevision(k)
    if (kr.main <= compactRev && !keep.has(revisionId(kr))) return
    if (kr.main === compactRev && isTombstoneKey(k)) return
    state.update(k)
    state.update(v)
  })
  return { hash: state.digest().toString(16).padStart(16, '0'), compactRevision: compactRev, revision: rev }
}
