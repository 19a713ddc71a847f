import assert from 'node:assert'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { BucketName, HeadChunk, ValueHead } from './backend.js'
import { backendError } from './limits.js'

/** Bytes of one chunk a scan thread fills before handing it over (a pair longer than that gets a chunk of its own). */
export const HEAD_CHUNK_BYTES = 1 << 20
/** Chunks handed over but not yet consumed before the scan thread waits: bounds the memory a scan holds. */
export const HEAD_CHUNKS_IN_FLIGHT = 4

/** Buckets with fewer pairs than this are scanned on the calling thread: a thread takes ~60 ms to start (lmdb-js loads again in it), which a shorter scan does not win back. */
export const HEAD_SCAN_THREAD_MIN_PAIRS = 200_000

/**
 * Bytes of an LMDB data file below which it cannot hold HEAD_SCAN_THREAD_MIN_PAIRS revisions
 * (each pair takes more than this: a 17-byte revision key, a record of 45 bytes and more): a
 * smaller file never gets the threaded scan, so {@link prestartScanThread} would be wasted on it.
 */
export const SCAN_THREAD_MIN_FILE_BYTES = HEAD_SCAN_THREAD_MIN_PAIRS * 64

/** A pair's check (ValueHead.check), compiled from its source. */
export type PairCheck = (key: Uint8Array, keyAt: number, keyLength: number, value: Uint8Array, valueAt: number, valueLength: number) => boolean

/** The head length's top bit: the pair failed its check and its whole value follows. */
export const HEAD_FAILED = 0x80000000

/** Compiles a ValueHead's check, or throws ERR_BACKEND_INVALID_ARGUMENT. */
export function compileCheck(source: string | undefined): PairCheck | undefined {
  if (source === undefined) return undefined
  let check: unknown
  try {
    check = typeof source === 'string' ? (0, eval)(source) : undefined
  } catch (err) {
    throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `a value head's check does not compile: ${(err as Error).message}`)
  }
  if (typeof check !== 'function') throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a value head\'s check must be the source of an expression whose value is a function')
  return check as PairCheck
}

/**
 * Packs `pairs` into chunks of about `chunkBytes`, each pair as [u16 key length][key][u32 head
 * length][value head], big-endian, the head being the first `fixed` bytes plus the u32 at
 * `lengthAt` (never more than the value), or the whole value, the length's top bit set, when it
 * fails `check`. A key always fits the u16: LMDB keys are at most MAX_KEY_BYTES (1,978). The
 * calling thread's scan of a small bucket; the scan thread packs the same layout from inside
 * lmdb-js's reading (SOURCE).
 */
export function* packHeads(pairs: Iterable<{ key: Uint8Array; value: Uint8Array }>, fixed: number, lengthAt: number, chunkBytes: number, check?: PairCheck): Generator<HeadChunk> {
  let chunk = new Uint8Array(chunkBytes)
  let pos = 0
  let count = 0
  for (const { key, value } of pairs) {
    let head = fixed
    if (value.length >= lengthAt + 4) head += ((value[lengthAt]! << 24) | (value[lengthAt + 1]! << 16) | (value[lengthAt + 2]! << 8) | value[lengthAt + 3]!) >>> 0
    if (head > value.length) head = value.length
    const failed = check !== undefined && !check(key, 0, key.length, value, 0, value.length)
    if (failed) head = value.length
    const need = 6 + key.length + head
    if (pos + need > chunk.length) {
      if (count > 0) yield { bytes: chunk.subarray(0, pos), count }
      chunk = new Uint8Array(Math.max(need, chunkBytes))
      pos = 0
      count = 0
    }
    chunk[pos] = key.length >>> 8
    chunk[pos + 1] = key.length & 255
    chunk.set(key, pos + 2)
    pos += 2 + key.length
    const word = failed ? (head | HEAD_FAILED) >>> 0 : head
    chunk[pos] = word >>> 24
    chunk[pos + 1] = (word >>> 16) & 255
    chunk[pos + 2] = (word >>> 8) & 255
    chunk[pos + 3] = word & 255
    chunk.set(value.subarray(0, head), pos + 4)
    pos += 4 + head
    count++
  }
  if (count > 0) yield { bytes: chunk.subarray(0, pos), count }
}

/**
 * The scan thread, a few lines of CommonJS evaluated in place (no file to ship or resolve). It
 * opens the same LMDB file (lmdb-js shares the environment between the threads of a process)
 * and packs the bucket as {@link packHeads} does, but from inside lmdb-js's reading: the key
 * reader copies each key to where its pair goes in the chunk (to a scratch buffer when the
 * chunk has no room for it) and the value decoder copies the value's head after it, so no view, Buffer or copy is made per pair of a short record (with views,
 * the thread spent as much time making them and collecting them as reading LMDB); a head over
 * 128 bytes is copied natively through one view, a shorter one 4 bytes at a time through a
 * DataView of lmdb-js's reused value buffer (made once). The pair's check, when the scan has
 * one, runs on the whole pair here, on this thread. `ctl[0]` counts the chunks the consumer has
 * taken; `ctl[1]` set asks the thread to stop.
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { open } = require(workerData.lmdbPath)
// lmdb-js is loaded above; what to read comes in the first message (a thread may be started
// before the file may be mapped: prestartScanThread).
parentPort.once('message', (start) => {
  const { path, options, bucket, fixed, lengthAt, chunkBytes, inFlight } = start
  const check = start.check === undefined ? undefined : (0, eval)(start.check)
  const ctl = new Int32Array(start.ctl)
  let chunk = new Uint8Array(chunkBytes)
  let chunkView = new DataView(chunk.buffer)
  let pos = 0
  let count = 0
  let sent = 0
  let stopped = false
  const scratch = new Uint8Array(1 << 16)
  let keyLength = 0
  // lmdb-js hands every short value in one reused buffer: one view of it serves them all.
  let lastBytes
  let bytesView
  function send() {
    for (;;) {
      const taken = Atomics.load(ctl, 0)
      if (Atomics.load(ctl, 1) === 1) { stopped = true; return }
      if (sent - taken < inFlight) break
      Atomics.wait(ctl, 0, taken)
    }
    parentPort.postMessage({ bytes: chunk.subarray(0, pos), count }, [chunk.buffer])
    sent++
    chunk = new Uint8Array(chunkBytes)
    chunkView = new DataView(chunk.buffer)
    pos = 0
    count = 0
  }
  // Invariant: keyInChunk when the key readKey was last given is at chunk[pos + 2, pos + 2 + keyLength), else it is in scratch.
  let keyInChunk = false
  function readKey(bytes, start, end) {
    keyLength = end - start
    // Where the pair will go when the chunk has room (decode then leaves it), else aside.
    keyInChunk = pos + 2 + keyLength <= chunk.length
    const into = keyInChunk ? chunk : scratch
    const at = keyInChunk ? pos + 2 : 0
    for (let i = 0; i < keyLength; i++) into[at + i] = bytes[start + i]
    return keyLength
  }
  function decode(bytes, size) {
    let head = fixed
    if (size >= lengthAt + 4) head += ((bytes[lengthAt] << 24) | (bytes[lengthAt + 1] << 16) | (bytes[lengthAt + 2] << 8) | bytes[lengthAt + 3]) >>> 0
    if (head > size) head = size
    const failed = check !== undefined && !check(keyInChunk ? chunk : scratch, keyInChunk ? pos + 2 : 0, keyLength, bytes, 0, size)
    if (failed) head = size
    const need = 6 + keyLength + head
    if (pos + need > chunk.length) {
      if (keyInChunk) {
        for (let i = 0; i < keyLength; i++) scratch[i] = chunk[pos + 2 + i]
        keyInChunk = false
      }
      if (count > 0) send()
      if (need > chunk.length) {
        chunk = new Uint8Array(need)
        chunkView = new DataView(chunk.buffer)
      }
    }
    let p = pos
    chunk[p] = keyLength >>> 8
    chunk[p + 1] = keyLength & 255
    p += 2
    if (!keyInChunk) for (let i = 0; i < keyLength; i++) chunk[p + i] = scratch[i]
    p += keyLength
    const word = failed ? (head | 0x80000000) >>> 0 : head
    chunk[p] = word >>> 24
    chunk[p + 1] = (word >>> 16) & 255
    chunk[p + 2] = (word >>> 8) & 255
    chunk[p + 3] = word & 255
    p += 4
    // A long head by one native copy (a view of it is the price); a short one 4 bytes at a time.
    if (head > 128) chunk.set(bytes.subarray(0, head), p)
    else {
      if (bytes !== lastBytes) {
        lastBytes = bytes
        bytesView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      }
      let i = 0
      for (; i + 4 <= head; i += 4) chunkView.setUint32(p + i, bytesView.getUint32(i))
      for (; i < head; i++) chunk[p + i] = bytes[i]
    }
    pos = p + head
    count++
    return head
  }
  const root = open({ path, ...options })
  const db = root.openDB(bucket, { encoding: 'binary', keyEncoding: 'binary', compression: false, cache: false, encoder: { decode, needsStableBuffer: false } })
  if (db.decoderCopies !== true) throw new Error('lmdb-js internals changed: the scan thread would get copies')
  db.readKey = readKey
  for (const _ of db.getRange({})) if (stopped) break
  if (!stopped && count > 0) send()
  if (!stopped) parentPort.postMessage(null)
})
`

/** The chunk size and the chunks in flight, smaller than the defaults in tests. */
export interface HeadScanTuning {
  readonly chunkBytes?: number
  readonly inFlight?: number
}

const lmdbPath = createRequire(import.meta.url).resolve('lmdb')

/** A scan thread: it loads lmdb-js, then waits for the first message saying what to read. */
const startThread = (): Worker => new Worker(SOURCE, { eval: true, workerData: { lmdbPath } })

/** Invariant: a thread started by {@link prestartScanThread} and not yet taken by a scan; undefined once it failed or exited. */
let prestarted: Worker | undefined

/**
 * Starts a scan thread now, for the next {@link scanHeadsOnThread} of this process to take: a
 * thread takes ~60-150 ms to start (Node's bootstrap, then lmdb-js loads again in it), which a
 * restart would otherwise wait for once its backend is open. `strata serve` calls it first
 * thing when its data file is big enough for the threaded scan (HEAD_SCAN_THREAD_MIN_PAIRS), so
 * the thread starts on another core while the process loads its modules and opens the
 * backend. The thread maps no file until a scan hands it one. It does not keep the process
 * alive; a second call while one waits is a no-op. {@link stopPrestartedScanThread} ends one
 * that no scan took.
 */
export function prestartScanThread(): void {
  if (prestarted !== undefined) return
  const worker = startThread()
  worker.unref()
  const forget = (): void => {
    if (prestarted === worker) prestarted = undefined
  }
  // A thread that fails before a scan takes it is dropped (the scan starts one of its own).
  worker.on('error', forget)
  worker.on('exit', forget)
  prestarted = worker
}

/** Ends the thread {@link prestartScanThread} started if no scan took it (the store opened without a threaded scan). */
export async function stopPrestartedScanThread(): Promise<void> {
  const worker = prestarted
  prestarted = undefined
  if (worker !== undefined) await worker.terminate()
}

function takePrestarted(): Worker | undefined {
  const worker = prestarted
  prestarted = undefined
  worker?.removeAllListeners('error')
  worker?.removeAllListeners('exit')
  return worker
}

/**
 * Reads `bucket` of the LMDB file at `path` on a thread of its own and yields its pairs packed
 * in chunks ({@link HeadChunk}), at most {@link HEAD_CHUNKS_IN_FLIGHT} ahead of the consumer.
 * The thread reads one LMDB read transaction: the committed state when it starts. Breaking out
 * of the loop stops the thread.
 */
export async function* scanHeadsOnThread(path: string, options: object, bucket: BucketName, head: ValueHead, tuning: HeadScanTuning = {}): AsyncGenerator<HeadChunk> {
  const { chunkBytes = HEAD_CHUNK_BYTES, inFlight = HEAD_CHUNKS_IN_FLIGHT } = tuning
  const ctl = new Int32Array(new SharedArrayBuffer(8))
  const worker = takePrestarted() ?? startThread()
  worker.ref()
  worker.postMessage({ path, options, bucket, fixed: head.fixed, lengthAt: head.lengthAt, check: head.check, chunkBytes, inFlight, ctl: ctl.buffer })
  /** Invariant: chunks received and not yet yielded; null marks the end. */
  const received: (HeadChunk | null)[] = []
  let failure: Error | undefined
  let wake: (() => void) | undefined
  worker.on('message', (m: HeadChunk | null) => {
    received.push(m)
    wake?.()
  })
  worker.on('error', (err) => {
    failure ??= err
    wake?.()
  })
  // Node delivers a thread's messages before its exit, so an exit with nothing left to take
  // means the thread ended without its end mark.
  worker.on('exit', (code) => {
    failure ??= new Error(`the scan thread exited (code ${code}) before the end of the bucket`)
    wake?.()
  })
  try {
    for (;;) {
      while (received.length === 0 && failure === undefined) await new Promise<void>((resolve) => (wake = resolve))
      // Chunks already received are taken even after a failure: the end mark may be among them.
      const next = received.shift()
      if (next === null) return
      if (next === undefined) throw backendError('ERR_BACKEND_SCAN', `scan of bucket ${bucket} failed: ${failure!.message}`, { bucket }, failure)
      yield next
      Atomics.add(ctl, 0, 1)
      Atomics.notify(ctl, 0)
    }
  } finally {
    Atomics.store(ctl, 1, 1)
    Atomics.notify(ctl, 0)
    worker.removeAllListeners('exit')
    await worker.terminate()
  }
}

/**
 * Calls `fn` for each pair of a chunk with offsets into `chunk.bytes`: the key at
 * [keyAt, keyAt + keyLength), the value head at [headAt, headAt + headLength); `failed` when the
 * pair failed the scan's check (the head is then the whole value).
 */
export function forEachHead(chunk: HeadChunk, fn: (bytes: Uint8Array, keyAt: number, keyLength: number, headAt: number, headLength: number, failed: boolean) => void): void {
  const b = chunk.bytes
  let pos = 0
  for (let i = 0; i < chunk.count; i++) {
    const keyLength = (b[pos]! << 8) | b[pos + 1]!
    const keyAt = pos + 2
    pos = keyAt + keyLength
    const word = ((b[pos]! << 24) | (b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!) >>> 0
    const headLength = word & 0x7fffffff
    fn(b, keyAt, keyLength, pos + 4, headLength, word >= HEAD_FAILED)
    pos += 4 + headLength
  }
  assert(pos === b.length, 'a head chunk holds more bytes than its pairs')
}
