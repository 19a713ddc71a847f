/**
 * The long randomized WAL runs: for each seed, the crash workload cut at a random file operation,
 * the rewrite workload cut at a random operation, and the model run (appends, rewrites,
 * snapshots, releases that recycle segments, reopens); every tenth seed also cuts the crash
 * workload after every one of its operations. The default tests run a few dozen seeds per run;
 * the two bugs random seeds found so far (a stale fragment in a recycled file, a snapshot older
 * than a release) each showed up once in many such runs.
 *
 *   node scripts/sim.mjs wal            (SEED=<n> replays one seed; SIM_ITERATIONS=<n>, default 1000)
 */
import { Prng, seedFromEnv } from '@strata/testkit'
import { crashRun, modelRun, rewriteRun } from '../test/crash-model.js'

const iterations = process.env['SEED'] !== undefined ? 1 : Number(process.env['SIM_ITERATIONS'] ?? 1000)
let failed = 0
const started = process.hrtime.bigint()
for (let i = 0; i < iterations; i++) {
  const seed = seedFromEnv()
  const every = i % 10 === 0 || process.env['SEED'] !== undefined
  let stage = 'crash'
  try {
    const p = new Prng(seed)
    const total = await crashRun(seed, undefined, 30)
    await crashRun(seed, 1 + p.int(total), 30)
    if (every) for (let k = 1; k <= total; k++) await crashRun(seed, k, 30)
    stage = 'rewrite'
    await rewriteRun(seed, 1 + p.int(250))
    stage = 'model'
    await modelRun(new Prng(seed))
  } catch (err) {
    failed++
    console.log(`FAIL seed=${seed} ${stage} (replay with SEED=${seed}): ${(err as Error).message}`)
  }
  if ((i + 1) % 50 === 0 || i + 1 === iterations) {
    const s = Number(process.hrtime.bigint() - started) / 1e9
    console.log(`${i + 1} seeds, ${failed} failed (${s.toFixed(0)} s)`)
  }
}
process.exitCode = failed > 0 ? 1 : 0
