// Issue 17's measurement as a default-run test: a few seeded damage trials of every kind on an
// LmdbBackend + MvccStore file, closed or (after-open) running (sim/damage.ts; hundreds behind
// `node scripts/sim.mjs mvcc`). Each must end in a correct read or a typed corruption error;
// never a wrong value, a missing key or a dead process (but for the documented gap, MAY_DIE).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DAMAGE_KINDS, isBad, runTrials, summarize, trialSpecs } from '../sim/damage.js'

test('7 seeded damage trials, one of each kind (bit flip, zeroed sector, truncation, older page, free-page list, after the open, and a store defragmented and written on): each a correct read or a typed corruption error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-integrity-'))
  try {
    const results = await runTrials(dir, trialSpecs(7, 1717))
    const bad = results.filter(isBad)
    assert.is(results.length, 7)
    assert.equal(new Set(results.map((r) => r.kind)).size, DAMAGE_KINDS.length)
    assert.equal(bad, [], summarize(results))
    assert.ok(results.some((r) => r.verdict === 'corrupt'), 'some damage was detected')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
