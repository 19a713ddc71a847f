// The `strata` command's dispatcher; `bin.ts` runs it (the package's bin: `bin/strata`).
//
// Flags are parsed with node:util parseArgs rather than commander: it is built in (no
// dependency in a server's start-up path), strict (an unknown or misspelt flag is a usage
// error, exit 2, never silently ignored) and takes etcd's `--flag value` and `--flag=value`
// forms; each command's --help is a hand-written text listing etcd's flag names and defaults.
//
// Each command's module is imported when that command runs: `serve` does not pay for the gRPC
// client library the client commands use, nor they for the store (issue 15: module loading was
// a fifth of a restart).
import { type CliIo, CliError, EXIT, processIo } from './args.js'

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

type Command = (argv: readonly string[], io: CliIo) => Promise<number>

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serve,
  wal: async () => (await import('./wal.js')).walCommand,
  snapshot: async () => (await import('./snapshot.js')).snapshotCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  defrag: async () => (await import('./maintenance.js')).defragCommand,
  check: async () => (await import('./check-perf.js')).checkCommand,
  bench: async () => {
    const { runBench } = await import('../bench/cli.js')
    return (argv, io) => runBench(argv, { out: io.out, err: io.err, progress: io.tty })
  },
}

/** Runs one command line; resolves with the exit code (errors are printed, never thrown). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(MAIN_HELP)
    return command === undefined ? EXIT.USAGE : EXIT.OK
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (load === undefined) {
    io.err(`strata: unknown command ${JSON.stringify(command)}\n\n${MAIN_HELP}`)
    return EXIT.USAGE
  }
  try {
    const run = await load()
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
