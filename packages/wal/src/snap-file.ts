import type { SnapshotMetadata } from '@strata/raft'
import type { FileHandle } from '@strata/seams'
import xxhash from 'xxhash-wasm'
import { confStateBytes, getConfState, putConfState } from './conf-state.js'
import { WalError } from './errors.js'
import { getU64, setU64 } from './u64.js'

/**
 * The snapshot file format (FORMAT.md, "Snapshot files"): a header (magic, version, metadata
 * length, metadata, padding, header checksum), the data, then a trailer (data length and an
 * xxhash64 of every byte before it). The data's length is only known once the stream ends,
 * which is why it sits in the trailer.
 */
export const SNAP_MAGIC = new TextEncoder().encode('STRASNAP')
export const SNAP_VERSION = 1
/** Magic, version and metadata length: what precedes the metadata. */
const PREFIX_BYTES = 16
/** Data length and checksum. */
export const SNAP_TRAILER_BYTES = 16
/** A metadata block beyond this is damage: the largest conf state is 512 KiB of ids. */
const MAX_METADATA_BYTES = 1024 * 1024

export type XxHashApi = Awaited<ReturnType<typeof xxhash>>
let shared: Promise<XxHashApi> | undefined

/** The xxhash-wasm instance, compiled once per process. */
export function xxhashApi(): Promise<XxHashApi> {
  shared ??= xxhash()
  return shared
}

const SNAP_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/

/** `%016x-%016x.snap` of term and index, as etcd names them (so names sort by term, then index). */
export function snapName(term: number, index: number): string {
  return `${term.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.snap`
}

/** Term and index from a snapshot file name; `undefined` for any other name. */
export function parseSnapName(name: string): { term: number; index: number } | undefined {
  const m = SNAP_NAME.exec(name)
  if (m === null) return undefined
  const term = Number.parseInt(m[1]!, 16)
  const index = Number.parseInt(m[2]!, 16)
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) return undefined
  return { term, index }
}

/** The header of a file holding `meta`: its length is a multiple of 8, so the data starts aligned. */
export function encodeHeader(api: XxHashApi, meta: SnapshotMetadata): Uint8Array {
  const metaBytes = 16 + confStateBytes(meta.confState)
  const size = ((PREFIX_BYTES + metaBytes + 7) & ~7) + 8
  const buf = new Uint8Array(size)
  const view = new DataView(buf.buffer)
  buf.set(SNAP_MAGIC, 0)
  view.setUint32(8, SNAP_VERSION, true)
  view.setUint32(12, metaBytes, true)
  setU64(view, PREFIX_BYTES, meta.index)
  setU64(view, PREFIX_BYTES + 8, meta.term)
  putConfState(view, PREFIX_BYTES + 16, meta.confState)
  view.setBigUint64(size - 8, api.h64Raw(buf.subarray(0, size - 8)), true)
  return buf
}

/** The trailer after `dataBytes` bytes of data, given the hash of everything before it. */
export function encodeTrailer(hasher: ReturnType<XxHashApi['create64']>, dataBytes: number): Uint8Array {
  const buf = new Uint8Array(SNAP_TRAILER_BYTES)
  const view = new DataView(buf.buffer)
  setU64(view, 0, dataBytes)
  hasher.update(buf.subarray(0, 8))
  view.setBigUint64(8, hasher.digest(), true)
  return buf
}

/** What a snapshot file's header and trailer say, checked against each other and the file size. */
export interface SnapLayout {
  readonly metadata: SnapshotMetadata
  /** The raw header bytes (the checksum of the whole file starts with them). */
  readonly header: Uint8Array
  /** Where the data starts, and its length. */
  readonly dataStart: number
  readonly dataBytes: number
  /** The checksum the trailer stores. */
  readonly checksum: bigint
}

/** ERR_WAL_SNAP_CORRUPT for the file `name`. */
export function snapCorrupt(name: string, reason: string): WalError {
  return new WalError('ERR_WAL_SNAP_CORRUPT', `wal: snapshot file ${name} is damaged (${reason}); load an older snapshot or fetch one from the leader`, { name, reason })
}

async function readExactly(handle: FileHandle, at: number, length: number, name: string, what: string): Promise<Uint8Array> {
  const buf = new Uint8Array(length)
  if (await handle.read(buf, at) !== length) throw snapCorrupt(name, `${what} cut short`)
  return buf
}

/**
 * Reads and checks everything of the file but its data: magic, version, header checksum,
 * metadata, the name's term and index, and the trailer's length against the file size. Throws
 * ERR_WAL_SNAP_CORRUPT on any mismatch. The data itself is checked by streaming it.
 */
export async function readLayout(api: XxHashApi, handle: FileHandle, name: string): Promise<SnapLayout> {
  const size = await handle.size()
  const prefix = await readExactly(handle, 0, PREFIX_BYTES, name, 'header')
  const pv = new DataView(prefix.buffer)
  if (Buffer.compare(prefix.subarray(0, 8), SNAP_MAGIC) !== 0) throw snapCorrupt(name, 'no snapshot magic')
  const version = pv.getUint32(8, true)
  if (version !== SNAP_VERSION) throw snapCorrupt(name, `format version ${version}; this reader reads ${SNAP_VERSION}`)
  const metaBytes = pv.getUint32(12, true)
  if (metaBytes < 16 || metaBytes > MAX_METADATA_BYTES) throw snapCorrupt(name, `metadata length ${metaBytes} out of bounds`)
  const headerBytes = ((PREFIX_BYTES + metaBytes + 7) & ~7) + 8
  if (headerBytes + SNAP_TRAILER_BYTES > size) throw snapCorrupt(name, 'file shorter than its header and trailer')
  const header = await readExactly(handle, 0, headerBytes, name, 'header')
  const view = new DataView(header.buffer)
  if (api.h64Raw(header.subarray(0, headerBytes - 8)) !== view.getBigUint64(headerBytes - 8, true)) throw snapCorrupt(name, 'header checksum mismatch')
  const metadata = decodeMetadata(view, metaBytes, name)
  const trailer = new DataView((await readExactly(handle, size - SNAP_TRAILER_BYTES, SNAP_TRAILER_BYTES, name, 'trailer')).buffer)
  const dataBytes = getU64(trailer, 0)
  if (dataBytes !== size - headerBytes - SNAP_TRAILER_BYTES) throw snapCorrupt(name, `trailer gives ${String(dataBytes)} data bytes, the file holds ${size - headerBytes - SNAP_TRAILER_BYTES}`)
  return { metadata, header, dataStart: headerBytes, dataBytes, checksum: trailer.getBigUint64(8, true) }
}

function decodeMetadata(view: DataView, metaBytes: number, name: string): SnapshotMetadata {
  const index = getU64(view, PREFIX_BYTES)
  const term = getU64(view, PREFIX_BYTES + 8)
  if (index === undefined || term === undefined) throw snapCorrupt(name, 'index or term beyond 2^53')
  const confState = getConfState(view, PREFIX_BYTES + 16, PREFIX_BYTES + metaBytes)
  if (typeof confState === 'string') throw snapCorrupt(name, confState)
  const named = parseSnapName(name)
  if (named !== undefined && (named.index !== index || named.term !== term)) throw snapCorrupt(name, `holds term ${term} index ${index}, not what its name says`)
  return { index, term, confState }
}

/**
 * Streams the data of the file in chunks of at most `chunkBytes` (each a fresh buffer the
 * consumer may keep), hashing header, data and length on the way, and throws
 * ERR_WAL_SNAP_CORRUPT at the end when the checksum does not match.
 */
export async function* streamData(api: XxHashApi, handle: FileHandle, layout: SnapLayout, chunkBytes: number, name: string): AsyncGenerator<Uint8Array, void, undefined> {
  const hasher = api.create64(0n)
  hasher.update(layout.header)
  const end = layout.dataStart + layout.dataBytes
  for (let at = layout.dataStart; at < end;) {
    const chunk = await readExactly(handle, at, Math.min(chunkBytes, end - at), name, 'data')
    hasher.update(chunk)
    at += chunk.length
    yield chunk
  }
  const length = new Uint8Array(8)
  setU64(new DataView(length.buffer), 0, layout.dataBytes)
  hasher.update(length)
  if (hasher.digest() !== layout.checksum) throw snapCorrupt(name, 'data checksum mismatch')
}
