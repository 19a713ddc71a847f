import { join } from 'node:path'
import type { FileHandle, FileSystem } from '@strata/seams'
import { FRAME_HEADER_BYTES, frameSeed } from './record.js'
import type { SegmentName } from './wal-name.js'

/** A file ready to become the next segment. */
export interface PreparedFile {
  readonly handle: FileHandle
  readonly path: string
  /** The seed found at the head of a recycled file (its last life), to be avoided. */
  readonly oldSeed: number | undefined
}

export interface FilePipelineOptions {
  readonly fs: FileSystem
  readonly dir: string
  /** Bytes every prepared file is allocated to. */
  readonly sizeBytes: number
  /** Hands out the oldest released segment to recycle, or `undefined` to allocate a fresh file. */
  readonly takeRecyclable: () => SegmentName | undefined
}

/**
 * Keeps the next segment file ready (`0.tmp` / `1.tmp`, alternating so the one being handed out
 * never collides with the one being prepared), so a cut never waits for allocation. A released
 * segment is recycled by renaming it to the tmp name — its blocks are already allocated — and a
 * fresh file is allocated only when none is released.
 */
export class FilePipeline {
  readonly #opts: FilePipelineOptions
  /** Invariant: counts files prepared; the next tmp name is `${count % 2}.tmp`. */
  #count = 0
  /** Invariant: the file being prepared or ready; undefined only after close. */
  #next: Promise<PreparedFile> | undefined

  constructor(opts: FilePipelineOptions) {
    this.#opts = opts
    this.#next = this.#startNext()
  }

  /** The prepared file (waiting for it if still in preparation); starts preparing the one after. */
  async take(): Promise<PreparedFile> {
    const next = this.#next
    if (next === undefined) throw new Error('FilePipeline.take after close')
    const file = await next
    this.#next = this.#startNext()
    return file
  }

  /** Waits for the preparation in flight and deletes the unused file. Never throws. */
  async close(): Promise<void> {
    const next = this.#next
    this.#next = undefined
    if (next === undefined) return
    try {
      const file = await next
      await file.handle.close()
      await this.#opts.fs.unlink(file.path)
    } catch {
      // A failed preparation or a vanished tmp file leaves nothing to clean that open won't.
    }
  }

  #startNext(): Promise<PreparedFile> {
    const path = join(this.#opts.dir, `${this.#count % 2}.tmp`)
    this.#count++
    const p = this.#prepare(path)
    // The error is reported by take(); keep an unobserved rejection from crashing the process.
    p.catch(() => {})
    return p
  }

  async #prepare(path: string): Promise<PreparedFile> {
    const { fs, dir, sizeBytes } = this.#opts
    const recycled = this.#opts.takeRecyclable()
    if (recycled !== undefined) {
      await fs.rename(join(dir, recycled.name), path)
      // Durable before the file is overwritten: after a crash the old name must never come
      // back holding new contents.
      await fs.fsyncDir(dir)
      const handle = await fs.open(path, 'readWrite')
      const head = new Uint8Array(FRAME_HEADER_BYTES)
      const n = await handle.read(head, 0)
      const oldSeed = n === FRAME_HEADER_BYTES ? frameSeed(new DataView(head.buffer), 0) : undefined
      // The last life's bytes stay past this life's records, and a reader tells them apart by
      // the seed in their frame header. Space too short for a whole header before the end of the
      // file would read as a torn write instead, so the file is cut to its size (a last batch
      // may have grown it) and its last header's worth of bytes zeroed: such space is then zeros.
      await handle.allocate(sizeBytes)
      await handle.truncate(sizeBytes)
      await handle.write(new Uint8Array(FRAME_HEADER_BYTES), sizeBytes - FRAME_HEADER_BYTES)
      await handle.sync()
      return { handle, path, oldSeed }
    }
    const handle = await fs.open(path, 'create')
    await handle.truncate(0)
    await handle.allocate(sizeBytes)
    // Flushing the zeros here, off the cut path, keeps the cut's own fsync small.
    await handle.sync()
    return { handle, path, oldSeed: undefined }
  }
}
