import type { FileHandle } from '@strata/seams'
import { fsError } from './sim-errors.js'
import type { SimFile } from './sim-file.js'

/** Every operation that changes the simulated disk; `crashAfter` and `operationCount` count them. */
export type OperationKind =
  | 'create' | 'write' | 'sync' | 'datasync' | 'truncate' | 'allocate' | 'writeFile'
  | 'rename' | 'unlink' | 'mkdir' | 'rm' | 'fsyncDir'

/** What a handle needs from its file system: closures over the file system's private state. */
export interface HandleHost {
  /** Throws SimCrashError once a crash point has fired. */
  enter(syscall: string, path: string): void
  /** Counts a completed mutating operation (and may arm the crash point). */
  done(kind: OperationKind, path: string): void
  /** Accounts a size change; throws ENOSPC when `allocating` and over capacity. */
  resize(file: SimFile, length: number, allocating: boolean, syscall: string, path: string): void
  /** True when an injected fault says this sync fails. */
  syncFault(path: string): boolean
  /** The crash generation: handles opened before the last crash() are dead. */
  epoch(): number
}

function checkOffset(value: number, syscall: string, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw fsError('EINVAL', syscall, path, `offset or size ${value} is not a non-negative safe integer`)
}

/** An open simulated file. Operations resolve at once; only their order matters. */
export class SimFileHandle implements FileHandle {
  readonly path: string
  readonly #host: HandleHost
  readonly #file: SimFile
  readonly #writable: boolean
  /** Invariant: the host's epoch when opened; a different current epoch means a crash killed it. */
  readonly #epoch: number
  #closed = false

  constructor(host: HandleHost, file: SimFile, path: string, writable: boolean) {
    this.#host = host
    this.#file = file
    this.path = path
    this.#writable = writable
    this.#epoch = host.epoch()
  }

  #check(syscall: string, writing: boolean): void {
    this.#host.enter(syscall, this.path)
    if (this.#closed) throw fsError('EBADF', syscall, this.path, 'the handle is closed')
    if (this.#epoch !== this.#host.epoch()) throw fsError('EBADF', syscall, this.path, 'the handle was opened before crash()')
    if (writing && !this.#writable) throw fsError('EBADF', syscall, this.path, 'the handle is read-only')
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    this.#check('read', false)
    checkOffset(position, 'read', this.path)
    return this.#file.live.read(buffer, position)
  }

  async write(buffer: Uint8Array, position: number): Promise<void> {
    this.#check('write', true)
    checkOffset(position, 'write', this.path)
    this.#host.resize(this.#file, Math.max(this.#file.live.length, position + buffer.length), true, 'write', this.path)
    this.#file.write(position, buffer)
    this.#host.done('write', this.path)
  }

  sync(): Promise<void> { return this.#sync('sync', 'fsync') }
  datasync(): Promise<void> { return this.#sync('datasync', 'fdatasync') }

  async #sync(kind: 'sync' | 'datasync', syscall: string): Promise<void> {
    this.#check(syscall, false)
    if (this.#host.syncFault(this.path)) {
      this.#file.dropPending()
      throw fsError('EIO', syscall, this.path, 'injected fault; the unsynced writes will never reach the disk')
    }
    this.#file.sync()
    this.#host.done(kind, this.path)
  }

  async truncate(size: number): Promise<void> {
    this.#check('ftruncate', true)
    checkOffset(size, 'ftruncate', this.path)
    this.#host.resize(this.#file, size, false, 'ftruncate', this.path)
    this.#file.truncate(size)
    this.#host.done('truncate', this.path)
  }

  async allocate(size: number): Promise<void> {
    this.#check('fallocate', true)
    checkOffset(size, 'fallocate', this.path)
    const length = this.#file.live.length
    if (size > length) {
      this.#host.resize(this.#file, size, true, 'fallocate', this.path)
      this.#file.write(length, new Uint8Array(size - length))
    }
    this.#host.done('allocate', this.path)
  }

  async size(): Promise<number> {
    this.#check('fstat', false)
    return this.#file.live.length
  }

  /** Closing twice, or after a crash, is harmless (as closing a dead descriptor in a new process). */
  async close(): Promise<void> {
    this.#host.enter('close', this.path)
    this.#closed = true
  }
}
