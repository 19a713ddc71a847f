/**
 * The long cross-package crash run: test/crash.test.ts (wal + raft + backend + mvcc + lease +
 * auth under the minimal driver) at 10/3 of the default workload and crash points, over new seeds,
 * each in a new process. The default tests run it once at scale 1.
 *
 *   node scripts/sim.mjs apply     (SEED=<n> replays one seed; SIM_ITERATIONS=<n>, default 5)
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { seedFromEnv } from '@strata/testkit'

const iterations = process.env['SEED'] !== undefined ? 1 : Number(process.env['SIM_ITERATIONS'] ?? 5)
const path = fileURLToPath(new URL('../test/crash.test.ts', import.meta.url))
let failed = 0
const started = process.hrtime.bigint()
for (let i = 0; i < iterations; i++) {
  const seed = seedFromEnv()
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', path], {
    env: { ...process.env, SEED: String(seed), APPLY_CRASH_SCALE: process.env['APPLY_CRASH_SCALE'] ?? '10', FORCE_COLOR: '0' }, encoding: 'utf8',
  })
  if (r.status !== 0) {
    failed++
    console.log(`seed ${seed}: FAILED (replay: SEED=${seed} node scripts/sim.mjs apply)\n${r.stdout}${r.stderr}`)
  } else {
    console.log(`seed ${seed}: ok`)
  }
}
const s = Number(process.hrtime.bigint() - started) / 1e9
console.log(`apply crash sim: ${iterations - failed} of ${iterations} seeds passed in ${s.toFixed(0)} s`)
process.exitCode = failed > 0 ? 1 : 0
