import { join } from 'node:path'
import type { FileSystem } from '@strata/seams'
import { scanSegment } from './decoder.js'
import { readSegment } from './reader.js'
import { checkDir, checkOptionsObject, existingSegments, lastSegment, resolveFs, takeLock } from './util.js'

/** What `repair` did. */
export interface RepairResult {
  /** True when a torn tail was cut off. */
  readonly repaired: boolean
  /** The segment that was repaired (or checked). */
  readonly segment: string
  /** Where the valid records of that segment end (the cut point when repaired). */
  readonly offset: number
  /** The copy of the segment as it was before the cut, when repaired. */
  readonly brokenPath: string | undefined
}

export interface RepairOptions {
  /** The file system every byte goes through. Default: `nodeFileSystem`. */
  readonly fs?: FileSystem
}

/**
 * Cuts a torn last record off the newest segment, as etcd's Repair: takes the directory lock,
 * decodes the last segment from its opening crc record (so it works after purge), and when the
 * segment ends in a torn write, copies it to `<name>.broken`, truncates it at the last valid
 * record, re-zeroes the preallocated space and fsyncs. A clean log is left untouched. Damage
 * that cannot be a torn write fails with ERR_WAL_CORRUPT and changes nothing.
 */
export async function repair(dir: string, options: RepairOptions = {}): Promise<RepairResult> {
  checkDir(dir)
  checkOptionsObject(options)
  const fs = resolveFs(options.fs)
  await existingSegments(fs, dir)
  const lock = await takeLock(fs, dir)
  try {
    const seg = lastSegment(await existingSegments(fs, dir))
    const buf = await readSegment(fs, dir, seg)
    const scan = scanSegment(buf, { name: seg.name, seq: seg.seq, firstIndex: seg.firstIndex, chain: undefined, last: true }, () => {})
    if (scan.stop !== 'torn') return { repaired: false, segment: seg.name, offset: scan.end, brokenPath: undefined }
    const path = join(dir, seg.name)
    const brokenPath = `${path}.broken`
    const copy = await fs.open(brokenPath, 'create')
    try {
      await copy.truncate(0)
      await copy.write(buf, 0)
      await copy.sync()
    } finally {
      await copy.close()
    }
    await fs.fsyncDir(dir)
    const handle = await fs.open(path, 'readWrite')
    try {
      await handle.truncate(scan.end)
      await handle.allocate(buf.length)
      await handle.sync()
    } finally {
      await handle.close()
    }
    return { repaired: true, segment: seg.name, offset: scan.end, brokenPath }
  } finally {
    await lock.release()
  }
}
