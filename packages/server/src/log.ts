import { ServerError } from './peer/errors.js'

/**
 * Structured logs, one JSON object per line: `{"level":"info","ts":"2026-…Z","msg":"…", …fields}`
 * — the shape etcd's zap logger writes, so the same tooling reads both.
 *
 * Why not pino: pino earns its speed with an asynchronous destination and worker-thread
 * transports, which a server that logs lifecycle and peer events (tens of lines a second at
 * most, never per request) does not need; this writer is synchronous (a line written before a
 * crash is not lost in a buffer), has no dependency, and is a few dozen lines.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export interface Logger {
  readonly level: LogLevel
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** A logger that adds `fields` to every line (e.g. `{ component: 'peer' }`). */
  child(fields: Record<string, unknown>): Logger
}

export interface LoggerOptions {
  /** Lines below this level are skipped. Default 'info'. */
  readonly level?: LogLevel
  /** Where lines go. Default: process.stderr (etcd logs to stderr; stdout stays free for a command's output). */
  readonly write?: (line: string) => void
  /** The timestamp of a line. Default: the wall clock as ISO 8601 (logs are for people, not for the cores). */
  readonly now?: () => string
}

/** Parses `--log-level` (ERR_SERVER_INVALID_OPTION for anything but debug, info, warn, error). */
export function parseLogLevel(value: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel
  throw new ServerError('ERR_SERVER_INVALID_OPTION', `server: --log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`, { flag: 'log-level' })
}

/** Errors become `{ message, code }`; bigints become strings; everything else as JSON has it. */
function replacer(_key: string, v: unknown): unknown {
  if (v instanceof Error) return { message: v.message, ...((v as { code?: unknown }).code === undefined ? {} : { code: (v as { code?: unknown }).code }) }
  if (typeof v === 'bigint') return v.toString()
  return v
}

export function createLogger(options: LoggerOptions = {}, bound: Record<string, unknown> = {}): Logger {
  const level = options.level ?? 'info'
  const min = LOG_LEVELS.indexOf(level)
  const write = options.write ?? ((line: string) => void process.stderr.write(line))
  const now = options.now ?? (() => new Date().toISOString())
  const emit = (l: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LOG_LEVELS.indexOf(l) < min) return
    write(`${JSON.stringify({ level: l, ts: now(), msg, ...bound, ...fields }, replacer)}\n`)
  }
  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  }
}
