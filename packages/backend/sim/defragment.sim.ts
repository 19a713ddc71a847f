// The longer run of defragment.test.ts's first test: SIM_ITERATIONS (default 20) seeds of
// test/fixtures/defrag-writer.ts, 120 steps each (random writes with big values, deletes,
// commits, closes, crashes and defragments, every reopen structure-checked, every pair compared
// with a model). Fails when a writer dies (LMDB abort) or reads a pair that differs. SEED=<n>
// runs that seed alone.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runDefragWriter } from '../test/fixtures/run-defrag-writer.js'

const count = process.env.SEED !== undefined ? 1 : Number(process.env.SIM_ITERATIONS ?? 20)
const first = Number(process.env.SEED ?? 1)
const steps = Number(process.env.STEPS ?? 120)
const dir = mkdtempSync(join(tmpdir(), 'strata-defrag-sim-'))
const t0 = performance.now()
let bad = 0
let defragments = 0
try {
  for (let seed = first; seed < first + count; seed++) {
    const r = await runDefragWriter(join(dir, String(seed)), seed, steps)
    if (r.code !== 0 || r.signal !== null) {
      bad++
      console.log(`BAD seed ${seed}: ${r.signal ?? `exit ${r.code}`}: ${r.err.trim().split('\n').slice(-3).join(' / ')}`)
    } else {
      defragments += Number(r.out.trim().split(' ')[2])
    }
    rmSync(join(dir, String(seed)), { recursive: true, force: true })
  }
  console.log(`${count} seeds from ${first}, ${steps} steps each, ${defragments} defragments, in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${bad} bad`)
  process.exitCode = bad > 0 ? 1 : 0
} finally {
  rmSync(dir, { recursive: true, force: true })
}
