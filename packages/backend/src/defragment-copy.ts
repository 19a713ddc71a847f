import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import type { Clock } from '@strata/seams'
import type { BucketName } from './backend.js'
import { BUCKETS } from './backend.js'
import { ENV_OPTIONS } from './lmdb-env.js'

// The copy a defragment swaps in (README, "Defragment"). LMDB's own compacting copy
// (mdb_env_copy2 with MDB_CP_COMPACT, lmdb-js's `backup(path, true)`) writes files that
// lmdb-js's LMDB (3.5.6) later aborts on: a write that needs free pages fails its assert
// `key.mv_size > 0` in mdb_page_alloc (SIGABRT) or a put fails with MDB_BAD_VALSIZE, in 4 of 4
// seeded workloads with big values (README, "What remains", had the reproduction). So the copy
// is written the ordinary way instead: a fresh environment filled by LMDB's own puts, every
// bucket's pairs in key order with MDB_APPEND (pages filled, as the compacting copy fills them),
// in transactions of at most STEP_PAIRS pairs or STEP_BYTES bytes. It runs in a child process:
// the host's event loop only reads progress lines, and a source page that makes LMDB abort kills
// the child, not the host.

/** Pairs per transaction of the copy. */
export const DEFRAG_STEP_PAIRS = 20_000
/** Key and value bytes per transaction of the copy (a step ends at whichever limit comes first). */
export const DEFRAG_STEP_BYTES = 16 << 20
/** A copy that reports no progress for this long is killed and the defragment fails. */
export const DEFRAG_STALL_TIMEOUT_MS = 120_000

/** Bytes of the child's stderr kept for the report. */
const STDERR_KEEP = 4096

/**
 * The child, CommonJS evaluated in place (as the structure check is). argv: lmdb's path, the
 * source file, the target file, the buckets, the environment options, the step limits. Prints
 * `total <n>`, then `done <n>` after every committed step, then `entries <json>`; exits 2 with
 * the error on stderr when LMDB fails (a put out of order included).
 */
const SOURCE = `
'use strict'
const { open } = require(process.argv[1])
const source = process.argv[2]
const target = process.argv[3]
const buckets = JSON.parse(process.argv[4])
const options = JSON.parse(process.argv[5])
const stepPairs = Number(process.argv[6])
const stepBytes = Number(process.argv[7])
const dbOptions = { encoding: 'binary', keyEncoding: 'binary', compression: false, cache: false }
// The source is read through views into lmdb-js's shared buffers (as the structure check and
// the head scan read), not Buffer copies: a 1M-pair copy took 2.6 s instead of 4.2. A value's
// view is valid until the next read, and the put that takes it copies it into LMDB first; the
// key is copied (lmdb-js encodes keys to write into a buffer of its own).
const viewDecoder = { decode: (bytes, size) => bytes.subarray(0, size), needsStableBuffer: false }
try {
  const src = open({ path: source, ...options, readOnly: true })
  // Not synced commit by commit: the host fsyncs the whole file before it renames it in.
  const dst = open({ path: target, ...options, noSync: true })
  const pairs = []
  let total = 0
  for (const bucket of buckets) {
    let db
    try {
      db = src.openDB(bucket, { ...dbOptions, encoder: viewDecoder })
    } catch (err) {
      if (/MDB_NOTFOUND|not found/i.test(String(err && err.message))) continue
      throw err
    }
    total += db.getStats().entryCount
    db.readKey = (bytes, start, end) => bytes.subarray(start, end)
    pairs.push([bucket, db])
  }
  process.stdout.write('total ' + total + '\\n')
  const entries = {}
  let done = 0
  for (const [bucket, db] of pairs) {
    const out = dst.openDB(bucket, dbOptions)
    const it = db.getRange({})[Symbol.iterator]()
    let n = 0
    let end = false
    while (!end) {
      dst.transactionSync(() => {
        let count = 0
        let bytes = 0
        while (count < stepPairs && bytes < stepBytes) {
          const r = it.next()
          if (r.done) { end = true; break }
          const { key, value } = r.value
          if (!out.putSync(Buffer.from(key), value, { append: true })) throw new Error('the put of a key of ' + bucket + ' was refused (keys out of order?)')
          count++
          bytes += key.length + value.length
        }
        n += count
        done += count
      })
      if (end) break
      process.stdout.write('done ' + done + '\\n')
    }
    entries[bucket] = n
  }
  dst.close()
  src.close()
  process.stdout.write('done ' + done + '\\nentries ' + JSON.stringify(entries) + '\\n')
} catch (err) {
  process.stderr.write(String(err && err.stack || err))
  process.exit(2)
}
`

const lmdbPath = createRequire(import.meta.url).resolve('lmdb')

/** What {@link copyForDefragment} found. */
export type DefragmentCopyReport =
  | { readonly ok: true; readonly entries: Readonly<Partial<Record<BucketName, number>>>; readonly total: number }
  | { readonly ok: false; readonly reason: string }

/**
 * Copies every bucket of the LMDB file `source` into a new LMDB file `target` in a child
 * process (see above), calling `onProgress(done, total)` in pairs as steps commit. The target
 * is not synced; the caller syncs it before using it.
 */
export async function copyForDefragment(source: string, target: string, options: { clock: Clock; onProgress?: (done: number, total: number) => void; stallTimeoutMs?: number }): Promise<DefragmentCopyReport> {
  const stallMs = options.stallTimeoutMs ?? DEFRAG_STALL_TIMEOUT_MS
  const child = spawn(process.execPath, ['-e', SOURCE, lmdbPath, source, target, JSON.stringify(BUCKETS), JSON.stringify(ENV_OPTIONS), String(DEFRAG_STEP_PAIRS), String(DEFRAG_STEP_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  let pending = ''
  let total = 0
  let entries: Record<BucketName, number> | undefined
  let stalled = false
  let timer = options.clock.setTimer(stallMs, () => stall())
  const stall = (): void => {
    stalled = true
    child.kill('SIGKILL')
  }
  const progress = (done: number): void => {
    timer.cancel()
    timer = options.clock.setTimer(stallMs, () => stall())
    try {
      options.onProgress?.(done, total)
    } catch {
      // a throwing progress callback does not stop the copy
    }
  }
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d
    let nl: number
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      if (line.startsWith('total ')) {
        total = Number(line.slice(6))
        progress(0)
      } else if (line.startsWith('done ')) progress(Number(line.slice(5)))
      else if (line.startsWith('entries ')) {
        try {
          entries = JSON.parse(line.slice(8)) as Record<BucketName, number>
        } catch {
          entries = undefined
        }
      }
    }
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP)
  })
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c, s) => resolve([c, s]))
  }).finally(() => timer.cancel())
  if (stalled) return { ok: false, reason: `the copy made no progress for ${stallMs} ms and was stopped` }
  const lastLine = stderr.trim().split('\n').find((l) => l.length > 0) ?? ''
  if (signal !== null || (code !== null && code > 128)) return { ok: false, reason: `LMDB aborted while copying (${signal ?? `exit ${code}`}${lastLine === '' ? '' : `: ${lastLine.slice(0, 300)}`}): the data file may be damaged; run verify on it` }
  if (code !== 0) return { ok: false, reason: `the copy failed: ${lastLine.slice(0, 300)}` }
  if (entries === undefined) return { ok: false, reason: 'the copy printed no report' }
  return { ok: true, entries, total }
}
