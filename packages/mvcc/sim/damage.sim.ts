// Hundreds of damage trials (issue 17): SIM_ITERATIONS (default 400) trials cycling through
// every damage kind; SEED=<n> replays a run. Fails on any verdict other than ok or corrupt.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runTrials, summarize, trialSpecs } from './damage.js'

const count = Number(process.env.SIM_ITERATIONS ?? 400)
const seed = Number(process.env.SEED ?? 17)
const dir = mkdtempSync(join(tmpdir(), 'strata-damage-'))
const t0 = performance.now()
try {
  const results = await runTrials(dir, trialSpecs(count, seed), (r) => {
    if (r.verdict !== 'ok' && r.verdict !== 'corrupt') console.log(`BAD ${r.kind} seed ${r.seed}: ${r.verdict} after ${r.damage}: ${r.detail}`)
  })
  console.log(summarize(results))
  const bad = results.filter((r) => r.verdict !== 'ok' && r.verdict !== 'corrupt')
  console.log(`${results.length} trials in ${((performance.now() - t0) / 1000).toFixed(1)} s (seed ${seed}): ${bad.length} bad`)
  process.exitCode = bad.length > 0 ? 1 : 0
} finally {
  rmSync(dir, { recursive: true, force: true })
}
