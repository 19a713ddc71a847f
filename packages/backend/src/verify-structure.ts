import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import type { BucketName } from './backend.js'
import { BUCKETS } from './backend.js'
import { backendError } from './limits.js'
import { ENV_OPTIONS } from './lmdb-env.js'

// The structural check of an LMDB data file (README, "Integrity at rest"). LMDB keeps no
// checksums and, on a damaged branch or leaf page, may fail an assert and abort the whole
// process (IS_LEAF in mdb_cursor_next, SIGABRT). So the check reads the file in a child process
// first: every page of every bucket is reached through the same cursor walk a scan makes, and a
// page that makes LMDB assert kills only the child, which the host reports as ERR_BACKEND_CORRUPT.

/** What {@link checkStructure} found. */
export type StructureReport =
  | { readonly ok: true; readonly ms: number; readonly entries: Readonly<Partial<Record<BucketName, number>>> }
  | { readonly ok: false; readonly ms: number; readonly reason: string }

/** Default bound on one check; a file whose damage sends LMDB's cursor round in a loop is reported when it passes. */
export const DEFAULT_STRUCTURE_TIMEOUT_MS = 120_000

/** Bytes of the child's stderr kept for the report. */
const STDERR_KEEP = 4096

/**
 * The child, CommonJS evaluated in place (as the head-scan thread is): opens the file read-only
 * and walks every bucket, printing the entry counts as JSON. An LMDB error exits 2 with its
 * message on stderr.
 */
const SOURCE = `
'use strict'
const { open } = require(process.argv[1])
const path = process.argv[2]
const buckets = JSON.parse(process.argv[3])
const options = JSON.parse(process.argv[4])
try {
  const root = open({ path, ...options, readOnly: true })
  const entries = {}
  const decoder = { decode: (bytes, size) => bytes.subarray(0, size), needsStableBuffer: false }
  for (const bucket of buckets) {
    let db
    try {
      db = root.openDB(bucket, { encoding: 'binary', keyEncoding: 'binary', compression: false, cache: false, encoder: decoder })
    } catch (err) {
      if (/MDB_NOTFOUND|not found/i.test(String(err && err.message))) continue
      throw err
    }
    // Every value is copied out (through a view: lmdb-js copies it into its shared buffer), not
    // just counted: a damaged node size or overflow page number makes that copy read past the
    // map (SIGSEGV), which a bare cursor count (LMDB's MDB_NEXT, native) never does.
    db.readKey = (bytes, start, end) => bytes.subarray(start, end)
    let n = 0
    for (const { value } of db.getRange({})) {
      if (value.length < 0) break
      n++
    }
    entries[bucket] = n
  }
  process.stdout.write(JSON.stringify(entries))
} catch (err) {
  process.stderr.write(String(err && err.stack || err))
  process.exit(2)
}
`

const lmdbPath = createRequire(import.meta.url).resolve('lmdb')

/**
 * Reads every page of every bucket of the LMDB file at `path` in a child process and reports
 * whether LMDB could (it never maps the file in this process). Costs one full read of the file
 * plus a process start (README, "Integrity at rest", for figures).
 */
export async function checkStructure(path: string, options: { timeoutMs?: number } = {}): Promise<StructureReport> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STRUCTURE_TIMEOUT_MS
  const t0 = performance.now()
  const child = spawn(process.execPath, ['-e', SOURCE, lmdbPath, path, JSON.stringify(BUCKETS), JSON.stringify({ ...ENV_OPTIONS, maxDbs: ENV_OPTIONS.maxDbs })], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP)
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c, s) => resolve([c, s]))
  }).finally(() => clearTimeout(timer))
  const ms = performance.now() - t0
  if (timedOut) return { ok: false, ms, reason: `reading it did not finish in ${timeoutMs} ms (a damaged page may send LMDB's cursor round in a loop)` }
  if (code === 0) {
    try {
      return { ok: true, ms, entries: JSON.parse(stdout) as Record<BucketName, number> }
    } catch {
      return { ok: false, ms, reason: `the check printed no report (${stdout.slice(0, 200)})` }
    }
  }
  const lastLine = stderr.trim().split('\n').find((l) => l.length > 0) ?? ''
  if (signal !== null || (code !== null && code > 128)) {
    return { ok: false, ms, reason: `LMDB aborted while reading it (${signal ?? `exit ${code}`}${lastLine === '' ? '' : `: ${lastLine.slice(0, 300)}`}): a damaged page` }
  }
  return { ok: false, ms, reason: `LMDB failed to read it: ${lastLine.slice(0, 300)}` }
}

/** What to do about a damaged data file, for messages. */
export const DAMAGED_FILE_ADVICE =
  'restore the data directory from a snapshot or backup, or, for a member of a cluster, discard its data directory and let it catch up from the leader\'s snapshot'

/** {@link checkStructure}, failing with ERR_BACKEND_CORRUPT when the file is damaged. */
export async function assertStructure(path: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const report = await checkStructure(path, options)
  if (!report.ok) throw backendError('ERR_BACKEND_CORRUPT', `the data file ${path} is damaged: ${report.reason}; ${DAMAGED_FILE_ADVICE}`, { path, reason: report.reason })
}

/**
 * When `LmdbBackend.open` runs the structure check on an existing data file: `'always'` (or
 * `true`), `'unclean'` (unless the last close was clean and left the file as it is now: the
 * default), or never (`false`).
 */
export type VerifyStructureMode = 'always' | 'unclean' | boolean

/** Checks the `verifyStructure` option of `LmdbBackend.open`. */
export function checkVerifyStructureOption(value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean' && value !== 'always' && value !== 'unclean') {
    throw backendError('ERR_BACKEND_INVALID_OPTION', `verifyStructure must be 'always', 'unclean', true (= 'always') or false, got ${JSON.stringify(value) ?? typeof value}; leave it out for the default 'unclean'`, { verifyStructure: value })
  }
}
