// The structure check's cost at open (issue 17; issue 14's restart budget), every mode in the
// same run: an LmdbBackend data file of N pairs shaped like mvcc's key bucket (17-byte revision
// keys, ~90-byte records) is opened and closed again and again, the modes taking turns so
// drift on a shared machine hits all alike:
//   always          verifyStructure 'always': the child process reads every page and value first
//   unclean/crash   the default 'unclean' after a crash (no clean-close marker): the same check
//   unclean/clean   the default after a clean close: the marker matches, no check
//   off             verifyStructure false
// Each figure is LmdbBackend.open alone (the check, the marker, LMDB's open), median of ROUNDS.
// Prints `RESULT backend.structure_check.*` lines; BENCH_QUICK=1 uses 100k pairs.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { printResult, quick, tempDir } from '@strata/testkit'
import { LmdbBackend } from '../src/index.js'
import type { VerifyStructureMode } from '../src/index.js'
import { CLEAN_FILE } from '../src/internal.js'

const N = quick ? 100_000 : 1_000_000
const LABEL = quick ? '100k' : '1M'
const ROUNDS = quick ? 3 : 5
const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** A revision key as mvcc writes it: main (8 bytes) '_' sub (8 bytes). */
function revisionKey(main: number, sub: number): Uint8Array {
  const k = new Uint8Array(17)
  const v = new DataView(k.buffer)
  v.setUint32(4, main)
  k[8] = 0x5f
  v.setUint32(13, sub)
  return k
}

const dir = await tempDir('strata-structure-bench-')
const path = join(dir.path, 'db')
{
  const backend = await LmdbBackend.open(path, { clock, batchLimit: 10_000 })
  const record = new Uint8Array(89).fill(0x61)
  const t0 = performance.now()
  for (let i = 0; i < N; i += 1000) {
    backend.write((tx) => {
      for (let j = i; j < i + 1000 && j < N; j++) tx.put('key', revisionKey(2 + Math.floor(j / 1000), j % 1000), record)
    })
  }
  await backend.commit()
  const mib = backend.stats().sizeBytes / 2 ** 20
  await backend.close()
  console.log(`wrote ${N} pairs in ${(performance.now() - t0).toFixed(0)} ms: a ${mib.toFixed(0)} MiB data file`)
}

type Mode = 'always' | 'unclean/crash' | 'unclean/clean' | 'off'
const MODES: readonly Mode[] = ['always', 'unclean/crash', 'unclean/clean', 'off']
const times: Record<Mode, number[]> = { 'always': [], 'unclean/crash': [], 'unclean/clean': [], 'off': [] }
const checkMs: number[] = []
const option: Record<Mode, VerifyStructureMode> = { 'always': 'always', 'unclean/crash': 'unclean', 'unclean/clean': 'unclean', 'off': false }
const expectWhy: Record<Mode, string> = { 'always': 'always', 'unclean/crash': 'unclean-close', 'unclean/clean': 'clean-close', 'off': 'off' }
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of MODES) {
    // Every open here follows a clean close; a crash is what removing its marker leaves.
    if (mode === 'unclean/crash') rmSync(join(path, CLEAN_FILE), { force: true })
    const t0 = performance.now()
    const backend = await LmdbBackend.open(path, { clock, verifyStructure: option[mode] })
    times[mode].push(performance.now() - t0)
    if (backend.structureCheck.why !== expectWhy[mode]) throw new Error(`${mode}: the open reported ${backend.structureCheck.why}`)
    if (mode === 'always') checkMs.push(backend.structureCheck.ms)
    await backend.close()
  }
}

for (const mode of MODES) console.log(`open ${mode.padEnd(14)} ${times[mode].map((x) => x.toFixed(0).padStart(5)).join(' ')} ms`)
const off = median(times.off)
printResult(`backend.structure_check.${LABEL}.ms`, median(checkMs), 'ms')
printResult(`backend.structure_check.${LABEL}.open_always_ms`, median(times.always), 'ms')
printResult(`backend.structure_check.${LABEL}.open_unclean_after_crash_ms`, median(times['unclean/crash']), 'ms')
printResult(`backend.structure_check.${LABEL}.open_unclean_after_clean_close_ms`, median(times['unclean/clean']), 'ms')
printResult(`backend.structure_check.${LABEL}.open_off_ms`, off, 'ms')
printResult(`backend.structure_check.${LABEL}.open_ratio_always_vs_off`, median(times.always) / off, 'ratio')
printResult(`backend.structure_check.${LABEL}.open_ratio_clean_close_vs_off`, median(times['unclean/clean']) / off, 'ratio')
await dir.cleanup()
