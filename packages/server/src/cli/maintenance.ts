import { type CliIo, EXIT, parse } from './args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, withClient } from './client.js'

export const DEFRAG_HELP = `strata defrag [flags]: rewrite a member's backend compactly (Maintenance.Defragment),
reclaiming the space compaction freed. Writes to that member wait meanwhile.

${CLIENT_FLAGS_HELP}  --help                  this text
`

export async function defragCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const p = parse(argv, CLIENT_FLAGS, DEFRAG_HELP, io, false)
  if (p === undefined) return EXIT.OK
  return withClient(p.values, io, async (c) => {
    const status = c.unary(c.maintenance, 'Status')
    const before = await status({}) as { dbSize: number }
    io.err(`defragmenting ${c.endpoint} (${before.dbSize} bytes)...\n`)
    await c.unary(c.maintenance, 'Defragment')({})
    const after = await status({}) as { dbSize: number }
    io.out(`Finished defragmenting etcd member[${c.endpoint}]: ${before.dbSize} -> ${after.dbSize} bytes\n`)
    return EXIT.OK
  })
}
