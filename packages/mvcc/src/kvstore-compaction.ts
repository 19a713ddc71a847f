import assert from 'node:assert'
import type { Backend } from '@strata/backend'
import type { Failpoint } from '@strata/seams'
import { type Totals, writeTotals } from './integrity.js'
import { storedChecksum } from './kv.js'
import { FINISHED_COMPACT_KEY } from './kvstore-rebuild.js'
import { decodeRevision, encodeRevision, revisionId } from './revision.js'

/** Revisions visited per physical compaction batch by default (etcd 3.4+'s CompactionBatchLimit). */
export const DEFAULT_COMPACTION_BATCH_LIMIT = 1000
/** Largest accepted `compactionBatchLimit`: one batch is one synchronous backend write. */
export const MAX_COMPACTION_BATCH_LIMIT = 100_000

/** One scheduled physical compaction. */
export interface CompactionJob {
  /** Delete revisions with main <= rev ... */
  readonly rev: number
  /** ... except these (by `revisionId`), which the index still needs. */
  readonly keep: ReadonlySet<string>
}

export interface PhysicalCompactionOptions {
  readonly batchLimit: number
  /** Awaited between batches so writes and reads interleave with a long compaction. */
  readonly yieldFn: () => Promise<void>
  /** Called after each committed batch: the highest main revision visited, and the job's revision (equal after the last batch). */
  readonly onProgress?: ((doneRevision: number, revision: number) => void) | undefined
  readonly failpoint: Failpoint
  /** True once the store asks running jobs to stop (restore, close); checked before each batch. */
  readonly stopped: () => boolean
  /**
   * The store's record totals: each batch subtracts what it deletes and writes them in its own
   * transaction (FORMAT.md, "Checksums and totals"); taken only once the batch's write returned.
   */
  readonly totals: Totals
}

const FROM_START = new Uint8Array(0)

/** The smallest byte string greater than `key`: `key` followed by a zero byte. */
function after(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1)
  out.set(key)
  return out
}

/**
 * Deletes, batch by batch, every entry of the key bucket up to `job.rev` that `job.keep` does
 * not hold. Each batch is one synchronous backend write followed by a commit; the last batch
 * writes `finishedCompactRev` in the same transaction as its deletions, so after a crash
 * either the mark is there and the deletions are complete, or the job runs again on open
 * (deleting an already deleted entry is a no-op). Returns false when stopped before the end.
 *
 * Lock order (#11817): this job never waits on anything the store's restore holds. It only
 * awaits the backend commit and `yieldFn`, and looks at `stopped()` before each batch without
 * waiting, so restore (which raises the stop signal and then waits for the job) always ends.
 */
export async function runPhysicalCompaction(backend: Backend, job: CompactionJob, o: PhysicalCompactionOptions): Promise<boolean> {
  assert(o.batchLimit >= 1)
  const end = encodeRevision({ main: job.rev + 1, sub: 0 })
  let start: Uint8Array = FROM_START
  for (;;) {
    if (o.stopped()) return false
    let last: Uint8Array | undefined
    let visited = 0
    const totals = o.totals.copy()
    backend.write((tx) => {
      const pairs = tx.range('key', start, end, { limit: o.batchLimit })
      visited = pairs.length
      for (const { key, value } of pairs) {
        if (job.keep.has(revisionId(decodeRevision(key)))) continue
        tx.delete('key', key)
        totals.remove(storedChecksum(value, 0))
      }
      last = pairs.length > 0 ? pairs[pairs.length - 1]!.key : undefined
      if (totals.count !== o.totals.count) writeTotals(tx, totals)
      if (visited < o.batchLimit) tx.put('meta', FINISHED_COMPACT_KEY, encodeRevision({ main: job.rev, sub: 0 }))
    })
    o.totals.set(totals)
    o.failpoint('compactBeforeCommitBatch')
    await backend.commit()
    o.failpoint('compactAfterCommitBatch')
    o.onProgress?.(visited < o.batchLimit ? job.rev : decodeRevision(last!).main, job.rev)
    if (visited < o.batchLimit) return true
    start = after(last!)
    await o.yieldFn()
  }
}
