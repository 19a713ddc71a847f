import type { FileSystem } from '@strata/seams'

/** A segment file: its sequence number and the first Raft index it may hold, from its name. */
export interface SegmentName {
  readonly name: string
  readonly seq: number
  readonly firstIndex: number
}

const WAL_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0')
}

/** `%016x-%016x.wal` of the sequence number and first index. */
export function walName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`
}

/** Parses a segment file name; `undefined` for any other name or numbers beyond 2^53. */
export function parseWalName(name: string): SegmentName | undefined {
  const m = WAL_NAME.exec(name)
  if (m === null) return undefined
  const seq = BigInt(`0x${m[1]!}`)
  const firstIndex = BigInt(`0x${m[2]!}`)
  if (seq > BigInt(Number.MAX_SAFE_INTEGER) || firstIndex > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  return { name, seq: Number(seq), firstIndex: Number(firstIndex) }
}

/** The segments in `dir`, ordered by sequence number; other files are ignored. */
export async function listSegments(fs: FileSystem, dir: string): Promise<SegmentName[]> {
  const names = await fs.readdir(dir)
  const segs = names.map(parseWalName).filter((s): s is SegmentName => s !== undefined)
  return segs.sort((a, b) => a.seq - b.seq)
}

/**
 * The position of the last segment whose first index is ≤ `index` (the one that may hold the
 * record at `index`), or -1 when every segment starts after it.
 */
export function searchIndex(segs: readonly SegmentName[], index: number): number {
  for (let i = segs.length - 1; i >= 0; i--) {
    if (segs[i]!.firstIndex <= index) return i
  }
  return -1
}

/** True when the sequence numbers increase by exactly one, so no segment is missing. */
export function isContiguous(segs: readonly SegmentName[]): boolean {
  for (let i = 1; i < segs.length; i++) {
    if (segs[i]!.seq !== segs[i - 1]!.seq + 1) return false
  }
  return true
}
