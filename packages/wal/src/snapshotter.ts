import assert from 'node:assert'
import { join } from 'node:path'
import type { SnapshotMetadata } from '@strata/raft'
import type { Failpoint, FileHandle, FileLock, FileSystem } from '@strata/seams'
import { hasCode } from '@strata/seams'
import { WalError, invalidArgument, invalidOption } from './errors.js'
import type { SnapLayout, XxHashApi } from './snap-file.js'
import { encodeHeader, encodeTrailer, parseSnapName, readLayout, snapName, streamData, xxhashApi } from './snap-file.js'
import { checkDir, checkOptionsObject, checkSnapshot, checkU64, intOption, mkdirDurable, resolveFailpoint, resolveFs, takeLock } from './util.js'

/** Options of `Snapshotter.open`. */
export interface SnapshotterOptions {
  /** The file system every byte goes through. Default: `nodeFileSystem`. */
  readonly fs?: FileSystem
  /**
   * Called with `snapBeforeSave` (before anything of a save is written) and `snapAfterSave`
   * (once the new file is durable under its name); may throw to simulate a crash. Default: no-op.
   */
  readonly failpoint?: Failpoint
  /** Snapshot files kept after each save; older ones are deleted. From 1 to 1,000. Default: 5 (etcd's MaxSnapFiles). */
  readonly keep?: number
  /**
   * Bytes `save` gathers before each write and `read()` yields at most per chunk. From 4 KiB to
   * 64 MiB. Default: 1 MiB. Memory per save or read is about this, whatever the snapshot's size.
   */
  readonly chunkBytes?: number
  /** Told about each damaged snapshot file that a load skipped and renamed. Default: no-op. */
  readonly onBroken?: (report: BrokenSnapshot) => void
}

/** A snapshot file a load found damaged and set aside. */
export interface BrokenSnapshot {
  /** The file's name before. */
  readonly name: string
  /** Its name now: `<name>.broken`. */
  readonly brokenName: string
  /** What was wrong with it. */
  readonly reason: string
}

/** A snapshot found by `loadNewest` or `loadAt`: its metadata, and its data on demand. */
export interface LoadedSnapshot {
  readonly metadata: SnapshotMetadata
  /** The file name, `%016x-%016x.snap` of term and index. */
  readonly name: string
  /** Bytes of data. */
  readonly dataBytes: number
  /**
   * Streams the data in chunks of at most `chunkBytes` (fresh buffers the consumer may keep),
   * reading the file again; the last step checks the checksum and throws ERR_WAL_SNAP_CORRUPT
   * on a mismatch, so a consumer must treat what it got as unverified until the loop ends.
   */
  read(): AsyncIterable<Uint8Array>
}

/** What `save` wrote. */
export interface SavedSnapshot {
  readonly name: string
  readonly dataBytes: number
}

const DEFAULT_KEEP = 5
const MAX_KEEP = 1000
const DEFAULT_CHUNK_BYTES = 1024 * 1024
const MIN_CHUNK_BYTES = 4096
const MAX_CHUNK_BYTES = 64 * 1024 * 1024
const TMP_SUFFIX = '.tmp'
const BROKEN_SUFFIX = '.broken'

interface SnapshotterInit {
  readonly dir: string
  readonly fs: FileSystem
  readonly failpoint: Failpoint
  readonly keep: number
  readonly chunkBytes: number
  readonly onBroken: (report: BrokenSnapshot) => void
  readonly lock: FileLock
  readonly api: XxHashApi
}

const INTERNAL = Symbol('Snapshotter.internal')

/**
 * Owns a directory of raft snapshot files (etcd's `snap` package, streaming): each file holds
 * the snapshot's metadata (index, term, conf state) and data of any size, written chunk by chunk
 * into a temporary file, checksummed with xxhash64, fsynced and renamed into place, so a crash
 * leaves either the whole new file or none of it. Loads skip (and set aside) damaged files.
 */
export class Snapshotter {
  readonly #init: SnapshotterInit
  /** Invariant: saves run one at a time, in call order (each waits for this one). */
  #saving: Promise<unknown> = Promise.resolve()
  /** Invariant: every save and load not yet settled; close waits for them. */
  readonly #inflight = new Set<Promise<unknown>>()
  #closed = false

  /** Internal: use `Snapshotter.open`. */
  constructor(token: symbol, init: SnapshotterInit) {
    assert(token === INTERNAL, 'use Snapshotter.open')
    this.#init = init
  }

  /**
   * Opens (creating it if missing) the snapshot directory `dir`, takes its lock (`<dir>/LOCK`;
   * a second Snapshotter on it fails with ERR_WAL_LOCKED) and removes the temporary files an
   * interrupted save left.
   */
  static async open(dir: string, options: SnapshotterOptions = {}): Promise<Snapshotter> {
    checkDir(dir)
    checkOptionsObject(options)
    const fs = resolveFs(options.fs)
    const failpoint = resolveFailpoint(options.failpoint)
    const keep = intOption('keep', options.keep, DEFAULT_KEEP, 1, MAX_KEEP)
    const chunkBytes = intOption('chunkBytes', options.chunkBytes, DEFAULT_CHUNK_BYTES, MIN_CHUNK_BYTES, MAX_CHUNK_BYTES)
    const onBroken = options.onBroken ?? (() => {})
    if (typeof onBroken !== 'function') throw invalidOption('onBroken', 'must be a function')
    const api = await xxhashApi()
    await mkdirDurable(fs, dir)
    const lock = await takeLock(fs, dir)
    try {
      for (const name of await fs.readdir(dir)) if (name.endsWith(TMP_SUFFIX)) await fs.unlink(join(dir, name))
    } catch (err) {
      await lock.release()
      throw err
    }
    return new Snapshotter(INTERNAL, { dir, fs, failpoint, keep, chunkBytes, onBroken, lock, api })
  }

  /** The directory this snapshotter owns. */
  get dir(): string { return this.#init.dir }

  /**
   * Writes a snapshot file for `metadata` holding the bytes of `data`, never holding more than
   * `chunkBytes` of it in memory, and resolves once the file is durable under its final name;
   * then deletes the oldest files beyond `keep`. A save of a point that already has a file
   * replaces it. Saves run one at a time. If `data` throws, nothing is left behind and the
   * error is passed on.
   */
  async save(metadata: SnapshotMetadata, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<SavedSnapshot> {
    this.#checkOpen()
    checkSnapshot(metadata, 'metadata')
    if (data instanceof Uint8Array) throw invalidArgument('data must be an iterable of Uint8Array chunks; pass [bytes] for a single buffer')
    if (typeof data !== 'object' || data === null || !(Symbol.asyncIterator in data || Symbol.iterator in data)) {
      throw invalidArgument('data must be an AsyncIterable (or Iterable) of Uint8Array chunks')
    }
    const meta: SnapshotMetadata = { index: metadata.index, term: metadata.term, confState: structuredClone(metadata.confState) }
    const run = this.#saving.then(() => this.#save(meta, data))
    this.#saving = run.catch(() => {})
    return this.#track(run)
  }

  async #save(meta: SnapshotMetadata, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<SavedSnapshot> {
    const { fs, dir, failpoint } = this.#init
    failpoint('snapBeforeSave')
    const name = snapName(meta.term, meta.index)
    const tmp = join(dir, name + TMP_SUFFIX)
    const handle = await fs.open(tmp, 'create')
    let dataBytes: number
    try {
      dataBytes = await this.#writeFile(handle, meta, data)
      await handle.sync()
    } catch (err) {
      await handle.close().catch(() => {})
      await fs.unlink(tmp).catch(() => {})
      throw err
    }
    await handle.close()
    await fs.rename(tmp, join(dir, name))
    await fs.fsyncDir(dir)
    failpoint('snapAfterSave')
    await this.#purge()
    return { name, dataBytes }
  }

  /** Header, data gathered into `chunkBytes` writes, trailer; returns the data's length. */
  async #writeFile(handle: FileHandle, meta: SnapshotMetadata, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> {
    const { api, chunkBytes } = this.#init
    await handle.truncate(0)
    const header = encodeHeader(api, meta)
    const hasher = api.create64(0n)
    hasher.update(header)
    await handle.write(header, 0)
    let at = header.length
    // Allocated at the first chunk that needs gathering: a member's own snapshots carry no data
    // (metadata only, every snapshotCount entries), and a fresh MiB cost ~1-3 ms of the event
    // loop here (zeroing and first-touch page faults), ~2% of a busy member's put profile.
    let buf: Uint8Array | undefined
    let filled = 0
    for await (const chunk of data) {
      if (!(chunk instanceof Uint8Array)) throw invalidArgument(`snapshot data chunks must be Uint8Arrays, got ${typeof chunk}`)
      hasher.update(chunk)
      if (buf !== undefined && filled + chunk.length > buf.length && filled > 0) {
        await handle.write(buf.subarray(0, filled), at)
        at += filled
        filled = 0
      }
      if (chunk.length >= chunkBytes) {
        // Written as it is: copying a large chunk would only double the memory it takes.
        await handle.write(chunk, at)
        at += chunk.length
      } else {
        buf ??= new Uint8Array(chunkBytes)
        buf.set(chunk, filled)
        filled += chunk.length
      }
    }
    if (buf !== undefined && filled > 0) await handle.write(buf.subarray(0, filled), at)
    at += filled
    const dataBytes = at - header.length
    await handle.write(encodeTrailer(hasher, dataBytes), at)
    return dataBytes
  }

  /** Deletes the oldest snapshot files beyond `keep` (by name: term, then index). */
  async #purge(): Promise<void> {
    const { fs, dir, keep } = this.#init
    const names = await this.#names()
    if (names.length <= keep) return
    for (const name of names.slice(keep)) await fs.unlink(join(dir, name))
    await fs.fsyncDir(dir)
  }

  /** Snapshot file names, newest first. */
  async #names(): Promise<string[]> {
    const names = (await this.#init.fs.readdir(this.#init.dir)).filter((n) => parseSnapName(n) !== undefined)
    return names.sort().reverse()
  }

  /**
   * The metadata of every snapshot file whose header, metadata and length are intact, newest
   * first. The data's checksum is not read here (a load checks it); nothing is renamed.
   */
  async list(): Promise<SnapshotMetadata[]> {
    this.#checkOpen()
    return this.#track(this.#list())
  }

  async #list(): Promise<SnapshotMetadata[]> {
    const out: SnapshotMetadata[] = []
    for (const name of await this.#names()) {
      const layout = await this.#layout(name).catch((err: unknown) => {
        // Damaged files are not listed; a missing one was purged by a save since readdir.
        if (hasCode(err, 'ERR_WAL_SNAP_CORRUPT') || hasCode(err, 'ENOENT')) return undefined
        throw err
      })
      if (layout !== undefined) out.push(layout.metadata)
    }
    return out
  }

  /**
   * The newest snapshot whose whole file verifies (header, metadata, data checksum), or
   * `undefined` when there is none. Damaged files on the way are renamed to `<name>.broken`
   * and reported to `onBroken`, as etcd does. Reads each candidate's data once to verify it.
   */
  async loadNewest(): Promise<LoadedSnapshot | undefined> {
    this.#checkOpen()
    return this.#track(this.#loadNewest())
  }

  async #loadNewest(): Promise<LoadedSnapshot | undefined> {
    for (const name of await this.#names()) {
      const loaded = await this.#load(name)
      if (loaded !== undefined) return loaded
    }
    return undefined
  }

  /**
   * The snapshot at exactly `index` and `term` if its file exists and verifies, else
   * `undefined` (a damaged file is renamed and reported as by `loadNewest`).
   */
  async loadAt(index: number, term: number): Promise<LoadedSnapshot | undefined> {
    this.#checkOpen()
    checkU64('index', index)
    checkU64('term', term)
    return this.#track(this.#loadAt(index, term))
  }

  async #loadAt(index: number, term: number): Promise<LoadedSnapshot | undefined> {
    return this.#load(snapName(term, index))
  }

  /**
   * Verifies the file `name` whole; a damaged one is set aside and `undefined` returned, as for
   * a missing one (never saved, or purged by a save since the directory was listed).
   */
  async #load(name: string): Promise<LoadedSnapshot | undefined> {
    try {
      const layout = await this.#withFile(name, async (handle) => {
        const l = await readLayout(this.#init.api, handle, name)
        for await (const chunk of streamData(this.#init.api, handle, l, this.#init.chunkBytes, name)) void chunk
        return l
      })
      return this.#loaded(name, layout)
    } catch (err) {
      if (hasCode(err, 'ENOENT')) return undefined
      if (!hasCode(err, 'ERR_WAL_SNAP_CORRUPT')) throw err
      await this.#setAside(name, (err as WalError).context?.['reason'] as string)
      return undefined
    }
  }

  #loaded(name: string, layout: SnapLayout): LoadedSnapshot {
    const read = (): AsyncIterable<Uint8Array> => this.#read(name)
    return { metadata: layout.metadata, name, dataBytes: layout.dataBytes, read }
  }

  async* #read(name: string): AsyncGenerator<Uint8Array, void, undefined> {
    this.#checkOpen()
    const { fs, dir, api, chunkBytes } = this.#init
    const handle = await fs.open(join(dir, name), 'read')
    try {
      const layout = await readLayout(api, handle, name)
      yield* streamData(api, handle, layout, chunkBytes, name)
    } finally {
      await handle.close()
    }
  }

  async #setAside(name: string, reason: string): Promise<void> {
    const { fs, dir, onBroken } = this.#init
    const brokenName = name + BROKEN_SUFFIX
    await fs.rename(join(dir, name), join(dir, brokenName))
    await fs.fsyncDir(dir)
    onBroken({ name, brokenName, reason })
  }

  async #layout(name: string): Promise<SnapLayout> {
    return this.#withFile(name, (handle) => readLayout(this.#init.api, handle, name))
  }

  async #withFile<T>(name: string, fn: (handle: FileHandle) => Promise<T>): Promise<T> {
    const handle = await this.#init.fs.open(join(this.#init.dir, name), 'read')
    try {
      return await fn(handle)
    } finally {
      await handle.close()
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new WalError('ERR_WAL_CLOSED', `wal: the snapshotter of ${this.#init.dir} is closed`)
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p)
    const done = (): void => { this.#inflight.delete(p) }
    p.then(done, done)
    return p
  }

  /**
   * Waits for the saves and loads in flight (not for `read()` streams a consumer holds open),
   * then releases the lock. Every later call fails with ERR_WAL_CLOSED. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled([...this.#inflight])
    await this.#init.lock.release()
  }
}
