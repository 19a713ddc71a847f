import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { WalError, dump, verify } from '@strata/wal'
import { type CliIo, CliError, EXIT, parse } from './args.js'

export const WAL_HELP = `strata wal <verify|dump> <dir>: check or print a write-ahead log without opening the member.

  <dir>     a member's data directory (its wal/ is used) or a WAL directory itself

  verify    checks every frame checksum, the checksum chain across segments, entry gaps and
            the snapshot records; prints a summary. Exit 0 when intact (a torn tail, which
            a restart repairs, is reported), 4 when damaged.
  dump      prints one line per record (segment, offset, type, fields), oldest first.
  --json    print JSON (verify: one object; dump: one object per line)
  --help    this text
`

function walDir(dir: string): string {
  return existsSync(join(dir, 'wal')) ? join(dir, 'wal') : dir
}

function damaged(err: unknown): never {
  if (err instanceof WalError) throw new CliError(EXIT.CORRUPT, `${err.code}: ${err.message}`)
  throw err
}

export async function walCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const p = parse(argv, { json: { type: 'boolean' } }, WAL_HELP, io)
  if (p === undefined) return EXIT.OK
  const [sub, dir, ...extra] = p.positionals
  if ((sub !== 'verify' && sub !== 'dump') || dir === undefined || extra.length > 0) throw new CliError(EXIT.USAGE, `usage: strata wal <verify|dump> <dir>\n\n${WAL_HELP}`)
  if (!existsSync(dir)) throw new CliError(EXIT.USAGE, `${dir}: no such directory`)
  const json = p.values.json === true
  const wd = walDir(dir)
  if (sub === 'verify') {
    const r = await verify(wd).catch(damaged)
    if (json) io.out(`${JSON.stringify({ dir: wd, ok: true, ...r })}\n`)
    else io.out(`${wd}: intact: ${r.segments} segment(s), last index ${r.lastIndex}, term ${r.hardState.term}, commit ${r.hardState.commit}, tail ${r.tail === 'torn' ? 'torn (a restart repairs it)' : 'clean'}\n`)
    return EXIT.OK
  }
  let n = 0
  try {
    for await (const item of dump(wd)) {
      n++
      const r = item.record
      const fields = r.type === 'entry' ? { index: r.entry.index, term: r.entry.term, entryType: r.entry.type, bytes: r.entry.data.length }
        : r.type === 'hardState' ? r.hardState
          : r.type === 'snapshot' ? r.snapshot
            : r.type === 'crc' ? { prevChain: r.prevChain, version: r.version, seq: r.seq, firstIndex: r.firstIndex }
              : { bytes: r.data.length }
      if (json) io.out(`${JSON.stringify({ segment: item.segment, offset: item.offset, type: r.type, ...fields })}\n`)
      else io.out(`${item.segment} @${item.offset} ${r.type} ${Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')}\n`)
    }
  } catch (err) {
    damaged(err)
  }
  if (!json) io.err(`${n} record(s)\n`)
  return EXIT.OK
}
