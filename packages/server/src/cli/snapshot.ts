import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, openSync, closeSync, readFileSync, readSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs'
import { MemoryBackend } from '@strata/backend'
import { restoreSnapshot } from '@strata/embed'
import { snapshotFromSavedFile } from '../api/maintenance.js'
import { clusterIdFor } from '../peer/ids.js'
import { type CliIo, CliError, EXIT, parse, progress, strFlag } from './args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, rpcFailure, withClient } from './client.js'
import { memberFlags, writeIdentity } from './serve.js'

export const SNAPSHOT_HELP = `strata snapshot <save|restore|status> ...: back up a member's data, restore or inspect a backup.

  save <file>      stream the backend from a server (Maintenance.Snapshot) into <file>
                   (written to <file>.part, renamed when complete; progress on stderr)
${CLIENT_FLAGS_HELP}  status <file>    check a snapshot file end to end (its SHA-256 trailer, the stream's format
                   and checksum) and print hash, revision, total keys (revisions stored) and
                   size, as etcdctl does. Reads the whole file into memory. Exit 4 when damaged.
  restore <file>   create a new member's data directory from a backup, as etcdctl snapshot
                   restore does: the file's SHA-256 and the stream inside are checked (exit 4
                   when damaged), the keys, leases, users, roles and revisions are kept, the
                   membership is replaced by a new cluster's (new member ids, the cluster id
                   of the token); then start it with strata serve and the same flags. Every
                   member of the new cluster restores the same file with its own --name.
                   Reads the file twice in 1 MiB chunks (checksum, then restore); progress on stderr.
    --data-dir <dir>                     the new directory; refused if it exists and is not empty [<name>.etcd]
    --name <name>                        this member's name [default]
    --initial-cluster <name=url,...>     the new cluster's members [<name>=<initial-advertise-peer-urls>]
    --initial-cluster-token <token>      the new cluster's token [etcd-cluster]
    --initial-advertise-peer-urls <urls> this member's peer URLs [http://localhost:2380]
  -w, --write-out <simple|json>   output format [simple]
  --help           this text
`

const RESTORE_FLAGS = {
  'data-dir': { type: 'string' }, name: { type: 'string' }, 'initial-cluster': { type: 'string' },
  'initial-cluster-token': { type: 'string' }, 'initial-advertise-peer-urls': { type: 'string' },
} as const

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

const SHA256_BYTES = 32
const SAVED_ALIGN_BYTES = 512
/** The longest record head of a backend stream: type, name length, a 255-byte name, key and value lengths. */
const MAX_RECORD_HEAD = 1 + 1 + 255 + 6
const READ_CHUNK_BYTES = 1024 * 1024

/**
 * Checks a saved snapshot file's SHA-256 trailer by reading it once, in chunks (not into memory);
 * CliError CORRUPT when it does not match. Returns the length of the body before the trailer.
 */
export async function checkSavedFile(file: string, onBytes?: (done: number, total: number) => void): Promise<number> {
  const size = statSync(file).size
  const body = size - SHA256_BYTES
  if (body < 16 || body % SAVED_ALIGN_BYTES !== 0) throw new CliError(EXIT.CORRUPT, `${file}: not a valid snapshot: ${size} bytes, no SHA-256 trailer at a 512-byte boundary`)
  const sha = createHash('sha256')
  let done = 0
  for await (const chunk of createReadStream(file, { end: body - 1, highWaterMark: READ_CHUNK_BYTES })) {
    sha.update(chunk as Buffer)
    done += (chunk as Buffer).length
    onBytes?.(done, body)
  }
  const trailer = Buffer.alloc(SHA256_BYTES)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, trailer, 0, SHA256_BYTES, body)
  } finally {
    closeSync(fd)
  }
  if (!sha.digest().equals(trailer)) throw new CliError(EXIT.CORRUPT, `${file}: not a valid snapshot: SHA-256 mismatch: the file is damaged`)
  return body
}

/**
 * The backend stream inside a saved snapshot file (its first `body` bytes, the trailer checked
 * by {@link checkSavedFile}), read in 1 MiB chunks: the records' heads are walked as the chunks
 * pass (the bytes between them are not looked at) to find where the stream's own trailer ends,
 * and the zero padding after it is checked and left out — what `snapshotFromSavedFile` does on
 * a file in memory, in bounded memory. `chunkBytes` (default 1 MiB) is for tests of heads that
 * span chunks.
 */
export async function* savedFileBackendStream(file: string, body: number, chunkBytes = READ_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  const bad = (why: string): CliError => new CliError(EXIT.CORRUPT, `${file}: not a valid snapshot: ${why}`)
  let next = 16 // where the next record's head starts (absolute)
  let end = -1 // where the stream ends, once its END record is seen
  let offset = 0 // absolute offset of the chunk about to come
  let tail: Buffer = Buffer.alloc(0) // the bytes from `next` on when a head spans two chunks
  for await (const raw of createReadStream(file, { end: body - 1, highWaterMark: chunkBytes })) {
    const chunk = raw as Buffer
    const start = offset
    offset += chunk.length
    const view = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk
    const viewStart = start - tail.length
    tail = Buffer.alloc(0)
    while (end < 0 && next < offset) {
      const at = next - viewStart
      const type = view[at]
      if (type === 0xff) {
        end = next + 13
        break
      }
      if (type !== 0x01) throw bad(`unknown record type ${type} at byte ${next}`)
      if (at + 2 > view.length) break
      const n = view[at + 1]!
      if (at + 2 + n + 6 > view.length) break
      next += 2 + n + 6 + view.readUInt16BE(at + 2 + n) + view.readUInt32BE(at + 2 + n + 2)
    }
    if (end < 0) {
      if (next < offset) tail = Buffer.from(view.subarray(next - viewStart))
      if (tail.length > MAX_RECORD_HEAD) throw bad('a record head is too long')
      yield chunk
      continue
    }
    const keep = Math.max(0, Math.min(chunk.length, end - start))
    for (let i = keep; i < chunk.length; i++) if (chunk[i] !== 0) throw bad('data after the stream trailer')
    if (keep > 0) yield chunk.subarray(0, keep)
  }
  if (end < 0 || end > body) throw bad('it does not hold a complete Strata backend stream')
}

/**
 * `strata snapshot restore`: checks the file (SHA-256 trailer, the backend stream's framing),
 * then has @strata/embed's restoreSnapshot build the data directory for the new cluster the
 * flags describe (ids derived as `serve` derives them), and records the member's identity.
 */
async function restore(file: string, values: Record<string, unknown>, io: CliIo): Promise<number> {
  const name = strFlag(values, 'name', 'default')
  const token = strFlag(values, 'initial-cluster-token', 'etcd-cluster')
  const { initialCluster: members, self } = memberFlags(values, name, token)
  const dataDir = strFlag(values, 'data-dir', `${name}.etcd`)
  if (existsSync(dataDir) && (!statSync(dataDir).isDirectory() || readdirSync(dataDir).length > 0)) {
    throw new CliError(EXIT.USAGE, `--data-dir ${dataDir} exists and is not empty; restore into a new directory`)
  }
  if (!existsSync(file)) throw new CliError(EXIT.USAGE, `${file}: no such file`)
  const check = progress(io, `checking ${file}`)
  let body: number
  try {
    body = await checkSavedFile(file, (done, total) => check.update(done, total, ' bytes'))
  } finally {
    check.end()
  }
  const bar = progress(io, `restoring ${file} into ${dataDir}`)
  const clusterId = clusterIdFor(token)
  let r
  try {
    r = await restoreSnapshot(savedFileBackendStream(file, body), dataDir, { members, totalBytes: body, onProgress: (p) => bar.update(p.done, p.total, ' bytes') })
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && /CORRUPT/.test(code)) throw new CliError(EXIT.CORRUPT, `${file}: not a valid snapshot: ${code}: ${(err as Error).message}`)
    throw err
  } finally {
    bar.end()
  }
  writeIdentity({ dataDir, memberId: self.id, clusterId, name })
  const result = { dataDir, revision: r.revision, raftIndex: r.index, memberId: self.id.toString(16), clusterId: clusterId.toString(16), members: members.map((m) => ({ name: m.name, id: m.id.toString(16), peerUrls: m.peerUrls })) }
  if (values['write-out'] === 'json') io.out(`${JSON.stringify(result)}\n`)
  else io.out(`Restored ${file} into ${dataDir}: revision ${r.revision}, member ${result.memberId} (${name}) of cluster ${result.clusterId} with ${members.length} member(s)\n`)
  return EXIT.OK
}

export async function snapshotCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const p = parse(argv, { ...CLIENT_FLAGS, ...RESTORE_FLAGS, 'write-out': { type: 'string', short: 'w' } }, SNAPSHOT_HELP, io)
  if (p === undefined) return EXIT.OK
  const [sub, file, ...extra] = p.positionals
  if (file === undefined || extra.length > 0 || (sub !== 'save' && sub !== 'status' && sub !== 'restore')) throw new CliError(EXIT.USAGE, `usage: strata snapshot <save|restore|status> <file>\n\n${SNAPSHOT_HELP}`)
  const usedRestoreFlags = Object.keys(RESTORE_FLAGS).filter((f) => p.values[f] !== undefined)
  if (sub !== 'restore' && usedRestoreFlags.length > 0) throw new CliError(EXIT.USAGE, `--${usedRestoreFlags[0]} is a flag of snapshot restore only`)
  if (sub === 'restore') return restore(file, p.values, io)
  if (sub === 'save') return save(file, p.values, io)
  const s = await snapshotStatus(file)
  if (p.values['write-out'] === 'json') io.out(`${JSON.stringify(s)}\n`)
  else io.out(`${s.hash}, ${s.revision}, ${s.totalKey}, ${s.totalSize}\n`)
  return EXIT.OK
}
