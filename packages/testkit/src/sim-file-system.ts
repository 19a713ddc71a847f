import { posix } from 'node:path'
import type { FileHandle, FileLock, FileStat, FileSystem, OpenMode } from '@strata/seams'
import { StrataError } from '@strata/seams'
import { Prng } from './prng.js'
import { SimCrashError, fsError } from './sim-errors.js'
import { SimDir, SimFile, emptyReport } from './sim-file.js'
import type { CrashMode, CrashReport, Inode } from './sim-file.js'
import { SimFileHandle } from './sim-file-handle.js'
import type { HandleHost, OperationKind } from './sim-file-handle.js'

/** A completed mutating operation, as `onOperation` sees it. */
export interface Operation {
  /** 1-based position among all mutating operations since the file system was made. */
  readonly index: number
  readonly kind: OperationKind
  readonly path: string
}

export interface SimFileSystemOptions {
  /** Source of every random choice a crash makes. Default: `new Prng(0)`. */
  readonly prng?: Prng
  /** What `crash()` does with data that was not made durable, unless told otherwise. Default `'random'`. */
  readonly crashMode?: CrashMode
  /** Bytes of file contents the disk holds; writes past it fail with ENOSPC. Default: unlimited. */
  readonly capacity?: number
}

export interface SyncFaultOptions {
  /** How many matching syncs fail. Default 1. */
  readonly count?: number
  /** Only syncs of a path matching this RegExp, or containing this string. Default: every path. */
  readonly path?: RegExp | string
  /** Whether `fsyncDir` of a matching directory fails too. Default false: file sync/datasync only. */
  readonly dirs?: boolean
}

export interface CrashOptions {
  /** Overrides the file system's `crashMode` for this crash. */
  readonly mode?: CrashMode
}

/** One directory entry assignment: `dir/name` now names `target`, or nothing when undefined. */
interface Edit { readonly dir: SimDir; readonly name: string; readonly target: Inode | undefined }
/** A create, rename, unlink, mkdir or rm not yet made durable by fsyncDir. */
interface NamespaceChange { readonly description: string; readonly edits: readonly Edit[] }
interface SyncFault { remaining: number; readonly path: RegExp | string | undefined; readonly dirs: boolean }

function normalize(path: string): string {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`SimFileSystem: path must be a non-empty string, got ${String(path)}`)
  return posix.resolve('/', path)
}

function split(path: string): string[] { return path === '/' ? [] : path.slice(1).split('/') }

function sharesEntry(a: NamespaceChange, b: NamespaceChange): boolean {
  return a.edits.some((e) => b.edits.some((f) => e.dir === f.dir && e.name === f.name))
}

/**
 * Marks, besides the selected changes, every earlier change to the same directory entries, so
 * each entry's surviving history is a prefix of its real history (a journal commits in order):
 * a kept `rename b -> c` implies the earlier `rename a -> b` is kept too.
 */
function closeOverEarlier(changes: readonly NamespaceChange[], selected: boolean[]): void {
  for (let i = changes.length - 1; i > 0; i--) {
    if (!selected[i]) continue
    for (let j = 0; j < i; j++) if (!selected[j] && sharesEntry(changes[j]!, changes[i]!)) selected[j] = true
  }
}

function applyDurably(change: NamespaceChange): void {
  for (const e of change.edits) {
    if (e.target === undefined) e.dir.durable.delete(e.name)
    else e.dir.durable.set(e.name, e.target)
  }
}

/**
 * An in-memory FileSystem with a power-loss model, deterministic from a Prng. Written bytes
 * reach the "disk" only through sync/datasync; creates, renames and unlinks only through
 * fsyncDir of their directory. `crash()` keeps what reached the disk plus, in random mode, a
 * random part of the rest: writes lost, landed or torn at 512-byte sectors, and namespace
 * changes kept or undone. See the README for the whole model.
 */
export class SimFileSystem implements FileSystem {
  readonly #prng: Prng
  readonly #mode: CrashMode
  readonly #host: HandleHost
  #root = new SimDir()
  /** Invariant: ordered as performed; every change here is applied to live entries, not durable ones. */
  #pending: NamespaceChange[] = []
  #faults: SyncFault[] = []
  #capacity: number | undefined
  /** Invariant: the sum of live lengths of files a live entry names. */
  #used = 0
  /** Invariant: incremented by every crash(); handles and locks of older epochs are dead. */
  #epoch = 0
  /** The lock token held on each locked file. */
  #locks = new Map<SimFile, object>()
  #operations = 0
  #crashAt: number | undefined
  /** Invariant: true from the crash point until crash(); every operation then throws SimCrashError. */
  #halted = false
  #hook: ((op: Operation) => void) | undefined

  constructor(options: SimFileSystemOptions = {}) {
    this.#prng = options.prng ?? new Prng(0)
    this.#mode = options.crashMode ?? 'random'
    this.setCapacity(options.capacity)
    this.#host = {
      enter: (syscall, path) => this.#enter(syscall, path),
      done: (kind, path) => this.#done(kind, path),
      resize: (file, length, allocating, syscall, path) => this.#resize(file, length, allocating, syscall, path),
      syncFault: (path) => this.#syncFault(path, false),
      epoch: () => this.#epoch,
    }
  }

  // ---- FileSystem ----

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const p = normalize(path)
    this.#enter('open', p)
    const file = this.#openFile(p, mode, 'open')
    return new SimFileHandle(this.#host, file, p, mode !== 'read')
  }

  async readFile(path: string): Promise<Uint8Array> {
    const p = normalize(path)
    this.#enter('readFile', p)
    return this.#existingFile(p, 'open').live.toBytes()
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    const p = normalize(path)
    this.#enter('writeFile', p)
    const existing = this.#walk(p, 'open')
    if (existing?.kind === 'dir') throw fsError('EISDIR', 'open', p)
    const grow = data.length - (existing?.live.length ?? 0)
    if (this.#capacity !== undefined && grow > 0 && this.#used + grow > this.#capacity) throw fsError('ENOSPC', 'write', p)
    const file = existing ?? this.#create(p, 'open')
    this.#resize(file, data.length, true, 'write', p)
    file.truncate(0)
    file.write(0, data)
    this.#done('writeFile', p)
  }

  async rename(from: string, to: string): Promise<void> {
    const a = normalize(from)
    const b = normalize(to)
    this.#enter('rename', a)
    const src = this.#parent(a, 'rename')
    const node = src.dir.entries.get(src.name)
    if (node === undefined) throw fsError('ENOENT', 'rename', a, `to '${b}'`)
    const dst = this.#parent(b, 'rename')
    if (a === b) return
    if (node.kind === 'dir' && b.startsWith(`${a}/`)) throw fsError('EINVAL', 'rename', a, `cannot move a directory into itself ('${b}')`)
    const existing = dst.dir.entries.get(dst.name)
    if (existing !== undefined) {
      if (node.kind === 'dir' && existing.kind !== 'dir') throw fsError('ENOTDIR', 'rename', b)
      if (node.kind === 'file' && existing.kind === 'dir') throw fsError('EISDIR', 'rename', b)
      if (existing.kind === 'dir' && existing.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', b)
      this.#forget(existing)
    }
    this.#change(`rename ${a} -> ${b}`, [
      { dir: src.dir, name: src.name, target: undefined },
      { dir: dst.dir, name: dst.name, target: node },
    ])
    this.#done('rename', a)
  }

  async unlink(path: string): Promise<void> {
    const p = normalize(path)
    this.#enter('unlink', p)
    const { dir, name } = this.#parent(p, 'unlink')
    const node = dir.entries.get(name)
    if (node === undefined) throw fsError('ENOENT', 'unlink', p)
    if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', p)
    this.#forget(node)
    this.#change(`unlink ${p}`, [{ dir, name, target: undefined }])
    this.#done('unlink', p)
  }

  async mkdir(path: string): Promise<void> {
    const p = normalize(path)
    this.#enter('mkdir', p)
    const parts = split(p)
    let node: SimDir = this.#root
    let at = ''
    for (const [i, part] of parts.entries()) {
      at += `/${part}`
      const next = node.entries.get(part)
      if (next?.kind === 'file') throw fsError(i === parts.length - 1 ? 'EEXIST' : 'ENOTDIR', 'mkdir', p)
      if (next !== undefined) { node = next; continue }
      const created = new SimDir()
      this.#change(`mkdir ${at}`, [{ dir: node, name: part, target: created }])
      this.#done('mkdir', at)
      node = created
    }
  }

  async rm(path: string): Promise<void> {
    const p = normalize(path)
    this.#enter('rm', p)
    if (p === '/') throw fsError('EINVAL', 'rm', p, 'refusing to remove the root')
    const parent = this.#walk(posix.dirname(p), 'rm')
    if (parent?.kind !== 'dir') return
    const name = posix.basename(p)
    const node = parent.entries.get(name)
    if (node === undefined) return
    this.#forget(node)
    this.#change(`rm ${p}`, [{ dir: parent, name, target: undefined }])
    this.#done('rm', p)
  }

  async readdir(path: string): Promise<string[]> {
    const p = normalize(path)
    this.#enter('readdir', p)
    return [...this.#existingDir(p, 'scandir').entries.keys()].sort()
  }

  async stat(path: string): Promise<FileStat | undefined> {
    const p = normalize(path)
    this.#enter('stat', p)
    const node = this.#walk(p, 'stat')
    if (node === undefined) return undefined
    return { size: node.kind === 'file' ? node.live.length : 0, isDirectory: node.kind === 'dir' }
  }

  async fsyncDir(path: string): Promise<void> {
    const p = normalize(path)
    this.#enter('fsync', p)
    const dir = this.#existingDir(p, 'fsync')
    if (this.#syncFault(p, true)) throw fsError('EIO', 'fsync', p, 'injected fault on a directory')
    const selected = this.#pending.map((c) => c.edits.some((e) => e.dir === dir))
    closeOverEarlier(this.#pending, selected)
    this.#pending.forEach((c, i) => { if (selected[i]) applyDurably(c) })
    this.#pending = this.#pending.filter((_, i) => !selected[i])
    this.#done('fsyncDir', p)
  }

  async lock(path: string): Promise<FileLock> {
    const p = normalize(path)
    this.#enter('flock', p)
    const file = this.#openFile(p, 'create', 'open')
    if (this.#locks.has(file)) throw new StrataError('ERR_SEAMS_LOCKED', `${p} is locked by another open (simulated)`, { path: p })
    const token = {}
    const epoch = this.#epoch
    this.#locks.set(file, token)
    return {
      path: p,
      release: async () => {
        if (epoch === this.#epoch && this.#locks.get(file) === token) this.#locks.delete(file)
      },
    }
  }

  // ---- crash and fault injection ----

  /**
   * Simulates power loss and restart: every open handle and lock dies, the page cache is lost,
   * and of what was not made durable the mode keeps nothing (`pessimistic`), a random part
   * (`random`: each write lost, landed or torn; each namespace change kept or undone) or all
   * (`keepAll`: a process crash, where the kernel still flushes). Clears a fired crash point.
   */
  crash(options: CrashOptions = {}): CrashReport {
    const mode = options.mode ?? this.#mode
    const report = emptyReport()
    const kept = this.#pending.map(() => mode === 'keepAll' || (mode === 'random' && this.#prng.bool()))
    closeOverEarlier(this.#pending, kept)
    this.#pending.forEach((change, i) => {
      if (kept[i]) applyDurably(change)
      ;(kept[i] ? report.namespaceKept : report.namespaceUndone).push(change.description)
    })
    this.#pending = []
    this.#used = 0
    this.#restart(this.#root, '/', mode, report)
    this.#epoch++
    this.#locks.clear()
    this.#halted = false
    this.#crashAt = undefined
    return report
  }

  /**
   * Rebuilds the live tree from the durable one. `visited` guards against a directory reached
   * twice (a subset of renames can in principle link a directory below itself): the later
   * entry is dropped, as fsck would.
   */
  #restart(dir: SimDir, path: string, mode: CrashMode, report: CrashReport, visited = new Set<Inode>([dir])): void {
    for (const name of [...dir.durable.keys()].sort()) {
      const node = dir.durable.get(name)!
      if (visited.has(node)) {
        dir.durable.delete(name)
        continue
      }
      visited.add(node)
      const child = posix.join(path, name)
      if (node.kind === 'dir') {
        this.#restart(node, child, mode, report, visited)
        continue
      }
      node.crash(this.#prng, mode, child, report)
      node.linked = true
      this.#used += node.live.length
    }
    dir.entries = new Map(dir.durable)
  }

  /**
   * Arms a crash point: the `k`-th mutating operation from now completes, and every operation
   * after it (on the file system or any handle) throws SimCrashError until `crash()`.
   */
  crashAfter(k: number): void {
    if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`crashAfter: k must be a positive integer, got ${k}`)
    this.#crashAt = this.#operations + k
  }

  /** Mutating operations completed so far (creates, writes, syncs, truncates, renames, ...). */
  get operationCount(): number { return this.#operations }

  /** True between a fired crash point and `crash()`. */
  get halted(): boolean { return this.#halted }

  /** Calls `fn` after each mutating operation completes; an error it throws fails that call. */
  onOperation(fn: ((op: Operation) => void) | undefined): void { this.#hook = fn }

  /** Makes the next matching syncs fail with EIO, dropping the file's unsynced writes as Linux does. */
  failSync(options: SyncFaultOptions = {}): void {
    const count = options.count ?? 1
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`failSync: count must be a positive integer, got ${count}`)
    this.#faults.push({ remaining: count, path: options.path, dirs: options.dirs ?? false })
  }

  /** Sets the disk's capacity in bytes of file contents (undefined: unlimited). */
  setCapacity(bytes: number | undefined): void {
    if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes < 0)) throw new RangeError(`capacity must be a non-negative safe integer, got ${bytes}`)
    this.#capacity = bytes
  }

  /** Bytes of file contents currently stored (what capacity limits). */
  get usedBytes(): number { return this.#used }

  /** Flips bit `bit` (0..7) of the byte at `byteOffset` on the disk, and in what readers see. */
  flipBit(path: string, byteOffset: number, bit: number): void {
    if (!Number.isInteger(bit) || bit < 0 || bit > 7) throw new RangeError(`flipBit: bit must be in 0..7, got ${bit}`)
    this.#damage(normalize(path), byteOffset, 1 << bit)
  }

  /** Overwrites `length` durable bytes from `byteOffset` with different random bytes. */
  corrupt(path: string, byteOffset: number, length: number): void {
    const p = normalize(path)
    for (let i = 0; i < length; i++) this.#damage(p, byteOffset + i, 1 + this.#prng.int(255))
  }

  /** The bytes of `path` on the disk (what a crash in pessimistic mode would leave in it). */
  readDurable(path: string): Uint8Array {
    return this.#existingFile(normalize(path), 'open').durable.toBytes()
  }

  #damage(p: string, offset: number, mask: number): void {
    const file = this.#existingFile(p, 'open')
    file.durable.xor(offset, mask)
    if (offset < file.live.length) file.live.xor(offset, mask)
  }

  // ---- internals ----

  #enter(syscall: string, path: string): void {
    if (this.#halted) throw new SimCrashError(syscall, path)
  }

  #done(kind: OperationKind, path: string): void {
    const index = ++this.#operations
    if (this.#crashAt !== undefined && index >= this.#crashAt) this.#halted = true
    this.#hook?.({ index, kind, path })
  }

  #resize(file: SimFile, length: number, allocating: boolean, syscall: string, path: string): void {
    if (!file.linked) return
    const delta = length - file.live.length
    if (allocating && delta > 0 && this.#capacity !== undefined && this.#used + delta > this.#capacity) {
      throw fsError('ENOSPC', syscall, path, `${this.#used} of ${this.#capacity} bytes used`)
    }
    this.#used += delta
  }

  #syncFault(path: string, dir: boolean): boolean {
    const fault = this.#faults.find((f) => (!dir || f.dirs) && (f.path === undefined || (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path))))
    if (fault === undefined) return false
    if (--fault.remaining === 0) this.#faults = this.#faults.filter((f) => f !== fault)
    return true
  }

  /** Applies a namespace change to the live entries and queues it until fsyncDir. */
  #change(description: string, edits: Edit[]): void {
    for (const e of edits) {
      if (e.target === undefined) e.dir.entries.delete(e.name)
      else e.dir.entries.set(e.name, e.target)
    }
    this.#pending.push({ description, edits })
  }

  /** Stops counting a removed file (or a removed tree's files) against capacity. */
  #forget(node: Inode): void {
    if (node.kind === 'dir') {
      for (const child of node.entries.values()) this.#forget(child)
    } else if (node.linked) {
      this.#used -= node.live.length
      node.linked = false
    }
  }

  /** The live node at `p`: undefined when missing, ENOTDIR when a file is used as a directory. */
  #walk(p: string, syscall: string): Inode | undefined {
    let node: Inode = this.#root
    for (const part of split(p)) {
      if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, p)
      const next = node.entries.get(part)
      if (next === undefined) return undefined
      node = next
    }
    return node
  }

  #parent(p: string, syscall: string): { dir: SimDir; name: string } {
    if (p === '/') throw fsError('EINVAL', syscall, p, 'the root has no parent')
    const dir = this.#walk(posix.dirname(p), syscall)
    if (dir === undefined) throw fsError('ENOENT', syscall, p)
    if (dir.kind !== 'dir') throw fsError('ENOTDIR', syscall, p)
    return { dir, name: posix.basename(p) }
  }

  #existingFile(p: string, syscall: string): SimFile {
    const node = this.#walk(p, syscall)
    if (node === undefined) throw fsError('ENOENT', syscall, p)
    if (node.kind === 'dir') throw fsError('EISDIR', syscall, p)
    return node
  }

  #existingDir(p: string, syscall: string): SimDir {
    const node = this.#walk(p, syscall)
    if (node === undefined) throw fsError('ENOENT', syscall, p)
    if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, p)
    return node
  }

  #create(p: string, syscall: string): SimFile {
    const { dir, name } = this.#parent(p, syscall)
    const file = new SimFile()
    this.#change(`create ${p}`, [{ dir, name, target: file }])
    return file
  }

  #openFile(p: string, mode: OpenMode, syscall: string): SimFile {
    const node = this.#walk(p, syscall)
    if (node?.kind === 'dir') throw fsError('EISDIR', syscall, p)
    if (node !== undefined) {
      if (mode === 'createExclusive') throw fsError('EEXIST', syscall, p)
      return node
    }
    if (mode === 'read' || mode === 'readWrite') throw fsError('ENOENT', syscall, p)
    const file = this.#create(p, syscall)
    this.#done('create', p)
    return file
  }
}
