import { hasCode } from '@strata/seams'
import { Prng } from './prng.js'
import type { CrashMode, CrashReport } from './sim-file.js'
import { SimFileSystem } from './sim-file-system.js'

/** Where a crash was injected, handed to the check. */
export interface CrashPoint {
  /** The crash came right after the k-th mutating operation of setup + workload (1-based). */
  readonly k: number
  /** How many mutating operations the whole run performs without a crash. */
  readonly total: number
  /** What the crash kept and lost. */
  readonly report: CrashReport
}

export interface CrashPointOptions {
  /** Source of each run's file system seed (each run gets a fork). Default: `new Prng(0)`. */
  readonly prng?: Prng
  /** How each crash treats unsynced data. Default `'random'`. */
  readonly crashMode?: CrashMode
  /** Runs before the workload and is never crashed (creating directories, say). Default: nothing. */
  readonly setup?: (fs: SimFileSystem) => Promise<void>
  /** Most crash points to try, spread evenly over the run (always including the last). Default: all. */
  readonly maxPoints?: number
}

/** True when `err`, or an error in its `cause` chain, is a SimCrashError. */
export function isSimCrash(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 16; e = e.cause, depth++) {
    if (hasCode(e, 'ERR_SIM_CRASH')) return true
  }
  return false
}

function points(total: number, max: number | undefined): number[] {
  if (max === undefined || max >= total) return Array.from({ length: total }, (_, i) => i + 1)
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxPoints must be a positive integer, got ${max}`)
  const chosen = new Set<number>()
  for (let i = 1; i <= max; i++) chosen.add(Math.ceil((i * total) / max))
  return [...chosen]
}

/**
 * Crash testing by enumeration: runs `workload` once to count its mutating operations, then
 * for each k runs it again on a fresh SimFileSystem that crashes right after the k-th one,
 * calls `crash()`, and hands the restarted file system to `check` (which reopens and asserts).
 * The workload must let SimCrashError (or an error caused by one) propagate. Returns the
 * number of crash points checked. Failures name the crash point.
 */
export async function forEachCrashPoint(
  workload: (fs: SimFileSystem) => Promise<void>,
  check: (fs: SimFileSystem, point: CrashPoint) => Promise<void>,
  options: CrashPointOptions = {},
): Promise<number> {
  const prng = options.prng ?? new Prng(0)
  const fresh = async (): Promise<SimFileSystem> => {
    const fs = new SimFileSystem({ prng: prng.fork(), crashMode: options.crashMode ?? 'random' })
    await options.setup?.(fs)
    return fs
  }
  const dry = await fresh()
  const before = dry.operationCount
  await workload(dry)
  const total = dry.operationCount - before
  const ks = points(total, options.maxPoints)
  for (const k of ks) {
    const fs = await fresh()
    fs.crashAfter(k)
    try {
      await workload(fs)
    } catch (err) {
      if (!isSimCrash(err)) throw new Error(`crash point ${k}/${total}: the workload failed with something other than the crash: ${String(err)}`, { cause: err })
    }
    const report = fs.crash()
    try {
      await check(fs, { k, total, report })
    } catch (err) {
      if (err instanceof Error) err.message = `crash point ${k}/${total}: ${err.message}`
      throw err
    }
  }
  return ks.length
}
