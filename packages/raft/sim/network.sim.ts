/**
 * The long randomized network simulation: 5 members, 10,000 ticks per run, with message loss,
 * reordering, partitions, crash-restarts from persisted storage and compactions. Checks election
 * safety, log matching, leader completeness, committed-prefix agreement and identical applied
 * sequences after every tick, then heals the network and checks that the cluster still commits.
 *
 *   node scripts/sim.mjs raft            (SEED=<n> replays one run; SIM_ITERATIONS=<n> runs more)
 */
import { Prng, seedFromEnv } from '@strata/testkit'
import { NetworkSim } from '../test/harness/sim.js'

const iterations = process.env['SEED'] !== undefined ? 1 : Number(process.env['SIM_ITERATIONS'] ?? 6)
const ticks = Number(process.env['SIM_TICKS'] ?? 10_000)
let failed = 0
for (let i = 0; i < iterations; i++) {
  const seed = seedFromEnv()
  const preVote = i % 2 === 0
  const checkQuorum = i % 4 < 2
  const maxSizePerMsgBytes = i % 3 === 2 ? 4096 : 0
  const started = process.hrtime.bigint()
  try {
    const sim = new NetworkSim(new Prng(seed), { ticks, preVote, checkQuorum, maxSizePerMsgBytes })
    sim.run()
    sim.settle()
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    console.log(`ok   seed=${seed} preVote=${preVote} checkQuorum=${checkQuorum} maxSizePerMsgBytes=${maxSizePerMsgBytes} ticks=${ticks} ${JSON.stringify(sim.stats)} (${ms.toFixed(0)} ms)`)
  } catch (err) {
    failed++
    console.log(`FAIL seed=${seed} preVote=${preVote} checkQuorum=${checkQuorum} (replay with SEED=${seed}): ${(err as Error).message}`)
  }
}
process.exitCode = failed > 0 ? 1 : 0
