// Issue 17's measurement as a default-run test: a few seeded damage trials of every kind on a
// closed LmdbBackend + MvccStore file (sim/damage.ts; hundreds behind `node scripts/sim.mjs mvcc`).
// Each must end in a correct read or a typed corruption error; never a wrong value, a missing
// key or a dead process.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runTrials, summarize, trialSpecs } from '../sim/damage.js'

test('6 seeded damage trials (bit flip, zeroed sector, truncation, older page): each a correct read or a typed corruption error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-integrity-'))
  try {
    const results = await runTrials(dir, trialSpecs(6, 1717))
    const bad = results.filter((r) => r.verdict !== 'ok' && r.verdict !== 'corrupt')
    assert.is(results.length, 6)
    assert.equal(bad, [], summarize(results))
    assert.ok(results.some((r) => r.verdict === 'corrupt'), 'some damage was detected')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
