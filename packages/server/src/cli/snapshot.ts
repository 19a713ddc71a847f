import { createWriteStream, existsSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs'
import { MemoryBackend } from '@strata/backend'
import { restoreSnapshot } from '@strata/embed'
import { snapshotFromSavedFile } from '../api/maintenance.js'
import { clusterIdFor } from '../peer/ids.js'
import { parseUrlList } from '../peer/url.js'
import { type CliIo, CliError, EXIT, parse, progress, strFlag } from './args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, rpcFailure, withClient } from './client.js'
import { parseInitialCluster, writeIdentity } from './serve.js'

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
                   Reads the whole file into memory; progress on stderr.
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

/**
 * `strata snapshot restore`: checks the file (SHA-256 trailer, the backend stream's framing),
 * then has @strata/embed's restoreSnapshot build the data directory for the new cluster the
 * flags describe (ids derived as `serve` derives them), and records the member's identity.
 */
async function restore(file: string, values: Record<string, unknown>, io: CliIo): Promise<number> {
  const name = strFlag(values, 'name', 'default')
  const token = strFlag(values, 'initial-cluster-token', 'etcd-cluster')
  let advertise: string[]
  try {
    advertise = parseUrlList(strFlag(values, 'initial-advertise-peer-urls', 'http://localhost:2380'), '--initial-advertise-peer-urls')
  } catch (err) {
    throw new CliError(EXIT.USAGE, (err as Error).message)
  }
  const members = parseInitialCluster(strFlag(values, 'initial-cluster', advertise.map((u) => `${name}=${u}`).join(',')), token)
  const self = members.find((m) => m.name === name)
  if (self === undefined) throw new CliError(EXIT.USAGE, `--initial-cluster does not list this member's --name ${JSON.stringify(name)}`)
  if ([...self.peerUrls!].sort().join(',') !== [...advertise].sort().join(',')) {
    throw new CliError(EXIT.USAGE, `--initial-cluster lists ${name} at ${self.peerUrls!.join(',')} but --initial-advertise-peer-urls is ${advertise.join(',')}; they must match`)
  }
  const dataDir = strFlag(values, 'data-dir', `${name}.etcd`)
  if (existsSync(dataDir) && (!statSync(dataDir).isDirectory() || readdirSync(dataDir).length > 0)) {
    throw new CliError(EXIT.USAGE, `--data-dir ${dataDir} exists and is not empty; restore into a new directory`)
  }
  if (!existsSync(file)) throw new CliError(EXIT.USAGE, `${file}: no such file`)
  const bytes = readFileSync(file)
  let stream: Uint8Array
  try {
    stream = snapshotFromSavedFile(bytes)
  } catch (err) {
    throw new CliError(EXIT.CORRUPT, `${file}: not a valid snapshot: ${(err as Error).message}`)
  }
  const bar = progress(io, `restoring ${file} into ${dataDir}`)
  const clusterId = clusterIdFor(token)
  let r
  try {
    const piece = 1024 * 1024
    r = await restoreSnapshot((async function* () {
      for (let at = 0; at < stream.length; at += piece) yield stream.subarray(at, at + piece)
    })(), dataDir, { members, totalBytes: stream.length, onProgress: (p) => bar.update(p.done, p.total, ' bytes') })
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
