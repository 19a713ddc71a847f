// HTTP/2 (RFC 9113) constants the lean client and its tests share.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export const FRAME_DATA = 0x0
export const FRAME_HEADERS = 0x1
export const FRAME_PRIORITY = 0x2
export const FRAME_RST_STREAM = 0x3
export const FRAME_SETTINGS = 0x4
export const FRAME_PUSH_PROMISE = 0x5
export const FRAME_PING = 0x6
export const FRAME_GOAWAY = 0x7
export const FRAME_WINDOW_UPDATE = 0x8
export const FRAME_CONTINUATION = 0x9

export const FLAG_END_STREAM = 0x1
export const FLAG_ACK = 0x1
export const FLAG_END_HEADERS = 0x4
export const FLAG_PADDED = 0x8
export const FLAG_PRIORITY = 0x20

export const SETTINGS_HEADER_TABLE_SIZE = 0x1
export const SETTINGS_ENABLE_PUSH = 0x2
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4
export const SETTINGS_MAX_FRAME_SIZE = 0x5
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

export const H2_NO_ERROR = 0x0
export const H2_PROTOCOL_ERROR = 0x1
export const H2_FLOW_CONTROL_ERROR = 0x3
export const H2_FRAME_SIZE_ERROR = 0x6
export const H2_CANCEL = 0x8
export const H2_COMPRESSION_ERROR = 0x9

/** The largest flow-control window (2^31 - 1) and default window and frame sizes. */
export const MAX_WINDOW = 0x7fffffff
export const DEFAULT_WINDOW = 65535
export const DEFAULT_MAX_FRAME = 16384

/** Writes a 9-byte frame header at `at`. */
export function writeFrameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  buf[at] = (length >>> 16) & 0xff
  buf[at + 1] = (length >>> 8) & 0xff
  buf[at + 2] = length & 0xff
  buf[at + 3] = type
  buf[at + 4] = flags
  buf.writeUInt32BE(streamId, at + 5)
}

/** One whole frame as a new Buffer (for the rare frames; the hot path writes into a slab). */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length)
  writeFrameHeader(b, 0, payload.length, type, flags, streamId)
  b.set(payload, 9)
  return b
}

export function settingsPayload(settings: readonly (readonly [number, number])[]): Buffer {
  const b = Buffer.allocUnsafe(6 * settings.length)
  settings.forEach(([id, value], i) => {
    b.writeUInt16BE(id, 6 * i)
    b.writeUInt32BE(value, 6 * i + 2)
  })
  return b
}

export function windowUpdatePayload(increment: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(increment, 0)
  return b
}

export const H2_REFUSED_STREAM = 0x7
export const H2_ENHANCE_YOUR_CALM = 0xb
export const SETTINGS_HEADER_TABLE_SIZE_DEFAULT = 4096
