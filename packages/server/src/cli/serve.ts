import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SCAN_THREAD_MIN_FILE_BYTES, prestartScanThread } from '@strata/backend/scan-thread'
import type { InitialMember, Store } from '@strata/embed'
import { nodeFileSystem } from '@strata/seams'
import { grpcForwarder } from '../forwarder.js'
import type { GrpcServer } from '../grpc-server.js'
import { type Logger, createLogger, parseLogLevel } from '../log.js'
import { ServerMetrics } from '../metrics.js'
import { clusterIdFor, memberIdFor } from '../peer/ids.js'
import { TcpTransport, type PeerEvent, fetchMembers } from '../peer/tcp-transport.js'
import { parseHostPort, parseUrlList } from '../peer/url.js'
import { type TlsMaterial, loadTls } from '../tls.js'
import { type CliIo, CliError, EXIT, intFlag, parse, strFlag } from './args.js'

export const SERVE_HELP = `strata serve [flags]: run one member of a Strata cluster, serving etcd's v3 gRPC API.

Flags (etcd's names and defaults, in brackets):
  --name <name>                        this member's name [default]
  --data-dir <dir>                     where the member keeps its data [<name>.etcd]
  --listen-client-urls <urls>          where to serve clients, comma-separated [http://localhost:2379]
  --advertise-client-urls <urls>       client URLs told to the cluster [the listen-client-urls]
  --listen-peer-urls <urls>            where to accept peers [http://localhost:2380]
  --initial-advertise-peer-urls <urls> this member's peer URLs as its peers reach them [http://localhost:2380]
  --initial-cluster <name=url,...>     every initial member's peer URLs [<name>=<initial-advertise-peer-urls>]
  --initial-cluster-state <new|existing> new: bootstrap; existing: join a cluster that added this member [new]
  --initial-cluster-token <token>      the cluster's token (ids derive from it) [etcd-cluster]
  --quota-backend-bytes <n>            backend size that raises NOSPACE; 0: the default 2 GiB [0]
  --snapshot-count <n>                 applied entries between raft snapshots [100000]
  --experimental-snapshot-catchup-entries <n>  entries kept behind a snapshot for slow followers [5000]
  --heartbeat-interval <ms>            raft tick [100]
  --election-timeout <ms>              election timeout, a multiple of the tick [1000]
  --auth-token <simple>                token kind; only simple tokens are supported [simple]
  --cert-file, --key-file <file>       TLS on the client port (and https metrics URLs)
  --trusted-ca-file <file>             CA for client certificates
  --client-cert-auth                   refuse clients without a certificate signed by the CA
  --peer-cert-file, --peer-key-file <file>, --peer-trusted-ca-file <file>, --peer-client-cert-auth
                                       the same four for the peer port (https peer URLs)
  --listen-metrics-urls <urls>         serve /metrics (Prometheus) and /health there
  --log-level <debug|info|warn|error>  JSON-lines logs on stderr [info]
  --experimental-grpc-js               serve clients with @grpc/grpc-js on node:http2 instead of Strata's
                                       lean HTTP/2 server (about twice the CPU per call; for comparison)
  --help                               this text

Stops cleanly on SIGTERM or SIGINT (in-flight requests finish, the data is closed).
`

const FLAGS = {
  name: { type: 'string' }, 'data-dir': { type: 'string' },
  'listen-client-urls': { type: 'string' }, 'advertise-client-urls': { type: 'string' },
  'listen-peer-urls': { type: 'string' }, 'initial-advertise-peer-urls': { type: 'string' },
  'initial-cluster': { type: 'string' }, 'initial-cluster-state': { type: 'string' }, 'initial-cluster-token': { type: 'string' },
  'quota-backend-bytes': { type: 'string' }, 'snapshot-count': { type: 'string' }, 'experimental-snapshot-catchup-entries': { type: 'string' },
  'heartbeat-interval': { type: 'string' }, 'election-timeout': { type: 'string' }, 'auth-token': { type: 'string' },
  'cert-file': { type: 'string' }, 'key-file': { type: 'string' }, 'trusted-ca-file': { type: 'string' }, 'client-cert-auth': { type: 'boolean' },
  'peer-cert-file': { type: 'string' }, 'peer-key-file': { type: 'string' }, 'peer-trusted-ca-file': { type: 'string' }, 'peer-client-cert-auth': { type: 'boolean' },
  'listen-metrics-urls': { type: 'string' }, 'log-level': { type: 'string' }, 'experimental-grpc-js': { type: 'boolean' },
} as const

/** Everything `strata serve` was asked for, checked. */
export interface ServeConfig {
  readonly name: string
  readonly dataDir: string
  readonly listenClientUrls: readonly string[]
  readonly advertiseClientUrls: readonly string[]
  readonly listenPeerUrl: string
  readonly advertisePeerUrls: readonly string[]
  readonly initialCluster: readonly InitialMember[]
  readonly state: 'new' | 'existing'
  readonly token: string
  readonly memberId: number
  readonly clusterId: number
  readonly quotaBackendBytes: number
  readonly snapshotCount: number
  readonly snapshotCatchUpEntries: number
  readonly tickMs: number
  readonly electionTicks: number
  readonly clientTls: TlsMaterial | undefined
  readonly peerTls: TlsMaterial | undefined
  readonly metricsUrls: readonly string[]
  /** Serve clients with grpc-js (`--experimental-grpc-js`) instead of the lean HTTP/2 server. */
  readonly grpcJs: boolean
  readonly log: Logger
}

/** Parses `name=url,name=url` (a name repeated for several URLs), as etcd's --initial-cluster. */
export function parseInitialCluster(text: string, token: string): InitialMember[] {
  const byName = new Map<string, string[]>()
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf('=')
    if (eq <= 0) throw new CliError(EXIT.USAGE, `--initial-cluster: ${JSON.stringify(part)} is not name=url`)
    const name = part.slice(0, eq)
    const url = part.slice(eq + 1)
    try {
      parseHostPort(url, '--initial-cluster URL')
    } catch (err) {
      throw new CliError(EXIT.USAGE, (err as Error).message)
    }
    byName.set(name, [...(byName.get(name) ?? []), url])
  }
  if (byName.size === 0) throw new CliError(EXIT.USAGE, '--initial-cluster is empty')
  return [...byName].map(([name, peerUrls]) => ({ id: memberIdFor(peerUrls, token), name, peerUrls }))
}

function urls(values: Record<string, unknown>, flag: string, dflt: string): string[] {
  try {
    return parseUrlList(strFlag(values, flag, dflt), `--${flag}`)
  } catch (err) {
    throw new CliError(EXIT.USAGE, (err as Error).message)
  }
}

/**
 * `--initial-advertise-peer-urls` and `--initial-cluster` as `serve` and `snapshot restore` both
 * read them: the member list (ids derived from the token and each member's URLs), and this
 * member in it by `--name`, listed at exactly its advertised peer URLs (usage error otherwise).
 */
export function memberFlags(values: Record<string, unknown>, name: string, token: string): { advertisePeerUrls: string[]; initialCluster: InitialMember[]; self: InitialMember } {
  const advertisePeerUrls = urls(values, 'initial-advertise-peer-urls', 'http://localhost:2380')
  const initialCluster = parseInitialCluster(strFlag(values, 'initial-cluster', advertisePeerUrls.map((u) => `${name}=${u}`).join(',')), token)
  const self = initialCluster.find((m) => m.name === name)
  if (self === undefined) throw new CliError(EXIT.USAGE, `--initial-cluster does not list this member's --name ${JSON.stringify(name)}`)
  if (urlSet(self.peerUrls ?? []) !== urlSet(advertisePeerUrls)) {
    throw new CliError(EXIT.USAGE, `--initial-cluster lists ${name} at ${self.peerUrls!.join(',')} but --initial-advertise-peer-urls is ${advertisePeerUrls.join(',')}; they must match`)
  }
  return { advertisePeerUrls, initialCluster, self }
}

/** A list of URLs compared as a set. */
const urlSet = (list: readonly string[]): string => [...list].sort().join(',')

/**
 * The data directory's own record of this member (a restored directory: the flags of `snapshot
 * restore`; a running cluster: what `member add`/`member update` last set) must list it at the
 * `--initial-advertise-peer-urls` it starts with — the other members dial the recorded URLs, so
 * a member started with others would be advertised where it does not listen. Usage error naming
 * both and the two ways out.
 */
export function checkRecordedPeerUrls(store: Pick<Store, 'cluster'>, c: Pick<ServeConfig, 'dataDir' | 'name' | 'advertisePeerUrls'>): void {
  const list = store.cluster.members()
  const me = list.members.find((m) => m.id === list.header.memberId)
  if (me === undefined || me.peerUrls.length === 0) return // not applied yet: a new cluster's record is the flags'
  const recorded = urlSet(me.peerUrls)
  const flag = urlSet(c.advertisePeerUrls)
  if (recorded === flag) return
  const id = me.id.toString(16)
  throw new CliError(EXIT.USAGE, `${c.dataDir} records member ${id} (${c.name}) at peer URLs ${recorded} (as it was restored or last updated), but --initial-advertise-peer-urls is ${flag}: start it with --initial-advertise-peer-urls ${recorded}, or move it first with etcdctl member update ${id} --peer-urls=${flag} and restart it with those`)
}

function tlsOf(values: Record<string, unknown>, prefix: '' | 'peer-'): TlsMaterial | undefined {
  const cert = strFlag(values, `${prefix}cert-file`)
  const key = strFlag(values, `${prefix}key-file`)
  if (cert === undefined && key === undefined) {
    if (values[`${prefix}client-cert-auth`] === true) throw new CliError(EXIT.USAGE, `--${prefix}client-cert-auth needs --${prefix}cert-file, --${prefix}key-file and --${prefix}trusted-ca-file`)
    return undefined
  }
  if (cert === undefined || key === undefined) throw new CliError(EXIT.USAGE, `--${prefix}cert-file and --${prefix}key-file go together`)
  try {
    return loadTls({ certFile: cert, keyFile: key, trustedCaFile: strFlag(values, `${prefix}trusted-ca-file`), clientCertAuth: values[`${prefix}client-cert-auth`] === true }, prefix)
  } catch (err) {
    throw new CliError(EXIT.USAGE, (err as Error).message)
  }
}

/** Checks the flags of `strata serve` (usage errors name the flag). Undefined for --help. */
export function parseServeArgs(argv: readonly string[], io: CliIo): ServeConfig | undefined {
  const p = parse(argv, FLAGS, SERVE_HELP, io, false)
  if (p === undefined) return undefined
  const v = p.values
  let log: Logger
  try {
    log = createLogger({ level: parseLogLevel(strFlag(v, 'log-level', 'info')), write: io.err })
  } catch (err) {
    throw new CliError(EXIT.USAGE, (err as Error).message)
  }
  const name = strFlag(v, 'name', 'default')
  const token = strFlag(v, 'initial-cluster-token', 'etcd-cluster')
  const listenClientUrls = urls(v, 'listen-client-urls', 'http://localhost:2379')
  const listenPeerUrls = urls(v, 'listen-peer-urls', 'http://localhost:2380')
  if (listenPeerUrls.length > 1) throw new CliError(EXIT.USAGE, '--listen-peer-urls: one URL only (a member listens for peers on one address)')
  const { advertisePeerUrls, initialCluster, self } = memberFlags(v, name, token)
  const state = strFlag(v, 'initial-cluster-state', 'new')
  if (state !== 'new' && state !== 'existing') throw new CliError(EXIT.USAGE, `--initial-cluster-state must be new or existing, got ${JSON.stringify(state)}`)
  const authToken = strFlag(v, 'auth-token', 'simple')
  if (authToken !== 'simple') throw new CliError(EXIT.USAGE, `--auth-token ${JSON.stringify(authToken)}: only simple tokens are supported`)
  const tickMs = intFlag(v, 'heartbeat-interval', 100, 1, 60_000)
  const electionMs = intFlag(v, 'election-timeout', 1000, 2, 600_000)
  if (electionMs < 2 * tickMs) throw new CliError(EXIT.USAGE, `--election-timeout (${electionMs} ms) must be at least twice --heartbeat-interval (${tickMs} ms)`)
  const quota = intFlag(v, 'quota-backend-bytes', 0, 0, Number.MAX_SAFE_INTEGER)
  return {
    name, dataDir: strFlag(v, 'data-dir', `${name}.etcd`), listenClientUrls,
    advertiseClientUrls: urls(v, 'advertise-client-urls', listenClientUrls.join(',')),
    listenPeerUrl: listenPeerUrls[0]!, advertisePeerUrls, initialCluster, state, token,
    memberId: self.id, clusterId: clusterIdFor(token),
    quotaBackendBytes: quota === 0 ? 2 * 1024 ** 3 : quota,
    snapshotCount: intFlag(v, 'snapshot-count', 100_000, 1, 100_000_000),
    snapshotCatchUpEntries: intFlag(v, 'experimental-snapshot-catchup-entries', 5_000, 1, 100_000_000),
    tickMs, electionTicks: Math.round(electionMs / tickMs),
    clientTls: tlsOf(v, ''), peerTls: tlsOf(v, 'peer-'),
    metricsUrls: v['listen-metrics-urls'] === undefined ? [] : urls(v, 'listen-metrics-urls', ''),
    grpcJs: v['experimental-grpc-js'] === true,
    log,
  }
}

function logPeerEvent(log: Logger, e: PeerEvent): void {
  const { type, ...fields } = e
  if (type === 'connected') log.info('peer connected', fields)
  else if (type === 'dropped') log.debug('peer message dropped', fields)
  else if (type === 'disconnected') log.debug('peer unreachable', fields)
  else log.warn(`peer ${type}`, fields)
}

/** A running member: the store, its transport, the gRPC and status listeners. */
export interface Running {
  readonly store: Store
  readonly transport: TcpTransport
  readonly clientPorts: readonly number[]
  close(): Promise<void>
}

/**
 * For `--initial-cluster-state existing`: asks the other members' peer ports for the
 * membership and finds this member in it by its peer URLs — the id `member add` gave it (etcd
 * asks a peer the same way). Usage error when no peer answers or the cluster has not added it.
 */
export async function joinedConfig(c: ServeConfig): Promise<ServeConfig> {
  const mine = [...c.advertisePeerUrls].sort().join(',')
  const reasons: string[] = []
  for (const m of c.initialCluster) {
    if (m.name === c.name) continue
    for (const url of m.peerUrls ?? []) {
      try {
        const members = await fetchMembers(url, { clusterId: c.clusterId, tls: c.peerTls })
        const self = members.find((x) => [...x.peerUrls].sort().join(',') === mine)
        if (self === undefined) throw new CliError(EXIT.USAGE, `the cluster (asked at ${url}) has no member with peer URLs ${mine}: add it first (etcdctl member add ${c.name} --peer-urls=${mine})`)
        c.log.info('joining an existing cluster', { memberId: self.id.toString(16), askedAt: url, members: members.length })
        return { ...c, memberId: self.id, initialCluster: members.map((x) => ({ id: x.id, name: x.id === self.id ? c.name : x.name, peerUrls: x.peerUrls })) }
      } catch (err) {
        if (err instanceof CliError) throw err
        reasons.push((err as Error).message)
      }
    }
  }
  throw new CliError(EXIT.UNAVAILABLE, `--initial-cluster-state existing: no member of --initial-cluster answered: ${reasons.join('; ') || 'it lists no other member'}`)
}

/**
 * `<data-dir>/strata-member.json` records the member id and cluster id the directory was
 * created with, so a restart keeps them whatever the flags now derive (a member that joined
 * got its id from `member add`, not from its URLs).
 */
const IDENTITY_FILE = 'strata-member.json'

function readIdentity(c: ServeConfig): ServeConfig | undefined {
  const path = join(c.dataDir, IDENTITY_FILE)
  if (!existsSync(path)) return undefined
  let saved: { memberId?: unknown; clusterId?: unknown }
  try {
    saved = JSON.parse(readFileSync(path, 'utf8')) as typeof saved
  } catch (err) {
    throw new CliError(EXIT.FAILURE, `${path} is unreadable (${(err as Error).message}); it records this member's id: restore it or discard the data directory`)
  }
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0
  if (!ok(saved.memberId) || !ok(saved.clusterId)) throw new CliError(EXIT.FAILURE, `${path} does not hold a member id and a cluster id`)
  if (saved.clusterId !== c.clusterId) throw new CliError(EXIT.USAGE, `${c.dataDir} belongs to cluster ${saved.clusterId.toString(16)}, but --initial-cluster-token gives ${c.clusterId.toString(16)}`)
  // The directory's own membership is what counts at a restart (embed ignores initialCluster
  // then), but it must still list this member under its id.
  const memberId = saved.memberId
  return { ...c, memberId, initialCluster: c.initialCluster.map((m) => (m.name === c.name ? { ...m, id: memberId } : m)) }
}

/** Writes `<dataDir>/strata-member.json` unless it exists (`serve` after the open, `snapshot restore` after the restore). */
export function writeIdentity(c: Pick<ServeConfig, 'dataDir' | 'memberId' | 'clusterId' | 'name'>): void {
  const path = join(c.dataDir, IDENTITY_FILE)
  if (existsSync(path)) return
  writeFileSync(`${path}.tmp`, `${JSON.stringify({ memberId: c.memberId, clusterId: c.clusterId, name: c.name })}\n`)
  renameSync(`${path}.tmp`, path)
}

/**
 * Records this member's name and client URLs in the cluster through the log once it serves, as
 * etcd publishes its attributes at start: a member that joined (added by `member add`, which
 * carries peer URLs only) is otherwise listed without a name, as "unstarted". Tries every 500 ms
 * (no leader yet, the member not caught up to its own addition, ...) until the applied record
 * shows both, for up to two minutes; returns the stop function.
 */
export function publishAttributes(store: Store, name: string, clientUrls: readonly string[], log: Logger): () => void {
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const attempt = async (n: number): Promise<void> => {
    if (stopped) return
    try {
      const list = store.cluster.members()
      const record = list.members.find((m) => m.id === list.header.memberId)
      if (record !== undefined && record.name === name && record.clientUrls.length === clientUrls.length && record.clientUrls.every((u, i) => u === clientUrls[i])) {
        if (n > 0) log.info('published name and client URLs to the cluster', { name, clientUrls })
        return
      }
      if (record !== undefined) await store.cluster.publish({ name, clientUrls })
    } catch (err) {
      if (n % 20 === 19) log.warn('publishing name and client URLs failed; retrying', { err })
    }
    if (stopped || n >= 240) return
    timer = setTimeout(() => void attempt(n + 1), 500)
    timer.unref()
  }
  void attempt(0)
  return () => {
    stopped = true
    if (timer !== undefined) clearTimeout(timer)
  }
}

/** Opens the member and starts every listener; on a failure part-way, what was started is closed again. */
export async function startMember(config: ServeConfig): Promise<Running> {
  // The store's modules (~150, a fifth of a 1M-key restart) load while the peer listener opens.
  const embed = import('@strata/embed')
  embed.catch(() => {}) // awaited below; a failure before then must not leave it unhandled
  const c = readIdentity(config) ?? (config.state === 'existing' ? await joinedConfig(config) : config)
  const log = c.log
  const initialById = new Map(c.initialCluster.map((m) => [m.id, m.peerUrls ?? []]))
  let store: Store | undefined
  const peerLog = log.child({ component: 'peer' })
  const transport = await TcpTransport.open({
    memberId: c.memberId, clusterId: c.clusterId, listenUrl: c.listenPeerUrl, tls: c.peerTls,
    resolvePeer: (id) => store?.cluster.members().members.find((m) => m.id === id)?.peerUrls ?? initialById.get(id),
    members: () => store?.cluster.members().members ?? [],
    onEvent: (e) => logPeerEvent(peerLog, e),
  })
  const closers: (() => Promise<void>)[] = [() => transport.close()]
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) await close().catch((err: Error) => log.error('close failed', { err }))
  }
  try {
    const metrics = new ServerMetrics({ memberId: c.memberId, status: () => store?.maintenance.status(), proposals: () => store?.maintenance.proposals(), transport: () => transport.stats(), quotaBackendBytes: c.quotaBackendBytes })
    // The client listener's modules load while the store's open waits on the disk (a restart
    // reads the WAL and the backend first; the listener is needed only after).
    const leanServer = c.grpcJs ? undefined : import('../h2/server.js')
    leanServer?.catch(() => {}) // awaited below; an open that fails first must not leave it unhandled
    log.info('opening the data directory', { dataDir: c.dataDir, memberId: c.memberId.toString(16), clusterId: c.clusterId.toString(16), state: c.state })
    let lastPhase = ''
    const { open } = await embed
    store = await open({
      dir: c.dataDir, memberId: c.memberId, initialCluster: c.initialCluster, initialClusterState: c.state, transport,
      quotaBackendBytes: c.quotaBackendBytes, snapshotCount: c.snapshotCount, snapshotCatchUpEntries: c.snapshotCatchUpEntries, tickMs: c.tickMs, electionTicks: c.electionTicks,
      fs: metrics.timedFileSystem(nodeFileSystem), failpoint: metrics.backendCommitProbe(),
      onProgress: (p) => {
        if (p.phase !== lastPhase || p.done === p.total) log.info(`${p.phase} progress`, { done: p.done, total: p.total })
        lastPhase = p.phase
      },
    })
    const s = store
    closers.push(() => s.close())
    checkRecordedPeerUrls(s, c)
    writeIdentity(c)
    const sampler = setInterval(() => metrics.sample(), 1_000)
    sampler.unref()
    closers.push(async () => clearInterval(sampler))
    const tls = c.clientTls === undefined ? {} : { tls: c.clientTls }
    let grpc: GrpcServer
    if (c.grpcJs) grpc = (await import('../grpc-server.js')).createGrpcServer({ store: s, clusterId: c.clusterId, advertiseClientUrls: c.advertiseClientUrls, observer: metrics.grpc, ...tls })
    else {
      // Lease calls only the leader answers are forwarded to its client port (grpc-js as a client).
      const forwarder = grpcForwarder(c.clientTls)
      closers.push(async () => forwarder.close())
      const { createH2GrpcServer } = await leanServer!
      grpc = createH2GrpcServer({ store: s, clusterId: c.clusterId, advertiseClientUrls: c.advertiseClientUrls, forwarder, observer: metrics.grpc, ...tls })
    }
    closers.push(() => grpc.close())
    const clientPorts: number[] = []
    for (const url of c.listenClientUrls) {
      const at = parseHostPort(url, '--listen-client-urls')
      if (at.tls !== (c.clientTls !== undefined)) throw new CliError(EXIT.USAGE, `${url}: use https:// exactly when --cert-file/--key-file are given`)
      clientPorts.push(await grpc.listen(at.host, at.port))
    }
    if (c.metricsUrls.length > 0) {
      // node:http and node:https load only for --listen-metrics-urls.
      const { StatusServer, createStatusHandler } = await import('../http-status.js')
      const handler = createStatusHandler({ metrics, health: { store: s } })
      for (const url of c.metricsUrls) {
        const srv = await StatusServer.open(url, handler, c.clientTls)
        closers.push(() => srv.close())
        log.info('serving /metrics and /health', { url, port: srv.port })
      }
    }
    const stopPublish = publishAttributes(s, c.name, c.advertiseClientUrls, log)
    closers.push(async () => stopPublish())
    log.info('ready to serve client requests', { name: c.name, clientUrls: c.listenClientUrls, ports: clientPorts, peerPort: transport.port, grpcServer: c.grpcJs ? 'grpc-js' : 'lean' })
    return { store: s, transport, clientPorts, close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}

/**
 * A restart whose backend file may hold enough revisions for the index rebuild's scan thread
 * starts that thread now, on another core, while this one loads the store's modules and opens
 * the backend (it then reads the key bucket at once, not ~100 ms after the open). embed keeps
 * the backend in `<data-dir>/db`; its open takes the thread, or ends it when no scan did.
 */
function prestartIndexScan(dataDir: string): void {
  const bytes = statSync(join(dataDir, 'db', 'data.mdb'), { throwIfNoEntry: false })?.size ?? 0
  if (bytes >= SCAN_THREAD_MIN_FILE_BYTES) prestartScanThread()
}

/** `strata serve`: runs until SIGTERM or SIGINT, then closes everything and resolves with the exit code. */
export async function serve(argv: readonly string[], io: CliIo): Promise<number> {
  const c = parseServeArgs(argv, io)
  if (c === undefined) return EXIT.OK
  prestartIndexScan(c.dataDir)
  const running = await startMember(c)
  await new Promise<void>((done) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', onTerm)
      process.off('SIGINT', onInt)
      c.log.info('shutting down', { signal })
      done()
    }
    const onTerm = (): void => stop('SIGTERM')
    const onInt = (): void => stop('SIGINT')
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onInt)
  })
  await running.close()
  c.log.info('stopped')
  return EXIT.OK
}
