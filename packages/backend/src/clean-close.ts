import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { FileHandle, FileSystem } from '@strata/seams'
import { DATA_FILE, META_OFFSET } from './lmdb-env.js'

// The clean-close marker (README, "Integrity at rest"): `<dir>/data.mdb.clean`, written and
// synced by a close whose last commit succeeded, removed (and the removal synced) by the next
// open before LMDB maps the file. With `verifyStructure: 'unclean'` (the default) an open that
// finds a marker matching the data file skips the structure check: the file is the one a
// clean close left. The marker names the file by its size and the first bytes of its two meta
// pages (LMDB's meta: the trees' roots and page counts, the last page, the transaction id), so
// a file changed or replaced after the close (another commit, a copy put in place) does not
// match and is checked. It also holds a CRC-32 of the pages LMDB aborts on when damaged that a
// read of a few hundred pages can cover: every page of the main tree and of the free-page tree,
// and every branch page of each bucket's tree (treeDigest below). Bit rot in one of those after
// a clean close then no longer matches either; damage to a bucket's leaf or overflow pages
// still does (README, "What 'unclean' gives up").

/** The marker, next to the data file. */
export const CLEAN_FILE = `${DATA_FILE}.clean`
const HEADER = 'strata clean close 2'
/** Pages treeDigest reads at most; a file with more gives no fingerprint (its open is checked). */
export const MAX_DIGEST_PAGES = 100_000
/** Bytes of each meta page the fingerprint holds: LMDB's MDB_meta is 144 bytes. */
const META_BYTES = 144

/**
 * The fingerprint of the data file at `path` whose page size is `pageSize`: its size and the
 * MDB_meta bytes of both meta pages, as text. Undefined when the file is missing or too short.
 */
export async function fingerprint(fs: FileSystem, path: string, pageSize: number): Promise<string | undefined> {
  const stat = await fs.stat(path)
  if (stat === undefined || stat.size < 2 * pageSize) return undefined
  const handle = await fs.open(path, 'read')
  try {
    const parts = [String(stat.size)]
    const metas: Buffer[] = []
    for (const page of [0, 1]) {
      const bytes = new Uint8Array(META_BYTES)
      const n = await handle.read(bytes, page * pageSize + META_OFFSET)
      if (n < META_BYTES) return undefined
      metas.push(Buffer.from(bytes.buffer, bytes.byteOffset, n))
      parts.push(metas[page]!.toString('hex'))
    }
    const digest = await treeDigest(handle, pageSize, stat.size, metas[0]!, metas[1]!)
    if (digest === undefined) return undefined
    parts.push(digest)
    return parts.join(' ')
  } finally {
    await handle.close()
  }
}

/**
 * Reads and removes the marker in `dir` (the removal synced, so that no later crash can bring
 * it back); true when it was there and names `expected`, the data file's fingerprint now.
 */
export async function takeCleanMarker(fs: FileSystem, dir: string, expected: string | undefined): Promise<boolean> {
  const path = join(dir, CLEAN_FILE)
  const stat = await fs.stat(path)
  if (stat === undefined) return false
  let text = ''
  const handle = await fs.open(path, 'read')
  try {
    const bytes = new Uint8Array(Math.min(stat.size, 4096))
    const n = await handle.read(bytes, 0)
    text = new TextDecoder().decode(bytes.subarray(0, n))
  } finally {
    await handle.close()
  }
  await fs.rm(path)
  await fs.fsyncDir(dir)
  return expected !== undefined && text === `${HEADER}\n${expected}\n`
}

/** Writes the marker for the data file's fingerprint `print` into `dir`, durably. */
export async function writeCleanMarker(fs: FileSystem, dir: string, print: string): Promise<void> {
  const path = join(dir, CLEAN_FILE)
  const handle = await fs.open(path, 'create')
  try {
    await handle.truncate(0)
    await handle.write(new TextEncoder().encode(`${HEADER}\n${print}\n`), 0)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.fsyncDir(dir)
}

/**
 * A CRC-32 (hex) over the pages of the newest meta page's trees that a damaged byte in makes
 * LMDB abort, cheaply: every page of the main tree (it names the buckets) and of the free-page
 * tree, and the branch pages of each bucket's tree (a few hundred pages at 1M keys; leaf and
 * overflow pages are not read). Undefined when a page does not look as LMDB wrote it (a
 * number, a kind or a node out of place), a page is reached twice, or more than
 * MAX_DIGEST_PAGES would be read: the caller then has no fingerprint, so the open is checked.
 * LMDB's layout: FORMAT.md §2 and verify-structure.ts (which reads the same trees).
 */
async function treeDigest(handle: FileHandle, pageSize: number, fileSize: number, meta0: Buffer, meta1: Buffer): Promise<string | undefined> {
  const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32
  const meta = u64(meta0, 128) >= u64(meta1, 128) ? meta0 : meta1
  const lastPg = u64(meta, 120)
  if ((lastPg + 1) * pageSize > fileSize) return undefined
  const HDR = 16 + 2 + 2 + 2 + 2
  // [page, its level (the root's is 1), the tree's depth, what]: 'all' reads every page of the tree, 'main' too and follows its
  // bucket records, 'branch' reads only the pages above the leaves.
  type Walk = [number, number, number, 'all' | 'main' | 'branch']
  const stack: Walk[] = []
  const tree = (into: Walk[], root: number, depth: number, what: Walk[3]): boolean => {
    if (root >= 2 ** 63 || depth === 0) return root >= 2 ** 63
    if (what === 'branch' && depth === 1) return true
    into.push([root, 1, depth, what])
    return true
  }
  if (!tree(stack, u64(meta, 64), meta.readUInt16LE(30), 'all') || !tree(stack, u64(meta, 112), meta.readUInt16LE(78), 'main')) return undefined
  // Level by level, each level's pages read at once (a few hundred reads one after the other
  // cost ~60 ms on a loaded machine), then walked in order, so the CRC does not depend on
  // which read finished first.
  const seen = new Set<number>()
  let crc = 0
  let level = stack
  while (level.length > 0) {
    for (const [pg] of level) {
      if (pg < 2 || pg > lastPg || seen.has(pg) || seen.size >= MAX_DIGEST_PAGES) return undefined
      seen.add(pg)
    }
    const pages = await Promise.all(level.map(async ([pg]) => {
      const page = Buffer.alloc(pageSize)
      return (await handle.read(page, pg * pageSize)) === pageSize ? page : undefined
    }))
    const next: Walk[] = []
    for (let k = 0; k < level.length; k++) {
      const [pg, depthNow, depth, what] = level[k]!
      const page = pages[k]
      if (page === undefined || depthNow > depth) return undefined
      const flags = page.readUInt16LE(18)
      const lower = page.readUInt16LE(20)
      const upper = page.readUInt16LE(22)
      const branch = depthNow < depth
      if (u64(page, 0) !== pg || flags !== (branch ? 0x01 : 0x02) || lower % 2 !== 0 || lower > upper || HDR + upper > pageSize) return undefined
      crc = crc32(page, crc)
      for (let i = 0; i < lower / 2 && (branch || what === 'main'); i++) {
        const at = HDR + page.readUInt16LE(HDR + 2 * i)
        if (at < HDR + upper || at + 8 > pageSize) return undefined
        const lo = page.readUInt16LE(at)
        const hi = page.readUInt16LE(at + 2)
        const nflags = page.readUInt16LE(at + 4)
        if (branch) {
          if (what === 'all' || what === 'main' || depthNow + 1 < depth) next.push([lo + hi * 0x10000 + nflags * 2 ** 32, depthNow + 1, depth, what])
          continue
        }
        // A leaf of the main tree: a bucket's record (F_SUBDATA) names its tree's root and depth.
        if ((nflags & 0x02) === 0) continue
        const ksize = page.readUInt16LE(at + 6)
        if (at + 8 + ksize + 48 > pageSize) return undefined
        const record = page.subarray(at + 8 + ksize, at + 8 + ksize + 48)
        if (!tree(next, u64(record, 40), record.readUInt16LE(6), 'branch')) return undefined
      }
    }
    level = next
  }
  return `${seen.size}:${(crc >>> 0).toString(16)}`
}
