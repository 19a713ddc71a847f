import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { NetworkSim } from './harness/sim.js'

// Short runs here; sim/network.sim.ts runs 10,000 ticks (`node scripts/sim.mjs raft`).
for (const [i, preVote, checkQuorum] of [[0, true, true], [1, false, false], [2, true, false], [3, false, true]] as const) {
  test(`5 members stay safe under loss, reordering, partitions and crash-restarts (run ${i}, preVote=${preVote}, checkQuorum=${checkQuorum})`, () => {
    withSeed(`raft network ${i}`, (prng) => {
      const sim = new NetworkSim(prng, { ticks: 2000, preVote, checkQuorum, maxSizePerMsgBytes: i % 2 === 0 ? 0 : 4096 })
      sim.run()
      sim.settle()
      assert.ok(sim.stats.commits > 50, `too few commits: ${JSON.stringify(sim.stats)}`)
    })
  })
}

test.run()
