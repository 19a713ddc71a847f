#!/usr/bin/env node
// Entry point of the `strata` executable: runs one command line and exits with its code.
import { main } from './main.js'

const code = await main(process.argv.slice(2))
// Commands other than serve are done here; exit even if a client library left a handle open.
process.exit(code)
