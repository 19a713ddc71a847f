/**
 * The long randomized mvcc runs: each seeded test file (the model test against a naive
 * Map-of-versions, the crash-and-replay test, the thread-rebuild and watchable-store randomized
 * tests) run again and again in a new process with a new seed. The default tests run each once.
 *
 *   node scripts/sim.mjs mvcc           (SEED=<n> replays one seed; SIM_ITERATIONS=<n>, default 50)
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { seedFromEnv } from '@strata/testkit'

const FILES = ['model.test.ts', 'crash.test.ts', 'kvstore-rebuild.test.ts', 'watchable-store.test.ts']
const iterations = process.env['SEED'] !== undefined ? 1 : Number(process.env['SIM_ITERATIONS'] ?? 50)
let failed = 0
const started = process.hrtime.bigint()
for (let i = 0; i < iterations; i++) {
  const seed = seedFromEnv()
  for (const file of FILES) {
    const path = fileURLToPath(new URL(`../test/${file}`, import.meta.url))
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', path], { env: { ...process.env, SEED: String(seed), FORCE_COLOR: '0' }, encoding: 'utf8' })
    if (r.status !== 0) {
      failed++
      console.log(`FAIL ${file} seed=${seed} (replay with SEED=${seed}):\n${r.stdout}${r.stderr}`)
    }
  }
  if ((i + 1) % 10 === 0 || i + 1 === iterations) {
    const s = Number(process.hrtime.bigint() - started) / 1e9
    console.log(`${i + 1} seeds × ${FILES.length} files, ${failed} failed (${s.toFixed(0)} s)`)
  }
}
process.exitCode = failed > 0 ? 1 : 0
