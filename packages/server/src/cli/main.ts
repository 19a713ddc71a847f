// The `strata` command's dispatcher; `bin.ts` runs it (the package's bin: `bin/strata`).
//
// Flags are parsed with node:util parseArgs rather than commander: it is built in (no
// dependency in a server's start-up path), strict (an unknown or misspelt flag is a usage
// error, exit 2, never silently ignored) and takes etcd's `--flag value` and `--flag=value`
// forms; each command's --help is a hand-written text listing etcd's flag names and defaults.
import { runBench } from '../bench/cli.js'
import { type CliIo, CliError, EXIT, processIo } from './args.js'
import { checkCommand } from './check-perf.js'
import { defragCommand } from './maintenance.js'
import { serve } from './serve.js'
import { snapshotCommand } from './snapshot.js'
import { verifyCommand } from './verify.js'
import { walCommand } from './wal.js'

export const MAIN_HELP = `strata <command> [flags]: a consistent key-value store speaking etcd's v3 API.

Commands:
  serve                    run a member (etcd's flags: --name, --data-dir, --listen-client-urls, ...)
  wal verify|dump <dir>    check or print a member's write-ahead log
  verify <data-dir>        check a stopped member's whole data directory (WAL, backend, records)
  snapshot save|restore|status  back up a member over gRPC; restore a backup into a new data directory; check a backup file
  defrag                   defragment a member's backend
  check perf               etcdctl's performance check against a cluster
  bench <kind>             load generator speaking etcd's gRPC (etcd or Strata)

Every command takes --help. Exit codes: 0 ok, 1 failed, 2 usage, 3 unavailable, 4 corrupt data.
`

const COMMANDS: Record<string, (argv: readonly string[], io: CliIo) => Promise<number>> = {
  serve,
  wal: walCommand,
  snapshot: snapshotCommand,
  verify: verifyCommand,
  defrag: defragCommand,
  check: checkCommand,
  bench: (argv, io) => runBench(argv, { out: io.out, err: io.err, progress: io.tty }),
}

/** Runs one command line; resolves with the exit code (errors are printed, never thrown). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(MAIN_HELP)
    return command === undefined ? EXIT.USAGE : EXIT.OK
  }
  const run = COMMANDS[command]
  if (run === undefined) {
    io.err(`strata: unknown command ${JSON.stringify(command)}\n\n${MAIN_HELP}`)
    return EXIT.USAGE
  }
  try {
    return await run(rest, io)
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`strata ${command}: ${err.message}\n`)
      return err.exitCode
    }
    const e = err as Error & { code?: unknown }
    io.err(`strata ${command}: ${typeof e.code === 'string' ? `${e.code}: ` : ''}${e.message}\n`)
    return EXIT.FAILURE
  }
}
