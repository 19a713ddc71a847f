import { createWriteStream, existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs'
import { MemoryBackend } from '@strata/backend'
import { snapshotFromSavedFile } from '../api/maintenance.js'
import { type CliIo, CliError, EXIT, parse, progress } from './args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, rpcFailure, withClient } from './client.js'

export const SNAPSHOT_HELP = `strata snapshot <save|status> ...: back up a member's data, inspect a backup.

  save <file>      stream the backend from a server (Maintenance.Snapshot) into <file>
                   (written to <file>.part, renamed when complete; progress on stderr)
${CLIENT_FLAGS_HELP}  status <file>    check a snapshot file end to end (its SHA-256 trailer, the stream's format
                   and checksum) and print hash, revision, total keys (revisions stored) and
                   size, as etcdctl does. Reads the whole file into memory. Exit 4 when damaged.
  -w, --write-out <simple|json>   output format [simple]
  --help           this text
`

async function save(file: string, values: Record<string, unknown>, io: CliIo): Promise<number> {
  if (existsSync(file)) throw new CliError(EXIT.USAGE, `${file} exists; choose a new file name`)
  const part = `${file}.part`
  return withClient(values, io, async (c) => {
    const call = (c.maintenance.Snapshot as (r: unknown) => NodeJS.ReadableStream & { cancel(): void }).call(c.maintenance, {})
    const out = createWriteStream(part)
    const bar = progress(io, `saving snapshot from ${c.endpoint}`)
    let bytes = 0
    let total: number | undefined
    try {
      for await (const msg of call as AsyncIterable<{ blob: Buffer; remaining_bytes: number }>) {
        bytes += msg.blob.length
        if (total === undefined && msg.remaining_bytes > 0) total = bytes + msg.remaining_bytes
        if (!out.write(msg.blob)) await new Promise<void>((r) => out.once('drain', () => r()))
        bar.update(bytes, total, ' bytes')
      }
      await new Promise<void>((done, fail) => out.end((err?: Error | null) => (err ? fail(err) : done())))
    } catch (err) {
      out.destroy()
      if (existsSync(part)) unlinkSync(part)
      throw (err as { code?: unknown }).code !== undefined && typeof (err as { code?: unknown }).code === 'number' ? rpcFailure(c.endpoint, err as Error) : err
    } finally {
      bar.end()
    }
    renameSync(part, file)
    io.out(`Snapshot saved at ${file} (${bytes} bytes)\n`)
    return EXIT.OK
  })
}

/**
 * Status of a file `snapshot save` (or `etcdctl snapshot save`) wrote: its SHA-256 trailer and
 * the backend stream inside are checked in full (CliError CORRUPT otherwise); `hash` is that
 * trailer in hex, `revision` the newest revision stored, `totalKey` the revisions stored.
 */
export async function snapshotStatus(file: string): Promise<{ hash: string; revision: number; totalKey: number; totalSize: number }> {
  if (!existsSync(file)) throw new CliError(EXIT.USAGE, `${file}: no such file`)
  const bytes = readFileSync(file)
  let stream: Uint8Array
  try {
    stream = snapshotFromSavedFile(bytes)
  } catch (err) {
    throw new CliError(EXIT.CORRUPT, `${file}: not a valid snapshot: ${(err as Error).message}`)
  }
  const backend = await MemoryBackend.open()
  try {
    await backend.restore((async function* () { yield stream })()).catch((err: Error) => {
      throw new CliError(EXIT.CORRUPT, `${file}: not a valid snapshot: ${err.message}`)
    })
    let totalKey = 0
    let last: Uint8Array | undefined
    backend.read((tx) => tx.forEach('key', new Uint8Array(0), undefined, (k) => { totalKey++; last = k }))
    const revision = last === undefined || last.length < 8 ? 0 : Number(Buffer.from(last).readBigUInt64BE(0))
    return { hash: bytes.subarray(bytes.length - 32).toString('hex'), revision, totalKey, totalSize: bytes.length }
  } finally {
    await backend.close()
  }
}

export async function snapshotCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const p = parse(argv, { ...CLIENT_FLAGS, 'write-out': { type: 'string', short: 'w' } }, SNAPSHOT_HELP, io)
  if (p === undefined) return EXIT.OK
  const [sub, file, ...extra] = p.positionals
  if (file === undefined || extra.length > 0 || (sub !== 'save' && sub !== 'status')) throw new CliError(EXIT.USAGE, `usage: strata snapshot <save|status> <file>\n\n${SNAPSHOT_HELP}`)
  if (sub === 'save') return save(file, p.values, io)
  const s = await snapshotStatus(file)
  if (p.values['write-out'] === 'json') io.out(`${JSON.stringify(s)}\n`)
  else io.out(`${s.hash}, ${s.revision}, ${s.totalKey}, ${s.totalSize}\n`)
  return EXIT.OK
}
