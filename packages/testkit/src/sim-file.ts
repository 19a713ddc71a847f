import type { Prng } from './prng.js'

/** The unit a disk writes atomically: a write torn by power loss lands a prefix of its sectors. */
export const SECTOR_SIZE = 512

/**
 * A growable byte array: the contents of a file as one layer (live or durable) sees them.
 * Invariant: every byte of `#bytes` at or past `#length` is zero, so growing reads as zeros.
 */
export class Contents {
  #bytes: Uint8Array
  #length: number

  constructor(bytes: Uint8Array = new Uint8Array(0)) {
    this.#bytes = bytes
    this.#length = bytes.length
  }

  get length(): number { return this.#length }

  #reserve(size: number): void {
    if (size <= this.#bytes.length) return
    const grown = new Uint8Array(Math.max(size, this.#bytes.length * 2, 64))
    grown.set(this.#bytes.subarray(0, this.#length))
    this.#bytes = grown
  }

  /** Copies bytes at `position` into `into`; returns how many (0 at or past the end). */
  read(into: Uint8Array, position: number): number {
    if (position >= this.#length) return 0
    const n = Math.min(into.length, this.#length - position)
    into.set(this.#bytes.subarray(position, position + n))
    return n
  }

  write(position: number, data: Uint8Array): void {
    const end = position + data.length
    this.#reserve(end)
    this.#bytes.set(data, position)
    if (end > this.#length) this.#length = end
  }

  truncate(size: number): void {
    if (size < this.#length) this.#bytes.fill(0, size, this.#length)
    else this.#reserve(size)
    this.#length = size
  }

  /** Flips bits of the byte at `offset` (which must be inside the contents). */
  xor(offset: number, mask: number): void {
    if (offset < 0 || offset >= this.#length) throw new RangeError(`offset ${offset} is outside the ${this.#length} bytes`)
    this.#bytes[offset]! ^= mask
  }

  clone(): Contents { return new Contents(this.toBytes()) }
  toBytes(): Uint8Array { return this.#bytes.slice(0, this.#length) }
}

/** A write or truncate that reached the page cache but not yet the disk. */
export type PendingWrite =
  | { readonly kind: 'write'; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly size: number }

/** How `crash()` treats what was not made durable. */
export type CrashMode = 'random' | 'pessimistic' | 'keepAll'

/** A write of which only the first sectors reached the disk. */
export interface TornWrite {
  readonly path: string
  readonly position: number
  readonly length: number
  /** Bytes of the write that landed, ending on a sector boundary; 0 < landed < length. */
  readonly landed: number
}

/** What a crash kept and lost, so a test can assert it exercised the case it means to. */
export interface CrashReport {
  writesKept: number
  writesLost: number
  readonly writesTorn: TornWrite[]
  truncatesKept: number
  truncatesLost: number
  /** Descriptions (`rename /a -> /b`) of un-fsynced namespace changes that survived. */
  readonly namespaceKept: string[]
  /** Descriptions of un-fsynced namespace changes the crash undid. */
  readonly namespaceUndone: string[]
}

export function emptyReport(): CrashReport {
  return { writesKept: 0, writesLost: 0, writesTorn: [], truncatesKept: 0, truncatesLost: 0, namespaceKept: [], namespaceUndone: [] }
}

/** The absolute offsets of sector boundaries strictly inside [position, position + length). */
function sectorCuts(position: number, length: number): number[] {
  const cuts: number[] = []
  const end = position + length
  for (let b = (Math.floor(position / SECTOR_SIZE) + 1) * SECTOR_SIZE; b < end; b += SECTOR_SIZE) cuts.push(b)
  return cuts
}

function apply(contents: Contents, op: PendingWrite): void {
  if (op.kind === 'write') contents.write(op.position, op.data)
  else contents.truncate(op.size)
}

/**
 * A file's inode: the bytes readers see (`live`) and the bytes on the disk (`durable`), with
 * the writes in between in order. Invariant: `live` equals `durable` with every pending write
 * applied, except writes an fsync failure dropped (see {@link SimFile.dropPending}).
 */
export class SimFile {
  readonly kind = 'file'
  live = new Contents()
  durable = new Contents()
  pending: PendingWrite[] = []
  /** Invariant: true while a live directory entry names this file (it counts against capacity). */
  linked = true

  write(position: number, data: Uint8Array): void {
    const op: PendingWrite = { kind: 'write', position, data: new Uint8Array(data) } // a copy: a Buffer's slice() is a view
    this.pending.push(op)
    apply(this.live, op)
  }

  truncate(size: number): void {
    const op: PendingWrite = { kind: 'truncate', size }
    this.pending.push(op)
    apply(this.live, op)
  }

  /** fsync: the pending writes reach the disk in order. */
  sync(): void {
    for (const op of this.pending) apply(this.durable, op)
    this.pending = []
  }

  /**
   * A failed fsync on Linux marks the dirty pages clean: the writes stay visible but will never
   * reach the disk, and a retried fsync succeeds without them ("fsyncgate", PostgreSQL 2018).
   */
  dropPending(): void { this.pending = [] }

  /** Decides what of the pending writes reached the disk, then forgets the page cache. */
  crash(prng: Prng, mode: CrashMode, path: string, report: CrashReport): void {
    for (const op of this.pending) {
      if (mode === 'keepAll') apply(this.durable, op)
      else if (mode === 'random') this.#land(prng, op, path, report)
      else if (op.kind === 'write') report.writesLost++
      else report.truncatesLost++
    }
    if (mode === 'keepAll') for (const op of this.pending) op.kind === 'write' ? report.writesKept++ : report.truncatesKept++
    this.pending = []
    this.live = this.durable.clone()
  }

  /**
   * One pending op under a random crash: lost, landed whole, or (a write spanning several
   * sectors) torn after a random sector. Ops are decided independently, so a later write may
   * land while an earlier one is lost: the disk reorders what the page cache flushes.
   */
  #land(prng: Prng, op: PendingWrite, path: string, report: CrashReport): void {
    if (op.kind === 'truncate') {
      if (prng.bool()) { apply(this.durable, op); report.truncatesKept++ } else report.truncatesLost++
      return
    }
    const cuts = sectorCuts(op.position, op.data.length)
    const choice = prng.int(cuts.length > 0 ? 3 : 2)
    if (choice === 0) { report.writesLost++; return }
    if (choice === 1) { apply(this.durable, op); report.writesKept++; return }
    const landed = prng.pick(cuts) - op.position
    this.durable.write(op.position, op.data.subarray(0, landed))
    report.writesTorn.push({ path, position: op.position, length: op.data.length, landed })
  }
}

/**
 * A directory's inode. Invariant: `durable` holds the entries the disk has; `entries` the live
 * ones, which differ by the namespace changes not yet made durable by fsyncDir.
 */
export class SimDir {
  readonly kind = 'dir'
  entries = new Map<string, Inode>()
  durable = new Map<string, Inode>()
}

export type Inode = SimFile | SimDir
