import { RaftCodecError, RaftInvalidArgumentError } from './errors.js'
import type {
  ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState, Entry, EntryType,
  HardState, Message, MessageType, Snapshot, SnapshotMetadata,
} from './types.js'
import { entryHeaderSize, isKnownMessageType } from './types.js'

/**
 * The binary codec of raft's data, documented byte by byte in FORMAT.md. Little-endian; u64
 * fields are written as two u32 halves through DataView and refused on decode when they exceed
 * 2^53 - 1, so no number ever silently loses precision.
 */

/** Largest count of entries or ids, and largest byte string, a decoder accepts (limits on everything). */
export const maxDecodedItems = 1 << 24
export const maxDecodedBytes = 1 << 30


/**
 * Messages are encoded into views of a shared slab: a fresh Uint8Array over 64 bytes is an
 * off-heap allocation (~0.5-1.5 µs, and work for the garbage collector), paid by every message
 * (the fixed part alone is 70 bytes); a view of the slab costs an on-heap object. A message is
 * transient (a transport writes or copies it), so a live one pins at most its slab; messages
 * over `pooledMaxBytes` get their own buffer. Only messages are pooled: the other encodings may
 * be kept for long (a stored conf state), where a pinned slab would be memory held for nothing.
 */
const slabBytes = 64 * 1024
const pooledMaxBytes = 4096
let slab = new Uint8Array(slabBytes)
let slabView = new DataView(slab.buffer)
let slabUsed = 0

/**
 * Decoded entry data share slabs too (a separate one, never handed to an encoder): entries
 * are kept in the raft log until a snapshot compacts it and in the WAL's queue until written,
 * and go in log order, so a slab is freed once the entries it holds are.
 */
let entrySlab = new Uint8Array(slabBytes)
let entrySlabUsed = 0

class Writer {
  /** Invariant: `#pos <= #end`; the output is `#buf[#start..#end)` (the whole of `#buf` when not pooled). */
  #buf: Uint8Array
  #view: DataView
  #start = 0
  #pos = 0
  #end: number

  /** A writer of `size` bytes (`pooled`: a view of the message slab; see above). */
  constructor(size: number, pooled = false) {
    if (pooled && size <= pooledMaxBytes) {
      if (slabUsed + size > slabBytes) {
        slab = new Uint8Array(slabBytes)
        slabView = new DataView(slab.buffer)
        slabUsed = 0
      }
      this.#buf = slab
      this.#view = slabView
      this.#start = this.#pos = slabUsed
      this.#end = slabUsed + size
      // 8-byte aligned, so a consumer's DataView or typed array over the result starts aligned.
      slabUsed += (size + 7) & ~7
    } else {
      this.#buf = new Uint8Array(size)
      this.#view = new DataView(this.#buf.buffer)
      this.#end = size
    }
  }

  u8(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RaftInvalidArgumentError('field', `a u8 field (a type tag) must be an integer in [0, 255], got ${String(v)}`)
    this.#view.setUint8(this.#pos, v); this.#pos += 1
  }
  u32(v: number): void { this.#view.setUint32(this.#pos, v, true); this.#pos += 4 }
  u64(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RaftInvalidArgumentError('field', `a u64 field (index, term or id) must be a safe non-negative integer, got ${String(v)}`)
    this.#view.setUint32(this.#pos, v % 0x100000000, true)
    this.#view.setUint32(this.#pos + 4, Math.floor(v / 0x100000000), true)
    this.#pos += 8
  }
  bytes(b: Uint8Array): void {
    if (!(b instanceof Uint8Array)) throw new RaftInvalidArgumentError('field', `a bytes field must be a Uint8Array, got ${typeof b}`)
    this.u32(b.length); this.#buf.set(b, this.#pos); this.#pos += b.length }
  done(): Uint8Array {
    if (this.#pos !== this.#end) throw new Error(`codec size mismatch: wrote ${this.#pos - this.#start}, sized ${this.#end - this.#start}`)
    return this.#start === 0 && this.#end === this.#buf.length ? this.#buf : this.#buf.subarray(this.#start, this.#end)
  }
}

class Reader {
  readonly what: string
  /** Invariant: `#pos <= #buf.length`. */
  #buf: Uint8Array
  #view: DataView
  #pos = 0

  constructor(what: string, buf: Uint8Array) {
    this.what = what
    this.#buf = buf
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  fail(reason: string): never { throw new RaftCodecError(this.what, reason, this.#pos) }
  #need(n: number): void { if (this.#pos + n > this.#buf.length) this.fail(`truncated (need ${n} more bytes)`) }
  u8(): number { this.#need(1); return this.#view.getUint8(this.#pos++) }
  u32(): number { this.#need(4); const v = this.#view.getUint32(this.#pos, true); this.#pos += 4; return v }
  u64(): number {
    this.#need(8)
    const lo = this.#view.getUint32(this.#pos, true)
    const hi = this.#view.getUint32(this.#pos + 4, true)
    if (hi > 0x1fffff) this.fail('u64 exceeds 2^53 - 1')
    this.#pos += 8
    return hi * 0x100000000 + lo
  }
  count(): number { const n = this.u32(); if (n > maxDecodedItems) this.fail(`count ${n} over limit`); return n }
  bytes(): Uint8Array {
    const n = this.u32()
    if (n > maxDecodedBytes) this.fail(`length ${n} over limit`)
    this.#need(n)
    const out = this.#buf.slice(this.#pos, this.#pos + n)
    this.#pos += n
    return out
  }
  /**
   * {@link bytes} for an entry's data: a copy up to `pooledMaxBytes` is a view of a slab of
   * its own (see entrySlab), not an ArrayBuffer each — a follower decodes every entry the
   * leader replicates.
   */
  entryData(): Uint8Array {
    const n = this.u32()
    if (n > maxDecodedBytes) this.fail(`length ${n} over limit`)
    this.#need(n)
    let out: Uint8Array
    if (n > pooledMaxBytes) out = this.#buf.slice(this.#pos, this.#pos + n)
    else {
      if (entrySlabUsed + n > slabBytes) {
        entrySlab = new Uint8Array(slabBytes)
        entrySlabUsed = 0
      }
      out = entrySlab.subarray(entrySlabUsed, entrySlabUsed + n)
      out.set(this.#buf.subarray(this.#pos, this.#pos + n))
      entrySlabUsed += (n + 7) & ~7
    }
    this.#pos += n
    return out
  }
  bool(): boolean { const b = this.u8(); if (b > 1) this.fail(`bad boolean ${b}`); return b === 1 }
  end(): void { if (this.#pos !== this.#buf.length) this.fail(`${this.#buf.length - this.#pos} trailing bytes`) }
}

function writeEntry(w: Writer, e: Entry): void {
  w.u8(e.type); w.u64(e.term); w.u64(e.index); w.bytes(e.data)
}

function readEntry(r: Reader): Entry {
  const type = r.u8()
  if (type > 2) r.fail(`unknown entry type ${type}`)
  const term = r.u64()
  const index = r.u64()
  return { type: type as EntryType, term, index, data: r.entryData() }
}

const idsSize = (ids: readonly number[]): number => 4 + 8 * ids.length
function confStateSize(cs: ConfState): number {
  return 1 + idsSize(cs.voters) + idsSize(cs.learners) + idsSize(cs.votersOutgoing) + idsSize(cs.learnersNext)
}
function writeIds(w: Writer, ids: readonly number[]): void { w.u32(ids.length); for (const id of ids) w.u64(id) }
function readIds(r: Reader): number[] {
  const n = r.count()
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(r.u64())
  return out
}
function writeConfState(w: Writer, cs: ConfState): void {
  w.u8(cs.autoLeave ? 1 : 0)
  writeIds(w, cs.voters); writeIds(w, cs.learners); writeIds(w, cs.votersOutgoing); writeIds(w, cs.learnersNext)
}
function readConfState(r: Reader): ConfState {
  const autoLeave = r.bool()
  return { autoLeave, voters: readIds(r), learners: readIds(r), votersOutgoing: readIds(r), learnersNext: readIds(r) }
}

const metadataSize = (m: SnapshotMetadata): number => confStateSize(m.confState) + 16
const snapshotSize = (s: Snapshot): number => metadataSize(s.metadata) + 4 + s.data.length
function writeMetadata(w: Writer, m: SnapshotMetadata): void { writeConfState(w, m.confState); w.u64(m.index); w.u64(m.term) }
function readMetadata(r: Reader): SnapshotMetadata {
  const confState = readConfState(r)
  const index = r.u64()
  return { confState, index, term: r.u64() }
}
function writeSnapshot(w: Writer, s: Snapshot): void { writeMetadata(w, s.metadata); w.bytes(s.data) }
function readSnapshot(r: Reader): Snapshot {
  const metadata = readMetadata(r)
  return { metadata, data: r.bytes() }
}

/**
 * Runs an encoder; a value of the wrong shape (a missing field read while sizing it) is the
 * caller's bad argument, not a crash: it becomes ERR_RAFT_INVALID_ARGUMENT.
 */
function encodeWith<T>(what: string, value: T, encode: (v: T) => Uint8Array): Uint8Array {
  if (typeof value !== 'object' || value === null) throw new RaftInvalidArgumentError(what, `must be an object, got ${value === null ? 'null' : typeof value}`)
  try {
    return encode(value)
  } catch (err) {
    if (err instanceof TypeError) throw new RaftInvalidArgumentError(what, `has a missing or mistyped field (${err.message})`)
    throw err
  }
}

function decodeWith<T>(what: string, buf: Uint8Array, read: (r: Reader) => T): T {
  const r = new Reader(what, buf)
  const v = read(r)
  r.end()
  return v
}

function encodeEntryUnchecked(e: Entry): Uint8Array {
  const w = new Writer(entryHeaderSize + e.data.length)
  writeEntry(w, e)
  return w.done()
}
export function decodeEntry(buf: Uint8Array): Entry { return decodeWith('entry', buf, readEntry) }

function encodeHardStateUnchecked(hs: HardState): Uint8Array {
  const w = new Writer(24)
  w.u64(hs.term); w.u64(hs.vote); w.u64(hs.commit)
  return w.done()
}
export function decodeHardState(buf: Uint8Array): HardState {
  return decodeWith('hard state', buf, (r) => {
    const term = r.u64()
    const vote = r.u64()
    return { term, vote, commit: r.u64() }
  })
}

function encodeConfStateUnchecked(cs: ConfState): Uint8Array {
  const w = new Writer(confStateSize(cs))
  writeConfState(w, cs)
  return w.done()
}
export function decodeConfState(buf: Uint8Array): ConfState { return decodeWith('conf state', buf, readConfState) }

function encodeSnapshotMetadataUnchecked(m: SnapshotMetadata): Uint8Array {
  const w = new Writer(metadataSize(m))
  writeMetadata(w, m)
  return w.done()
}
export function decodeSnapshotMetadata(buf: Uint8Array): SnapshotMetadata {
  return decodeWith('snapshot metadata', buf, readMetadata)
}

function encodeSnapshotUnchecked(s: Snapshot): Uint8Array {
  const w = new Writer(snapshotSize(s))
  writeSnapshot(w, s)
  return w.done()
}
export function decodeSnapshot(buf: Uint8Array): Snapshot { return decodeWith('snapshot', buf, readSnapshot) }

/** Fixed part of a message: type, flags, 8 u64 fields, entry count. */
const messageFixedSize = 1 + 1 + 8 * 8 + 4
const flagReject = 1
const flagSnapshot = 2
const flagContext = 4

function messageSize(m: Message): number {
  let n = messageFixedSize
  for (const e of m.entries) n += entryHeaderSize + e.data.length
  if (m.snapshot !== undefined) n += snapshotSize(m.snapshot)
  if (m.context !== undefined) n += 4 + m.context.length
  return n
}

function encodeMessageUnchecked(m: Message, frameByte?: number): Uint8Array {
  const w = new Writer(messageSize(m) + (frameByte === undefined ? 0 : 1), true)
  if (frameByte !== undefined) w.u8(frameByte)
  w.u8(m.type)
  w.u8((m.reject ? flagReject : 0) | (m.snapshot !== undefined ? flagSnapshot : 0) | (m.context !== undefined ? flagContext : 0))
  w.u64(m.to); w.u64(m.from); w.u64(m.term); w.u64(m.logTerm); w.u64(m.index); w.u64(m.commit)
  w.u64(m.rejectHint); w.u64(0) // reserved (etcd's vote field), always zero
  w.u32(m.entries.length)
  for (const e of m.entries) writeEntry(w, e)
  if (m.snapshot !== undefined) writeSnapshot(w, m.snapshot)
  if (m.context !== undefined) w.bytes(m.context)
  return w.done()
}

export function decodeMessage(buf: Uint8Array): Message {
  return decodeWith('message', buf, (r) => {
    const type = r.u8()
    if (!isKnownMessageType(type)) r.fail(`unknown message type ${type}`)
    const flags = r.u8()
    if ((flags & ~7) !== 0) r.fail(`unknown flags ${flags}`)
    const to = r.u64(), from = r.u64(), term = r.u64(), logTerm = r.u64(), index = r.u64(), commit = r.u64()
    const rejectHint = r.u64()
    if (r.u64() !== 0) r.fail('reserved field is not zero')
    const n = r.count()
    const entries: Entry[] = []
    for (let i = 0; i < n; i++) entries.push(readEntry(r))
    const snapshot = (flags & flagSnapshot) !== 0 ? readSnapshot(r) : undefined
    const context = (flags & flagContext) !== 0 ? r.bytes() : undefined
    return {
      type: type as MessageType, to, from, term, logTerm, index, entries, commit, snapshot,
      reject: (flags & flagReject) !== 0, rejectHint, context,
    }
  })
}

function encodeConfChangeUnchecked(cc: ConfChange): Uint8Array {
  const w = new Writer(1 + 8 + 4 + cc.context.length)
  w.u8(cc.type); w.u64(cc.nodeId); w.bytes(cc.context)
  return w.done()
}
export function decodeConfChange(buf: Uint8Array): ConfChange {
  return decodeWith('conf change', buf, (r) => {
    const type = r.u8()
    if (type > 3) r.fail(`unknown conf change type ${type}`)
    const nodeId = r.u64()
    return { type: type as ConfChangeType, nodeId, context: r.bytes() }
  })
}

function encodeConfChangeV2Unchecked(cc: ConfChangeV2): Uint8Array {
  const w = new Writer(1 + 4 + 9 * cc.changes.length + 4 + cc.context.length)
  w.u8(cc.transition)
  w.u32(cc.changes.length)
  for (const c of cc.changes) { w.u8(c.type); w.u64(c.nodeId) }
  w.bytes(cc.context)
  return w.done()
}
export function decodeConfChangeV2(buf: Uint8Array): ConfChangeV2 {
  return decodeWith('conf change v2', buf, (r) => {
    const transition = r.u8()
    if (transition > 2) r.fail(`unknown transition ${transition}`)
    const n = r.count()
    const changes: ConfChangeSingle[] = []
    for (let i = 0; i < n; i++) {
      const type = r.u8()
      if (type > 3) r.fail(`unknown conf change type ${type}`)
      changes.push({ type: type as ConfChangeType, nodeId: r.u64() })
    }
    return { transition: transition as ConfChangeTransition, changes, context: r.bytes() }
  })
}

/** Encodes a Entry (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an unsafe integer. */
export function encodeEntry(v: Entry): Uint8Array { return encodeWith('entry', v, encodeEntryUnchecked) }
/** Encodes a HardState (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an unsafe integer. */
export function encodeHardState(v: HardState): Uint8Array { return encodeWith('hardState', v, encodeHardStateUnchecked) }
/** Encodes a ConfState (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an unsafe integer. */
export function encodeConfState(v: ConfState): Uint8Array { return encodeWith('confState', v, encodeConfStateUnchecked) }
/** Encodes a SnapshotMetadata (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an unsafe integer. */
export function encodeSnapshotMetadata(v: SnapshotMetadata): Uint8Array { return encodeWith('metadata', v, encodeSnapshotMetadataUnchecked) }
/** Encodes a Snapshot (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an unsafe integer. */
export function encodeSnapshot(v: Snapshot): Uint8Array { return encodeWith('snapshot', v, encodeSnapshotUnchecked) }
/**
 * Encodes a Message (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an
 * unsafe integer. With `frameByte` (0-255) the encoding follows that one byte in the same buffer
 * (a transport's frame tag, as embed's): the sender does not copy the message to frame it. The
 * result may be a view of a larger buffer (use its byteOffset and byteLength).
 */
export function encodeMessage(v: Message, frameByte?: number): Uint8Array {
  return encodeWith('message', v, (m) => encodeMessageUnchecked(m, frameByte))
}
/** Encodes a ConfChange (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an unsafe integer. */
export function encodeConfChange(v: ConfChange): Uint8Array { return encodeWith('confChange', v, encodeConfChangeUnchecked) }
/** Encodes a ConfChangeV2 (FORMAT.md); ERR_RAFT_INVALID_ARGUMENT for a value of the wrong shape or an unsafe integer. */
export function encodeConfChangeV2(v: ConfChangeV2): Uint8Array { return encodeWith('confChangeV2', v, encodeConfChangeV2Unchecked) }
