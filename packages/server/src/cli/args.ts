import { type ParseArgsConfig, parseArgs } from 'node:util'

/**
 * Exit codes of every `strata` command (stable; scripts may test them):
 * 0 success; 1 the work failed (an error at run time, a failed `check perf`); 2 usage (an
 * unknown command or flag, a bad flag value); 3 unavailable (no endpoint answered);
 * 4 corrupt data found (`verify`, `wal verify`, `snapshot status|restore`).
 */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, UNAVAILABLE: 3, CORRUPT: 4 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** An error a command reports to its user and exits with. */
export class CliError extends Error {
  readonly exitCode: ExitCode
  constructor(exitCode: ExitCode, message: string) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** Where a command writes: stdout for its output, stderr for progress and logs. */
export interface CliIo {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  /** Whether stderr is a terminal (progress redraws one line there; elsewhere it prints a line now and then). */
  readonly tty: boolean
}

export const processIo: CliIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  tty: process.stderr.isTTY === true,
}

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * node:util parseArgs in strict mode (an unknown flag is a usage error, not silently
 * ignored), with `--help` on every command. Returns undefined when help was asked for.
 */
export function parse<O extends Options>(argv: readonly string[], options: O, help: string, io: CliIo, allowPositionals = true): { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined {
  let r
  try {
    r = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals })
  } catch (err) {
    throw new CliError(EXIT.USAGE, `${(err as Error).message}\n\n${help}`)
  }
  if ((r.values as Record<string, unknown>).help === true) {
    io.out(help)
    return undefined
  }
  return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals }
}

/** A flag's value as an integer in [min, max]; usage error otherwise. */
export function intFlag(values: Record<string, unknown>, name: string, dflt: number, min: number, max: number): number {
  const v = values[name]
  if (v === undefined) return dflt
  const n = Number(v)
  if (typeof v !== 'string' || !/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new CliError(EXIT.USAGE, `--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`)
  }
  return n
}

export function strFlag(values: Record<string, unknown>, name: string, dflt: string): string
export function strFlag(values: Record<string, unknown>, name: string): string | undefined
export function strFlag(values: Record<string, unknown>, name: string, dflt?: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : dflt
}

/** Progress of long work: a redrawn line on a terminal, otherwise a line at most every `everyMs`. */
export function progress(io: CliIo, label: string, everyMs = 1_000): { update(done: number, total?: number, unit?: string): void; end(): void } {
  let last = 0
  let shown = false
  return {
    update(done, total, unit = '') {
      const now = performance.now()
      if (now - last < (io.tty ? 100 : everyMs)) return
      last = now
      const pct = total !== undefined && total > 0 ? ` ${((100 * done) / total).toFixed(0)}%` : ''
      const line = `${label}: ${done}${total !== undefined ? `/${total}` : ''}${unit}${pct}`
      shown = true
      io.err(io.tty ? `\r${line}\x1b[K` : `${line}\n`)
    },
    end() {
      if (shown && io.tty) io.err('\n')
    },
  }
}
