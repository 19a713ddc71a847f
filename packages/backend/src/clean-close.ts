import { join } from 'node:path'
import type { FileSystem } from '@strata/seams'
import { DATA_FILE, META_OFFSET } from './lmdb-env.js'

// The clean-close marker (README, "Integrity at rest"): `<dir>/data.mdb.clean`, written and
// synced by a close whose last commit succeeded, removed (and the removal synced) by the next
// open before LMDB maps the file. With `verifyStructure: 'unclean'` (the default) an open that
// finds a marker matching the data file skips the structure check: the file is the one a
// clean close left. The marker names the file by its size and the first bytes of its two meta
// pages (LMDB's meta: the trees' roots and page counts, the last page, the transaction id), so
// a file changed or replaced after the close (another commit, a copy put in place) does not
// match and is checked.

/** The marker, next to the data file. */
export const CLEAN_FILE = `${DATA_FILE}.clean`
const HEADER = 'strata clean close 1'
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
    for (const page of [0, 1]) {
      const bytes = new Uint8Array(META_BYTES)
      const n = await handle.read(bytes, page * pageSize + META_OFFSET)
      if (n < META_BYTES) return undefined
      parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, n).toString('hex'))
    }
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
