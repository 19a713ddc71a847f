// The long run: `pnpm sim [--seeds N] [--seed S] [--members 1|3|5] [--ops N] [--verbose]`.
// Every seed builds a cluster, runs ~2,000 calls under a swarm of faults and checks the
// history; a failing seed is replayed with its fault schedule shrunk. Exits 1 on any violation.
import { main } from '../src/cli.js'

process.exitCode = await main(process.argv.slice(2))
