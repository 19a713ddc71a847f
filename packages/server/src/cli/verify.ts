import { existsSync, statSync } from 'node:fs'
import { verify } from '@strata/embed'
import { type CliIo, CliError, EXIT, parse } from './args.js'

export const VERIFY_HELP = `strata verify <data-dir>: check a stopped member's data directory for damage.

Checks the write-ahead log (frame checksums, the chain, entry gaps), the backend file's
structure (every page read in a child process, so a page that would crash LMDB is reported
rather than suffered), every stored record's checksum and the record totals of the meta
bucket. Never writes. Prints what is damaged and what can be recovered, one line each.
The member must be stopped (a directory in use is refused). Exit 0 when sound, 4 when
damaged, 2 for usage errors.

  -w, --write-out <simple|json>   output format [simple]
  --help                          this text
`

export async function verifyCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const p = parse(argv, { 'write-out': { type: 'string', short: 'w' } }, VERIFY_HELP, io)
  if (p === undefined) return EXIT.OK
  const [dir, ...extra] = p.positionals
  if (dir === undefined || extra.length > 0) throw new CliError(EXIT.USAGE, `usage: strata verify <data-dir>\n\n${VERIFY_HELP}`)
  const format = p.values['write-out'] ?? 'simple'
  if (format !== 'simple' && format !== 'json') throw new CliError(EXIT.USAGE, `--write-out must be simple or json, got ${JSON.stringify(format)}`)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(EXIT.USAGE, `${dir}: no such directory`)
  if (!existsSync(`${dir}/wal`) && !existsSync(`${dir}/db`)) throw new CliError(EXIT.USAGE, `${dir} is not a member's data directory (it has neither wal/ nor db/)`)
  let report
  try {
    report = await verify(dir)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ERR_BACKEND_LOCKED') throw new CliError(EXIT.USAGE, `${dir} is in use by a running member; stop it first`)
    throw err
  }
  if (format === 'json') io.out(`${JSON.stringify(report)}\n`)
  else {
    io.out(`${dir}: ${report.ok ? 'sound' : 'DAMAGED'}\n`)
    for (const line of report.summary) io.out(`  ${line}\n`)
    for (const d of report.records.damaged) io.out(`  damaged record: revision ${d.revision}${d.key === undefined ? '' : ` key ${JSON.stringify(d.key)}`}: ${d.reason}\n`)
    if (report.records.damagedCount > report.records.damaged.length) io.out(`  ... and ${report.records.damagedCount - report.records.damaged.length} more damaged record(s)\n`)
  }
  return report.ok ? EXIT.OK : EXIT.CORRUPT
}
