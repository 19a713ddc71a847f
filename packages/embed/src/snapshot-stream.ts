import { join } from 'node:path'
import { type Message, MessageType, decodeMessage, encodeMessage } from '@strata/raft'
import type { Clock, FileHandle, FileSystem, MemberId, Rng, Timer, Transport } from '@strata/seams'
import xxhash from 'xxhash-wasm'
import type { Progress } from './options.js'

/**
 * Transport frames of a streamed snapshot (first byte; 0 is raft, 1/2 the hash check):
 * data frames from the sender, acknowledgements from the receiver.
 */
export const FRAME_SNAP_DATA = 3
export const FRAME_SNAP_ACK = 4

/** Data frame kinds: the raft MsgSnap (metadata only), a piece of the backend's stream, the trailer. */
const KIND_BEGIN = 0
const KIND_CHUNK = 1
const KIND_END = 2
/** Ack kinds: every seq up to `seq` is received; the stream is durable and verified; the stream failed. */
const ACK_PROGRESS = 0
const ACK_DONE = 1
const ACK_FAILED = 2

/**
 * Every frame: [frame u8][stream id u32][seq u32][kind u8][xxhash32 u32 of the frame with this
 * field zeroed][payload], big-endian. A chunk's payload is [offset f64][bytes]; the trailer's is
 * [total bytes f64][xxhash64 of the whole stream, 8 bytes].
 */
const HEADER = 14
const CHECKSUM_AT = 10
/** The largest chunk: a frame stays well below any transport's message limit. */
export const MAX_CHUNK_BYTES = 1024 * 1024
/** Received snapshots live here: `<id>-<from>.part` while arriving, `<index>.snap.db` once complete. */
const DIR = 'snap-db'

type XxHash = Awaited<ReturnType<typeof xxhash>>
let shared: Promise<XxHash> | undefined
const hasher = (): Promise<XxHash> => (shared ??= xxhash())

/** Compiles the hash functions once per process; awaited at open so no stream waits on it later (and simulations stay deterministic). */
export async function snapshotStreamReady(): Promise<void> {
  await hasher()
}

export interface SnapshotStreamHost {
  /** The member's directory; received snapshots go to `<dir>/snap-db/`. */
  readonly dir: string
  readonly fs: FileSystem
  readonly clock: Clock
  readonly rng: Rng
  readonly transport: Transport
  /** A consistent copy of the state, read lazily (the backend's snapshot stream). */
  readonly snapshot: () => AsyncIterable<Uint8Array>
  /** The leader's side: the stream to `to` ended (raft's reportSnapshot Finish/Failure). */
  readonly reportSnapshot: (to: MemberId, ok: boolean) => void
  /** The receiver's side: the data is durable and verified; raft may take the MsgSnap now. */
  readonly stepSnapshot: (m: Message) => void
  readonly onProgress?: ((p: Progress) => void) | undefined
}

export interface SnapshotStreamOptions {
  /** Bytes per chunk, 1 KiB to 1 MiB. Default 1 MiB. */
  readonly chunkBytes?: number
  /** Chunks sent and not yet acknowledged, per stream. Default 4 (sender memory ≈ window × chunk). */
  readonly window?: number
  /** An unacknowledged frame is sent again after this many ms. */
  readonly resendMs: number
  /** A stream that makes no progress for this many ms fails (raft retries with a new one). */
  readonly stallMs: number
  /** The receiver fdatasyncs every this many bytes, so the final sync stays short. Default 64 MiB. */
  readonly syncEveryBytes?: number
}

/** Counters for tests and operators. */
export interface SnapshotStreamStats {
  /** Data frames sent, resends included. */
  sent: number
  resent: number
  /** The most chunks one stream ever had unacknowledged (bounded by the window). */
  maxInFlight: number
  /** Frames refused by the receiver: damaged (checksum) or not understood. */
  refused: number
  /** Outgoing streams that ended Finish / Failure. */
  finished: number
  failed: number
  /** Incoming streams complete, verified and handed to raft; and those that failed here. */
  received: number
  receiveFailed: number
}

interface Unacked {
  readonly frame: Uint8Array
  sentAt: number
}

interface Outgoing {
  readonly id: number
  readonly to: MemberId
  readonly msg: Message
  source: AsyncIterator<Uint8Array> | undefined
  rest: Uint8Array
  readonly unacked: Map<number, Unacked>
  begun: boolean
  exhausted: boolean
  nextSeq: number
  offset: number
  hash: ReturnType<XxHash['create64']> | undefined
  lastProgress: number
  pumping: boolean
  over: boolean
}

interface Incoming {
  readonly id: number
  readonly from: MemberId
  readonly msg: Message
  readonly path: string
  readonly handle: FileHandle
  next: number
  /** Frames ahead of `next`, at most `window` of them. */
  readonly ahead: Map<number, Uint8Array>
  offset: number
  unsynced: number
  readonly hash: ReturnType<XxHash['create64']>
  lastActivity: number
}

/**
 * Streams a raft snapshot's data beside the raft message, as etcd's snapshot sender does over
 * its peer HTTP: raft's MsgSnap carries the metadata only; the backend's snapshot stream follows
 * over the Transport seam in chunks of at most 1 MiB, at most `window` unacknowledged at a time
 * (the sender reads the stream lazily, so its memory is bounded by the window), each frame with
 * its own checksum (a damaged one is refused and sent again) and the whole stream with an
 * xxhash64. Frames may be lost, duplicated or reordered: sequence numbers, resends after
 * `resendMs` and an idempotent receiver handle it. The receiver writes into a temporary file
 * under the member's directory, fsyncs it, renames it to `<index>.snap.db`, and only then steps
 * the MsgSnap into raft; the member restores from that file when raft hands the snapshot over
 * (and again at open if it crashed in between). The sender reports Finish once the receiver
 * says the data is durable, Failure on a refusal, a receiver that lost the stream (restart) or
 * `stallMs` without progress; raft then sends a new snapshot.
 */
export class SnapshotStream {
  readonly #host: SnapshotStreamHost
  readonly #chunkBytes: number
  readonly #window: number
  readonly #resendMs: number
  readonly #stallMs: number
  readonly #syncEvery: number
  readonly #out = new Map<MemberId, Outgoing>()
  #in: Incoming | undefined
  /** Streams this receiver ended recently ("from:id" → ack kind), so late duplicates get the same answer. */
  readonly #ended = new Map<string, number>()
  /** Invariant: incoming frames are handled one at a time, in arrival order; `#queued` of them wait. */
  #work: Promise<void> = Promise.resolve()
  #queued = 0
  #timer: Timer | undefined
  #closed = false
  readonly stats: SnapshotStreamStats = { sent: 0, resent: 0, maxInFlight: 0, refused: 0, finished: 0, failed: 0, received: 0, receiveFailed: 0 }

  constructor(host: SnapshotStreamHost, options: SnapshotStreamOptions) {
    this.#host = host
    this.#chunkBytes = Math.max(1024, Math.min(MAX_CHUNK_BYTES, options.chunkBytes ?? MAX_CHUNK_BYTES))
    this.#window = Math.max(1, options.window ?? 4)
    this.#resendMs = Math.max(1, options.resendMs)
    this.#stallMs = Math.max(this.#resendMs, options.stallMs)
    this.#syncEvery = options.syncEveryBytes ?? 64 * 1024 * 1024
  }

  /** Outgoing and incoming streams under way. */
  get active(): { outgoing: number; incoming: number } {
    return { outgoing: this.#out.size, incoming: this.#in === undefined ? 0 : 1 }
  }

  // ---- sender ------------------------------------------------------------------------

  /** Sends raft's MsgSnap `m` with the state streamed beside it (a stream to the same peer under way is dropped). */
  send(m: Message): void {
    if (this.#closed) return
    const old = this.#out.get(m.to)
    if (old !== undefined) void this.#endOutgoing(old, undefined)
    const meta = { data: new Uint8Array(0), metadata: m.snapshot!.metadata }
    const o: Outgoing = {
      id: this.#host.rng.nextU32(), to: m.to, msg: { ...m, snapshot: meta }, source: undefined, rest: new Uint8Array(0),
      unacked: new Map(), begun: false, exhausted: false, nextSeq: 1, offset: 0, hash: undefined, lastProgress: this.#host.clock.now(), pumping: false, over: false,
    }
    this.#out.set(m.to, o)
    this.#arm()
    void hasher().then((h) => {
      if (o.over) return
      const body = encodeMessage(o.msg)
      const f = newFrame(FRAME_SNAP_DATA, o.id, 0, KIND_BEGIN, body.length)
      f.set(body, HEADER)
      this.#sendData(o, 0, seal(h, f), false)
    })
  }

  #sendData(o: Outgoing, seq: number, f: Uint8Array, chunk: boolean): void {
    o.unacked.set(seq, { frame: f, sentAt: this.#host.clock.now() })
    this.stats.sent++
    if (chunk && o.unacked.size > this.stats.maxInFlight) this.stats.maxInFlight = o.unacked.size
    this.#host.transport.send(o.to, f)
  }

  /** Fills the window: reads the source only while fewer than `window` chunks are unacknowledged. */
  async #pump(o: Outgoing): Promise<void> {
    if (o.pumping || o.over || !o.begun) return
    o.pumping = true
    try {
      const h = await hasher()
      o.source ??= this.#host.snapshot()[Symbol.asyncIterator]()
      const hash = (o.hash ??= h.create64())
      while (!o.over && !o.exhausted && o.unacked.size < this.#window) {
        const f = newFrame(FRAME_SNAP_DATA, o.id, o.nextSeq, KIND_CHUNK, 8 + this.#chunkBytes)
        let n = 0
        while (n < this.#chunkBytes) {
          if (o.rest.length === 0) {
            const r = await o.source.next()
            if (o.over) return
            if (r.done === true) {
              o.exhausted = true
              break
            }
            o.rest = r.value
          }
          const take = Math.min(this.#chunkBytes - n, o.rest.length)
          f.set(o.rest.subarray(0, take), HEADER + 8 + n)
          o.rest = o.rest.subarray(take)
          n += take
        }
        if (n > 0) {
          const chunk = f.subarray(0, HEADER + 8 + n)
          new DataView(chunk.buffer, chunk.byteOffset).setFloat64(HEADER, o.offset)
          hash.update(chunk.subarray(HEADER + 8))
          o.offset += n
          this.#sendData(o, o.nextSeq++, seal(h, chunk), true)
        }
        if (o.exhausted) {
          const end = newFrame(FRAME_SNAP_DATA, o.id, o.nextSeq, KIND_END, 16)
          const dv = new DataView(end.buffer)
          dv.setFloat64(HEADER, o.offset)
          dv.setBigUint64(HEADER + 8, hash.digest())
          this.#sendData(o, o.nextSeq++, seal(h, end), false)
        }
      }
    } catch (err) {
      // The state could not be read (the store is closing, the backend failed): raft retries later.
      void err
      await this.#endOutgoing(o, false)
    } finally {
      o.pumping = false
    }
  }

  #onAck(from: MemberId, id: number, seq: number, kind: number): void {
    const o = this.#out.get(from)
    if (o === undefined || o.id !== id || o.over) return
    if (kind === ACK_DONE) void this.#endOutgoing(o, true)
    else if (kind === ACK_FAILED) void this.#endOutgoing(o, false)
    else if (kind === ACK_PROGRESS) {
      let progressed = !o.begun
      o.begun = true
      for (const s of o.unacked.keys()) {
        if (s <= seq) {
          o.unacked.delete(s)
          progressed = true
        }
      }
      if (progressed) o.lastProgress = this.#host.clock.now()
      void this.#pump(o)
    }
  }

  /** Ends an outgoing stream: releases its source; `ok` reports to raft (undefined: nothing to report). */
  async #endOutgoing(o: Outgoing, ok: boolean | undefined): Promise<void> {
    if (o.over) return
    o.over = true
    o.unacked.clear()
    if (this.#out.get(o.to) === o) this.#out.delete(o.to)
    if (ok !== undefined) {
      if (ok) this.stats.finished++
      else this.stats.failed++
      if (!this.#closed) this.#host.reportSnapshot(o.to, ok)
    }
    // Waits for a read in progress, then releases the backend's read transaction.
    await o.source?.return?.()?.catch(() => {})
  }

  // ---- receiver ----------------------------------------------------------------------

  /** Takes a frame whose first byte is FRAME_SNAP_DATA or FRAME_SNAP_ACK. */
  receive(from: MemberId, bytes: Uint8Array): void {
    if (this.#closed) return
    // Bounded: frames past this are dropped like lost ones, and sent again.
    if (this.#queued > 4 * this.#window + 16) return
    this.#queued++
    this.#work = this.#work.then(async () => {
      this.#queued--
      if (this.#closed) return
      const h = await hasher()
      if (bytes.length < HEADER || !verify(h, bytes)) {
        this.stats.refused++
        return
      }
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      const id = dv.getUint32(1)
      const seq = dv.getUint32(5)
      const kind = bytes[9]!
      if (bytes[0] === FRAME_SNAP_ACK) this.#onAck(from, id, seq, kind)
      else await this.#onData(from, id, seq, kind, bytes)
    }).catch(() => {})
  }

  async #onData(from: MemberId, id: number, seq: number, kind: number, f: Uint8Array): Promise<void> {
    const key = `${from}:${id}`
    const ended = this.#ended.get(key)
    if (ended !== undefined) {
      this.#ack(from, id, ended === ACK_DONE ? seq : 0, ended)
      return
    }
    let s = this.#in
    if (s === undefined || s.from !== from || s.id !== id) {
      if (kind !== KIND_BEGIN) {
        // A stream this member does not know (it restarted, or dropped it): the sender must start over.
        this.#ack(from, id, 0, ACK_FAILED)
        return
      }
      let msg: Message
      try {
        msg = decodeMessage(f.subarray(HEADER))
      } catch {
        this.stats.refused++
        return
      }
      if (msg.type !== MessageType.MsgSnap || msg.snapshot === undefined) {
        this.stats.refused++
        return
      }
      if (s !== undefined) await this.#failIncoming(s) // one incoming stream at a time: the newest wins
      s = await this.#beginIncoming(from, id, msg)
      if (s === undefined) return
    }
    s.lastActivity = this.#host.clock.now()
    if (seq < s.next) {
      this.#ack(from, id, s.next - 1, ACK_PROGRESS) // a duplicate: say again where we are
      return
    }
    if (seq > s.next + this.#window) return
    s.ahead.set(seq, f)
    while (this.#in === s && s.ahead.has(s.next)) {
      const frame = s.ahead.get(s.next)!
      s.ahead.delete(s.next)
      const k = frame[9]!
      if (k === KIND_CHUNK) {
        if (!(await this.#write(s, frame))) return
        s.next++
        this.#ack(from, id, s.next - 1, ACK_PROGRESS)
      } else if (k === KIND_END) {
        await this.#finish(s, frame)
        return
      } else {
        await this.#failIncoming(s)
        return
      }
    }
  }

  async #beginIncoming(from: MemberId, id: number, msg: Message): Promise<Incoming | undefined> {
    const { fs } = this.#host
    const dir = join(this.#host.dir, DIR)
    const path = join(dir, `${id.toString(16).padStart(8, '0')}-${from}.part`)
    try {
      await fs.mkdir(dir)
      const handle = await fs.open(path, 'create')
      await handle.truncate(0)
      const h = await hasher()
      const s: Incoming = { id, from, msg, path, handle, next: 1, ahead: new Map(), offset: 0, unsynced: 0, hash: h.create64(), lastActivity: this.#host.clock.now() }
      this.#in = s
      this.#arm()
      this.#ack(from, id, 0, ACK_PROGRESS)
      return s
    } catch {
      this.#remember(from, id, ACK_FAILED)
      this.#ack(from, id, 0, ACK_FAILED)
      return undefined
    }
  }

  async #write(s: Incoming, f: Uint8Array): Promise<boolean> {
    const offset = new DataView(f.buffer, f.byteOffset, f.byteLength).getFloat64(HEADER)
    const data = f.subarray(HEADER + 8)
    if (offset !== s.offset || f.length < HEADER + 8) {
      await this.#failIncoming(s)
      return false
    }
    try {
      await s.handle.write(data, s.offset)
      s.hash.update(data)
      s.offset += data.length
      s.unsynced += data.length
      if (s.unsynced >= this.#syncEvery) {
        await s.handle.datasync()
        s.unsynced = 0
      }
      return true
    } catch {
      await this.#failIncoming(s)
      return false
    }
  }

  /** The trailer: check length and checksum, make the file durable under its final name, hand the MsgSnap to raft. */
  async #finish(s: Incoming, f: Uint8Array): Promise<void> {
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength)
    if (f.length !== HEADER + 16 || dv.getFloat64(HEADER) !== s.offset || dv.getBigUint64(HEADER + 8) !== s.hash.digest()) {
      await this.#failIncoming(s)
      return
    }
    const { fs } = this.#host
    const dir = join(this.#host.dir, DIR)
    const index = s.msg.snapshot!.metadata.index
    try {
      await s.handle.sync()
      await s.handle.close()
      await fs.rename(s.path, join(dir, receivedName(index)))
      await fs.fsyncDir(dir)
      await fs.fsyncDir(this.#host.dir)
    } catch {
      await this.#failIncoming(s)
      return
    }
    this.#in = undefined
    this.stats.received++
    this.#remember(s.from, s.id, ACK_DONE)
    this.#ack(s.from, s.id, s.next, ACK_DONE)
    this.#host.stepSnapshot(s.msg)
  }

  async #failIncoming(s: Incoming): Promise<void> {
    if (this.#in === s) this.#in = undefined
    this.stats.receiveFailed++
    this.#remember(s.from, s.id, ACK_FAILED)
    await discard(this.#host.fs, s)
    this.#ack(s.from, s.id, 0, ACK_FAILED)
  }

  #remember(from: MemberId, id: number, kind: number): void {
    this.#ended.set(`${from}:${id}`, kind)
    if (this.#ended.size > 64) this.#ended.delete(this.#ended.keys().next().value!)
  }

  #ack(to: MemberId, id: number, seq: number, kind: number): void {
    void hasher().then((h) => {
      if (!this.#closed) this.#host.transport.send(to, seal(h, newFrame(FRAME_SNAP_ACK, id, seq, kind, 0)))
    })
  }

  // ---- time --------------------------------------------------------------------------

  /** One timer while any stream is under way: resends what is overdue, fails what stalled. */
  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return
    this.#timer = this.#host.clock.setTimer(this.#resendMs, () => {
      this.#timer = undefined
      if (this.#closed) return
      const now = this.#host.clock.now()
      for (const o of [...this.#out.values()]) {
        if (now - o.lastProgress >= this.#stallMs) {
          void this.#endOutgoing(o, false)
          continue
        }
        for (const u of o.unacked.values()) {
          if (now - u.sentAt < this.#resendMs) continue
          u.sentAt = now
          this.stats.sent++
          this.stats.resent++
          this.#host.transport.send(o.to, u.frame)
        }
      }
      const s = this.#in
      if (s !== undefined && now - s.lastActivity >= this.#stallMs) {
        this.#work = this.#work.then(() => (this.#in === s ? this.#failIncoming(s) : undefined)).catch(() => {})
      }
      if (this.#out.size > 0 || this.#in !== undefined) this.#arm()
    })
  }

  /** Ends every stream (nothing reported to raft), releases the backend's stream and the temporary file. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#timer?.cancel()
    await Promise.all([...this.#out.values()].map((o) => this.#endOutgoing(o, undefined)))
    await this.#work
    const s = this.#in
    this.#in = undefined
    if (s !== undefined) await discard(this.#host.fs, s)
  }
}

function receivedName(index: number): string {
  return `${index.toString(16).padStart(16, '0')}.snap.db`
}

async function discard(fs: FileSystem, s: Incoming): Promise<void> {
  await s.handle.close().catch(() => {})
  await fs.unlink(s.path).catch(() => {})
}

function newFrame(type: number, id: number, seq: number, kind: number, payload: number): Uint8Array {
  const f = new Uint8Array(HEADER + payload)
  const dv = new DataView(f.buffer)
  f[0] = type
  dv.setUint32(1, id)
  dv.setUint32(5, seq)
  f[9] = kind
  return f
}

function seal(h: XxHash, f: Uint8Array): Uint8Array {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength)
  dv.setUint32(CHECKSUM_AT, 0)
  dv.setUint32(CHECKSUM_AT, h.h32Raw(f))
  return f
}

function verify(h: XxHash, f: Uint8Array): boolean {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength)
  const stored = dv.getUint32(CHECKSUM_AT)
  dv.setUint32(CHECKSUM_AT, 0)
  const ok = h.h32Raw(f) === stored
  dv.setUint32(CHECKSUM_AT, stored)
  return ok
}

/**
 * At open: drops streams a crash interrupted (`.part`) and complete ones the backend already
 * holds (index ≤ `applied`); returns the complete one at `wanted`, if there is one, as a lazily
 * read stream for the restore (reporting `restore` progress in bytes).
 */
export async function receivedSnapshot(o: { fs: FileSystem; dir: string; onProgress?: ((p: Progress) => void) | undefined }, applied: number, wanted: number): Promise<AsyncIterable<Uint8Array> | undefined> {
  const dir = join(o.dir, DIR)
  const names = await o.fs.readdir(dir).catch(() => [] as string[])
  let found: string | undefined
  for (const name of names) {
    const m = /^([0-9a-f]{16})\.snap\.db$/.exec(name)
    const index = m === null ? -1 : Number.parseInt(m[1]!, 16)
    if (index === wanted && wanted > applied) found = name
    else await o.fs.unlink(join(dir, name))
  }
  return found === undefined ? undefined : readReceived(o, join(dir, found))
}

/** The complete snapshot received for raft snapshot `index`, read lazily; throws when there is none. */
export function receivedAt(o: { fs: FileSystem; dir: string; onProgress?: ((p: Progress) => void) | undefined }, index: number): AsyncIterable<Uint8Array> {
  return readReceived(o, join(o.dir, DIR, receivedName(index)))
}

/** Deletes the received snapshots up to `index` once the backend holds that one. */
export async function releaseReceived(fs: FileSystem, dir: string, index: number): Promise<void> {
  for (const name of await fs.readdir(join(dir, DIR)).catch(() => [] as string[])) {
    const m = /^([0-9a-f]{16})\.snap\.db$/.exec(name)
    if (m !== null && Number.parseInt(m[1]!, 16) <= index) await fs.unlink(join(dir, DIR, name)).catch(() => {})
  }
}

async function* readReceived(o: { fs: FileSystem; onProgress?: ((p: Progress) => void) | undefined }, path: string): AsyncGenerator<Uint8Array> {
  const handle = await o.fs.open(path, 'read')
  try {
    const total = await handle.size()
    let done = 0
    let reported = 0
    o.onProgress?.({ phase: 'restore', done, total })
    while (done < total) {
      const buf = new Uint8Array(Math.min(MAX_CHUNK_BYTES, total - done))
      const n = await handle.read(buf, done)
      if (n === 0) break
      done += n
      yield n === buf.length ? buf : buf.subarray(0, n)
      if (done - reported >= 16 * MAX_CHUNK_BYTES || done === total) {
        reported = done
        o.onProgress?.({ phase: 'restore', done, total })
      }
    }
  } finally {
    await handle.close()
  }
}
