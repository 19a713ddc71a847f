import assert from 'node:assert'
import type { FileSystem } from '@strata/seams'
import { open as openLmdb } from 'lmdb'
import type { Database, RootDatabase } from 'lmdb'
import { BUCKETS } from './backend.js'
import type { BucketName } from './backend.js'
import { DAMAGED_FILE_ADVICE } from './errors.js'
import { MAX_KEY_BYTES, backendError } from './limits.js'

// Opening the LMDB environment: its settings, and the check of a data file before mapping it.

/** The data file in `<dir>`; LMDB keeps its reader table next to it in `data.mdb-lock`. */
export const DATA_FILE = 'data.mdb'
/** Staging files; one left behind by a crash is garbage and removed by the next open. */
export const DEFRAG_FILE = 'data.mdb.defrag'
export const RESTORE_FILE = 'data.mdb.restore'

/** One bucket: an LMDB named database of raw bytes. */
export type Bytes = Database<Uint8Array, Uint8Array>

/**
 * The durability settings, justified in README.md ("Durability settings"): every commit is a
 * synchronous LMDB transaction that fdatasyncs its pages and then writes the meta page
 * synchronously; no noSync, no noMetaSync, no overlappingSync, no write map.
 */
export const ENV_OPTIONS = {
  noSubdir: true,
  maxDbs: BUCKETS.length + 4,
  overlappingSync: false,
  noSync: false,
  noMetaSync: false,
  useWritemap: false,
  cache: false,
  compression: false,
  encoding: 'binary',
  keyEncoding: 'binary',
} as const

/** LMDB's meta page fields, little-endian on the machines lmdb-js ships for (FORMAT.md). */
const META_MAGIC = 0xbeefc0de
const META_VERSION = 2
/** Where LMDB's MDB_meta starts in a meta page (after lmdb-js's 24-byte page header). */
export const META_OFFSET = 24
const PAGE_SIZES: ReadonlySet<number> = new Set([4096, 8192, 16384, 32768, 65536])

/**
 * Checks the two meta pages of an existing data file before LMDB maps it. lmdb-js crashes the
 * process (SIGSEGV) on a file that is not LMDB, where ERR_BACKEND_CORRUPT is wanted. Returns the
 * file's page size, or undefined for a missing or empty file (LMDB initializes those).
 */
export async function checkDataFile(fs: FileSystem, path: string): Promise<number | undefined> {
  const stat = await fs.stat(path)
  if (stat === undefined || stat.size === 0) return undefined
  const corrupt = (why: string): Error => backendError('ERR_BACKEND_CORRUPT', `${path} is not a valid LMDB data file: ${why}; ${DAMAGED_FILE_ADVICE}`, { path, size: stat.size })
  const handle = await fs.open(path, 'read')
  try {
    const head = new Uint8Array(Math.min(stat.size, 2 * 65536))
    const n = await handle.read(head, 0)
    const view = new DataView(head.buffer, 0, n)
    if (n < META_OFFSET + 32) throw corrupt('too short for a meta page')
    const pageSize = view.getUint32(META_OFFSET + 24, true)
    if (!PAGE_SIZES.has(pageSize)) throw corrupt(`bad page size ${pageSize}`)
    if (stat.size < 2 * pageSize) throw corrupt('shorter than its two meta pages')
    for (const at of [META_OFFSET, pageSize + META_OFFSET]) {
      if (view.getUint32(at, true) !== META_MAGIC) throw corrupt(`bad magic in the meta page at ${at - META_OFFSET}`)
      if (view.getUint32(at + 4, true) !== META_VERSION) throw corrupt(`unsupported data version ${view.getUint32(at + 4, true)}`)
    }
    return pageSize
  } finally {
    await handle.close()
  }
}

/** An open environment and its bucket databases. */
export interface LmdbEnv {
  readonly root: RootDatabase
  readonly dbs: Map<BucketName, Bytes>
  /**
   * A second handle on each bucket, for reads only, whose range iteration hands out views into
   * lmdb-js's shared key and value buffers instead of a fresh Buffer copy of each (the copies
   * and their garbage are most of a full scan's cost). A view is valid until the cursor moves
   * or any other read runs.
   */
  readonly views: Map<BucketName, Bytes>
}

/**
 * Makes views, handing out the previous one again when it covers the same bytes of the same
 * buffer: lmdb-js reads every key and every value into the same two buffers, so a scan over
 * same-sized entries allocates no view at all. Plain Uint8Array views (a Buffer view costs
 * several times more to make).
 */
function viewMaker(): (bytes: Uint8Array, start: number, end: number) => Uint8Array {
  let last: Uint8Array = new Uint8Array(0)
  return (bytes, start, end) => {
    const offset = bytes.byteOffset + start
    if (last.buffer !== bytes.buffer || last.byteOffset !== offset || last.length !== end - start) last = new Uint8Array(bytes.buffer, offset, end - start)
    return last
  }
}

/**
 * Opens `bucket` again with lmdb-js's decode hooks returning views. lmdb-js 3.5.6 hands a
 * custom decoder the shared value buffer and its length (`decoderCopies`), and reads keys
 * through the store's `readKey`, which a binary-keyed store sets to a copying slice; both are
 * replaced here. Never written through: writes go through the ordinary handle.
 */
function openViewDb(root: RootDatabase, bucket: BucketName): Bytes {
  const valueView = viewMaker()
  const decoder = { decode: (bytes: Uint8Array, size: number): Uint8Array => valueView(bytes, 0, size), needsStableBuffer: false }
  const db = root.openDB<Uint8Array, Uint8Array>(bucket, { encoding: 'binary', keyEncoding: 'binary', compression: false, cache: false, encoder: decoder } as Parameters<RootDatabase['openDB']>[1])
  const internals = db as unknown as { readKey: unknown; decoder: unknown; decoderCopies: unknown }
  assert(internals.decoder === decoder && internals.decoderCopies === true && typeof internals.readKey === 'function', 'lmdb-js internals changed: the view handle would copy')
  internals.readKey = viewMaker()
  return db
}

/** Opens the environment at `path` (a file, MDB_NOSUBDIR) with the settings above, and every bucket's database. */
export function openEnv(path: string, options: { noSync?: boolean } = {}): LmdbEnv {
  let root: RootDatabase
  try {
    root = openLmdb({ path, ...ENV_OPTIONS, ...options })
  } catch (err) {
    throw backendError('ERR_BACKEND_CORRUPT', `cannot open the LMDB file ${path}: ${(err as Error).message}; ${DAMAGED_FILE_ADVICE}`, { path }, err)
  }
  // MAX_KEY_BYTES promises every backend takes keys that long; LMDB's limit depends on its
  // page size (1,978 bytes with 4 KiB pages, as lmdb-js builds it).
  const maxKeySize = (root as unknown as { maxKeySize?: number }).maxKeySize
  assert(maxKeySize === undefined || maxKeySize >= MAX_KEY_BYTES, `LMDB accepts keys of at most ${maxKeySize} bytes, below MAX_KEY_BYTES`)
  try {
    const dbs = new Map<BucketName, Bytes>(BUCKETS.map((b) => [b, root.openDB<Uint8Array, Uint8Array>(b, { encoding: 'binary', keyEncoding: 'binary', compression: false, cache: false })]))
    const views = new Map<BucketName, Bytes>(BUCKETS.map((b) => [b, openViewDb(root, b)]))
    return { root, dbs, views }
  } catch (err) {
    void root.close()
    throw backendError('ERR_BACKEND_CORRUPT', `cannot open the buckets of ${path}: ${(err as Error).message}; ${DAMAGED_FILE_ADVICE}`, { path }, err)
  }
}

