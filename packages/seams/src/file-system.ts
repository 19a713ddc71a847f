/**
 * How a file is opened.
 * - `read`: read-only, the file must exist.
 * - `readWrite`: read and write, the file must exist.
 * - `create`: read and write, created empty when missing.
 * - `createExclusive`: read and write, created; fails with code `EEXIST` when it exists.
 */
export type OpenMode = 'read' | 'readWrite' | 'create' | 'createExclusive'

export interface FileStat {
  readonly size: number
  readonly isDirectory: boolean
}

/** An open file. Positions and sizes are byte offsets (safe integers). */
export interface FileHandle {
  readonly path: string
  /** Reads up to `buffer.length` bytes at `position`; returns how many were read (fewer at end of file). */
  read(buffer: Uint8Array, position: number): Promise<number>
  /** Writes all of `buffer` at `position`. Not durable until `sync` or `datasync`. */
  write(buffer: Uint8Array, position: number): Promise<void>
  /** fsync: data and metadata are durable when it resolves. */
  sync(): Promise<void>
  /** fdatasync: data (and the size, if it changed) are durable when it resolves. */
  datasync(): Promise<void>
  /** Sets the size; bytes past it are gone, a larger size reads as zeros. */
  truncate(size: number): Promise<void>
  /**
   * Makes the file at least `size` bytes by writing zeros past the current end, so the blocks
   * are really allocated (a later overwrite plus fdatasync need not allocate). Never shrinks.
   */
  allocate(size: number): Promise<void>
  size(): Promise<number>
  close(): Promise<void>
}

/** An exclusive lock on a file, held until released or the process dies. */
export interface FileLock {
  readonly path: string
  release(): Promise<void>
}

/**
 * Every file operation a core performs. Errors carry Node's `code` (`ENOENT`, `EEXIST`, `EIO`,
 * `ENOSPC`, ...) or, for `lock`, `ERR_SEAMS_LOCKED`. The default is {@link nodeFileSystem};
 * testkit's SimFileSystem implements the same contract with a crash model.
 *
 * Durability contract (what SimFileSystem enforces): written bytes survive a crash only once
 * the file was synced; a create, rename or unlink survives only once its directory was synced
 * with `fsyncDir`.
 */
export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>
  /** The whole file's bytes. */
  readFile(path: string): Promise<Uint8Array>
  /** Creates or replaces the file with `data`. Not durable until synced (open it and `sync`). */
  writeFile(path: string, data: Uint8Array): Promise<void>
  /** Atomically replaces `to` with `from`. Durable once the directory is synced. */
  rename(from: string, to: string): Promise<void>
  unlink(path: string): Promise<void>
  /** Creates the directory and its missing parents; succeeds when it exists. */
  mkdir(path: string): Promise<void>
  /** Removes a file or a directory tree; succeeds when it is missing. */
  rm(path: string): Promise<void>
  /** The names in a directory, sorted by code unit. */
  readdir(path: string): Promise<string[]>
  /** The file's size and kind, or `undefined` when it does not exist. */
  stat(path: string): Promise<FileStat | undefined>
  /** Makes creates, renames and unlinks in the directory durable. */
  fsyncDir(path: string): Promise<void>
  /**
   * Takes an exclusive, non-blocking lock on `path` (created when missing). A second lock on
   * the same file, from this process or another, fails at once with code `ERR_SEAMS_LOCKED`.
   * The lock ends with `release()` or with the process (the kernel drops a flock when its
   * descriptor closes). `nodeFileSystem` needs the optional addon `fs-ext` here, and fails with
   * `ERR_SEAMS_LOCK_UNAVAILABLE` without it.
   */
  lock(path: string): Promise<FileLock>
}
