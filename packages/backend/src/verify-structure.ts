import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { type Clock, systemClock } from '@strata/seams'
import type { BucketName } from './backend.js'
import { BUCKETS } from './backend.js'
import { DAMAGED_FILE_ADVICE } from './errors.js'
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
 * The child, CommonJS evaluated in place (as the head-scan thread is): checks LMDB's free-page
 * list by reading its pages (exit 3 with what is wrong on stderr), then opens the file read-only
 * and walks every bucket, printing the entry counts as JSON. An LMDB error exits 2 with its
 * message on stderr. It reads the file with node:fs, outside the FileSystem seam, as LMDB does.
 */
const SOURCE = `
'use strict'
const { open } = require(process.argv[1])
const path = process.argv[2]
const buckets = JSON.parse(process.argv[3])
const options = JSON.parse(process.argv[4])
// LMDB's free-page tree (FREE_DBI), read page by page from the file: LMDB reads it only when a
// write needs pages, so the cursor walk below never reaches it, and a damaged one makes the
// first such write abort the process. Checks each page's number, kind and bounds, each node's
// place, each list's length and entries, and the page and entry counts the meta page records.
// lmdb-js's LMDB keeps its lists unsorted, a negative entry giving the length of a run, 0 for an
// unused slot, and may reserve a record longer than its list (a count below the record's room).
function checkFreeList(path) {
  const fs = require('node:fs')
  const fd = fs.openSync(path, 'r')
  try {
    const HDR = 24
    const read = (at, n) => {
      const b = Buffer.alloc(n)
      const got = fs.readSync(fd, b, 0, n, at)
      if (got !== n) throw new Error('short read at ' + (at))
      return b
    }
    const u64 = (b, at) => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32
    const metas = [0, 1].map((p) => read(p * 4096 + HDR, 144))
    const psize = metas[0].readUInt32LE(24)
    if (psize !== 4096) metas[1] = read(psize + HDR, 144)
    const meta = u64(metas[0], 128) >= u64(metas[1], 128) ? metas[0] : metas[1]
    const lastPg = u64(meta, 120)
    const root = u64(meta, 64)
    const depth = meta.readUInt16LE(30)
    const want = { branch: u64(meta, 32), leaf: u64(meta, 40), overflow: u64(meta, 48), entries: u64(meta, 56) }
    if (root >= 2 ** 63) return want.entries === 0 && depth === 0 ? undefined : 'no root but ' + (want.entries) + ' entries'
    const seen = { branch: 0, leaf: 0, overflow: 0, entries: 0 }
    const visited = new Set()
    const listed = []
    const stack = [[root, 1]]
    while (stack.length > 0) {
      const [pg, level] = stack.pop()
      const where = 'free-list page ' + (pg)
      if (pg < 2 || pg > lastPg) return 'a free-list page number ' + (pg) + ' outside 2..' + (lastPg)
      if (visited.has(pg)) return (where) + ' reached twice'
      visited.add(pg)
      if (level > depth) return (where) + ' deeper than the tree\\'s depth ' + (depth)
      const page = read(pg * psize, psize)
      if (u64(page, 0) !== pg) return (where) + ' holds page number ' + (u64(page, 0))
      const flags = page.readUInt16LE(18)
      const lower = page.readUInt16LE(20)
      const upper = page.readUInt16LE(22)
      const branch = flags === 0x01
      if (!branch && flags !== 0x02) return (where) + ' has flags ' + (flags)
      if (lower % 2 !== 0 || lower > upper || HDR + upper > psize) return (where) + ' has bounds ' + (lower) + '..' + (upper)
      if (branch) seen.branch++
      else seen.leaf++
      if ((level === depth) === branch) return (where) + ' is a ' + (branch ? 'branch' : 'leaf') + ' at level ' + (level) + ' of ' + (depth)
      for (let i = 0; i < lower / 2; i++) {
        const at = HDR + page.readUInt16LE(HDR + 2 * i)
        if (at < HDR + upper || at + 8 > psize) return (where) + ': node ' + (i) + ' at ' + (at) + ' outside its nodes'
        const lo = page.readUInt16LE(at)
        const hi = page.readUInt16LE(at + 2)
        const nflags = page.readUInt16LE(at + 4)
        const ksize = page.readUInt16LE(at + 6)
        if (at + 8 + ksize > psize) return (where) + ': node ' + (i) + '\\'s key runs past the page'
        if (branch) {
          stack.push([lo + hi * 0x10000 + nflags * 2 ** 32, level + 1])
          continue
        }
        if (ksize !== 8) return (where) + ': a key of ' + (ksize) + ' bytes, not a transaction id'
        const dsize = lo + hi * 0x10000
        let data
        if (nflags === 0x01) {
          if (at + 16 + ksize > psize) return (where) + ': node ' + (i) + '\\'s overflow page number runs past the page'
          const opg = u64(page, at + 8 + ksize)
          if (opg < 2 || opg > lastPg) return (where) + ': overflow page number ' + (opg) + ' outside 2..' + (lastPg)
          const head = read(opg * psize, HDR)
          const pages = head.readUInt32LE(20)
          if (u64(head, 0) !== opg || head.readUInt16LE(18) !== 0x04 || pages < 1 || opg + pages - 1 > lastPg || HDR + dsize > pages * psize) return 'free-list overflow page ' + (opg) + ' does not hold ' + (dsize) + ' bytes'
          for (let p = opg; p < opg + pages; p++) {
            if (visited.has(p)) return 'free-list overflow page ' + (p) + ' reached twice'
            visited.add(p)
          }
          seen.overflow += pages
          data = read(opg * psize + HDR, dsize)
        } else if (nflags === 0) {
          if (at + 8 + ksize + dsize > psize) return (where) + ': node ' + (i) + '\\'s data runs past the page'
          data = page.subarray(at + 8 + ksize, at + 8 + ksize + dsize)
        } else return (where) + ': node ' + (i) + ' has flags ' + (nflags)
        seen.entries++
        const count = dsize >= 8 ? u64(data, 0) : -1
        if (dsize % 8 !== 0 || count < 0 || count > dsize / 8 - 1) return (where) + ': a list of ' + (dsize) + ' bytes holding count ' + (count)
        // lmdb-js's LMDB lists page numbers unsorted, a negative entry the length of a run.
        for (let j = 1; j <= count; j++) {
          const id = Number(data.readBigInt64LE(8 * j))
          if (id > 0 ? id < 2 || id > lastPg : -id > lastPg) return (where) + ': free-list entry ' + (id) + ' outside 2..' + (lastPg)
          if (id > 0) listed.push(id)
        }
      }
    }
    for (const k of ['branch', 'leaf', 'overflow', 'entries']) if (seen[k] !== want[k]) return 'the free list has ' + (seen[k]) + ' ' + (k) + ' ' + (k === 'entries' ? '' : 'pages ') + 'where its record says ' + (want[k])
    // A listed page number changed into another page of the file would have LMDB reuse a page
    // still in use: every branch and leaf page of every tree (found through the main tree's
    // leaves and the trees' branch pages; overflow pages are not followed) must be unlisted.
    const used = new Set(visited)
    const trees = [[u64(meta, 72 + 40), meta.readUInt16LE(72 + 6), true]]
    while (trees.length > 0) {
      const [treeRoot, treeDepth, isMain] = trees.pop()
      if (treeRoot >= 2 ** 63) continue
      const pages = [[treeRoot, 1]]
      while (pages.length > 0) {
        const [pg, level] = pages.pop()
        if (pg < 2 || pg > lastPg) return 'a tree page number ' + (pg) + ' outside 2..' + (lastPg)
        used.add(pg)
        if (level === treeDepth && !isMain) continue
        const page = read(pg * psize, psize)
        const lower = page.readUInt16LE(20)
        const flags = page.readUInt16LE(18)
        if (lower % 2 !== 0 || HDR + lower > psize || (flags !== 0x01 && flags !== 0x02)) return 'tree page ' + (pg) + ' is damaged'
        for (let i = 0; i < lower / 2; i++) {
          const at = HDR + page.readUInt16LE(HDR + 2 * i)
          if (at + 8 > psize) return 'tree page ' + (pg) + ': node ' + (i) + ' outside the page'
          const lo = page.readUInt16LE(at)
          const hi = page.readUInt16LE(at + 2)
          const nflags = page.readUInt16LE(at + 4)
          if (flags === 0x01) {
            pages.push([lo + hi * 0x10000 + nflags * 2 ** 32, level + 1])
          } else if ((nflags & 0x02) !== 0) {
            const ksize = page.readUInt16LE(at + 6)
            if (at + 8 + ksize + 48 > psize) return 'tree page ' + (pg) + ': a database record outside the page'
            trees.push([u64(page, at + 8 + ksize + 40), page.readUInt16LE(at + 8 + ksize + 6), false])
          }
        }
      }
    }
    for (const id of listed) if (used.has(id)) return 'page ' + (id) + ' is listed free but in use'
    return undefined
  } finally {
    fs.closeSync(fd)
  }
}

try {
  const freeListDamage = checkFreeList(path)
  if (freeListDamage !== undefined) {
    process.stderr.write(freeListDamage)
    process.exit(3)
  }
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

/** Options of {@link checkStructure}: the child's time limit, and the clock that times it. */
export interface StructureCheckOptions {
  readonly timeoutMs?: number
  readonly clock?: Clock
}

/**
 * Reads every page of every bucket of the LMDB file at `path` in a child process and reports
 * whether LMDB could (it never maps the file in this process). Costs one full read of the file
 * plus a process start (README, "Integrity at rest", for figures).
 */
export async function checkStructure(path: string, options: StructureCheckOptions = {}): Promise<StructureReport> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STRUCTURE_TIMEOUT_MS
  const clock = options.clock ?? systemClock
  const t0 = clock.now()
  const child = spawn(process.execPath, ['-e', SOURCE, lmdbPath, path, JSON.stringify(BUCKETS), JSON.stringify({ ...ENV_OPTIONS, maxDbs: ENV_OPTIONS.maxDbs })], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP)
  })
  let timedOut = false
  const timer = clock.setTimer(timeoutMs, () => {
    timedOut = true
    child.kill('SIGKILL')
  })
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c, s) => resolve([c, s]))
  }).finally(() => timer.cancel())
  const ms = clock.now() - t0
  if (timedOut) return { ok: false, ms, reason: `reading it did not finish in ${timeoutMs} ms (a damaged page may send LMDB's cursor round in a loop)` }
  if (code === 0) {
    try {
      return { ok: true, ms, entries: JSON.parse(stdout) as Record<BucketName, number> }
    } catch {
      return { ok: false, ms, reason: `the check printed no report (${stdout.slice(0, 200)})` }
    }
  }
  const lastLine = stderr.trim().split('\n').find((l) => l.length > 0) ?? ''
  if (code === 3) return { ok: false, ms, reason: `its free-page list is damaged (${lastLine.slice(0, 300)}): the next write needing pages would make LMDB abort or reuse a page in use` }
  if (signal !== null || (code !== null && code > 128)) {
    return { ok: false, ms, reason: `LMDB aborted while reading it (${signal ?? `exit ${code}`}${lastLine === '' ? '' : `: ${lastLine.slice(0, 300)}`}): a damaged page` }
  }
  return { ok: false, ms, reason: `LMDB failed to read it: ${lastLine.slice(0, 300)}` }
}

export { DAMAGED_FILE_ADVICE }

/** {@link checkStructure}, failing with ERR_BACKEND_CORRUPT when the file is damaged. */
export async function assertStructure(path: string, options: StructureCheckOptions = {}): Promise<void> {
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
