import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import { SeamsError } from './errors.js'
import type { FileHandle, FileLock, FileStat, FileSystem, OpenMode } from './file-system.js'

const require = createRequire(import.meta.url)

/** What the lock needs of `fs-ext`. */
interface Flock { flockSync(fd: number, flags: 'exnb' | 'un'): void }

/** Invariant: undefined until the first lock; then the loaded module, for good. */
let flockModule: Flock | undefined

/**
 * Loads `fs-ext` (CommonJS, a native addon adding flock(2), which Node lacks) on the first lock
 * rather than at import, so that importing any Strata package never needs the native build: it
 * is an optional dependency, and an install without a compiler skips it. Only taking a lock
 * (opening a WAL or an LMDB backend directory) needs it, and then fails with a typed error that
 * says what to install.
 */
function loadFlock(): Flock {
  if (flockModule !== undefined) return flockModule
  let loaded: unknown
  try {
    loaded = require('fs-ext')
  } catch (err) {
    throw new SeamsError(
      'ERR_SEAMS_LOCK_UNAVAILABLE',
      'seams: cannot take a directory lock: the optional native addon fs-ext (flock) is not installed or failed to build; ' +
        'install a C++ toolchain and Node headers (Debian: apt-get install build-essential python3), then `npm install fs-ext@2.1.1` ' +
        'in your project (it builds then), or pass a FileSystem whose lock() needs no addon',
      { module: 'fs-ext', reason: (err as Error).message },
      { cause: err },
    )
  }
  if (typeof (loaded as Partial<Flock> | undefined)?.flockSync !== 'function') {
    throw new SeamsError('ERR_SEAMS_LOCK_UNAVAILABLE', 'seams: fs-ext loaded but has no flockSync; install fs-ext 2.1.1 (`npm install fs-ext@2.1.1`)', { module: 'fs-ext' })
  }
  flockModule = loaded as Flock
  return flockModule
}

const read = promisify(fs.read)
const write = promisify(fs.write)
const fsync = promisify(fs.fsync)
const fdatasync = promisify(fs.fdatasync)
const ftruncate = promisify(fs.ftruncate)
const fstat = promisify(fs.fstat)
const close = promisify(fs.close)
const open = promisify(fs.open)

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL } = fs.constants
const FLAGS: Readonly<Record<OpenMode, number>> = {
  read: O_RDONLY,
  readWrite: O_RDWR,
  create: O_RDWR | O_CREAT,
  createExclusive: O_RDWR | O_CREAT | O_EXCL,
}
/** Zeros are written 1 MiB at a time by `allocate`. */
const ZERO_CHUNK = new Uint8Array(1 << 20)

class NodeFileHandle implements FileHandle {
  readonly path: string
  /** Invariant: -1 once closed. */
  #fd: number

  constructor(path: string, fd: number) {
    this.path = path
    this.#fd = fd
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    let done = 0
    while (done < buffer.length) {
      const { bytesRead } = await read(this.#fd, buffer, done, buffer.length - done, position + done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done
  }

  /**
   * Copies into the page cache on the calling thread: for log-sized writes a thread-pool round
   * trip costs more than the copy (measured: 1 KiB write + fdatasync loops reached ~0.6-0.8 of a
   * raw synchronous loop with an async write, ~0.8-1.0 with this). Durability comes from
   * `datasync`/`sync`, which do run off the event loop.
   */
  async write(buffer: Uint8Array, position: number): Promise<void> {
    let done = 0
    while (done < buffer.length) done += fs.writeSync(this.#fd, buffer, done, buffer.length - done, position + done)
  }

  sync(): Promise<void> { return fsync(this.#fd) }
  datasync(): Promise<void> { return fdatasync(this.#fd) }
  truncate(size: number): Promise<void> { return ftruncate(this.#fd, size) }

  /**
   * Writes the zeros on the thread pool, unlike `write`: a 64 MB segment written on the calling
   * thread kept the event loop from turning for ~15-19 ms (measured).
   */
  async allocate(size: number): Promise<void> {
    let at = await this.size()
    while (at < size) {
      const { bytesWritten } = await write(this.#fd, ZERO_CHUNK, 0, Math.min(ZERO_CHUNK.length, size - at), at)
      at += bytesWritten
    }
  }

  async size(): Promise<number> { return (await fstat(this.#fd)).size }

  async close(): Promise<void> {
    const fd = this.#fd
    this.#fd = -1
    if (fd >= 0) await close(fd)
  }

  /** The descriptor, for the lock. */
  get fd(): number { return this.#fd }
}

async function openHandle(path: string, mode: OpenMode): Promise<NodeFileHandle> {
  return new NodeFileHandle(path, await open(path, FLAGS[mode], 0o600))
}

/**
 * The real file system, through node:fs, with directory fsync and flock(2) via fs-ext (loaded
 * on the first `lock`, see {@link loadFlock}).
 */
export const nodeFileSystem: FileSystem = {
  open: openHandle,
  async readFile(path) { return new Uint8Array(await fs.promises.readFile(path)) },
  async writeFile(path, data) { await fs.promises.writeFile(path, data, { mode: 0o600 }) },
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (path) => fs.promises.unlink(path),
  async mkdir(path) { await fs.promises.mkdir(path, { recursive: true, mode: 0o700 }) },
  rm: (path) => fs.promises.rm(path, { recursive: true, force: true }),
  async readdir(path) { return (await fs.promises.readdir(path)).sort() },
  async stat(path): Promise<FileStat | undefined> {
    try {
      const s = await fs.promises.stat(path)
      return { size: s.size, isDirectory: s.isDirectory() }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  },
  async fsyncDir(path) {
    const fd = await open(path, O_RDONLY)
    try {
      await fsync(fd)
    } finally {
      await close(fd)
    }
  },
  async lock(path): Promise<FileLock> {
    const fsExt = loadFlock()
    const handle = await openHandle(path, 'create')
    try {
      fsExt.flockSync(handle.fd, 'exnb')
    } catch (err) {
      await handle.close()
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        throw new SeamsError('ERR_SEAMS_LOCKED', `seams: ${path} is locked by another open, in this process or another; close the other user of this directory first`, { path }, { cause: err })
      }
      throw err
    }
    return {
      path,
      async release() {
        if (handle.fd < 0) return
        fsExt.flockSync(handle.fd, 'un')
        await handle.close()
      },
    }
  },
}
