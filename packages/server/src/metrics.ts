import type { StatusResponse } from '@strata/embed'
import type { Failpoint, FileHandle, FileSystem } from '@strata/seams'
import { EXPOSITION_CONTENT_TYPE, Histogram, type Labels, type Sample, writeFamily } from './exposition.js'
import type { TransportStats } from './peer/tcp-transport.js'

/**
 * What the gRPC layer reports per call, under the names of go-grpc-prometheus (the middleware
 * etcd uses): `grpc_server_started_total`, `grpc_server_handled_total` (with `grpc_code`, the
 * status name such as `OK` or `Unavailable`), `grpc_server_msg_received_total`,
 * `grpc_server_msg_sent_total`. `type` is `unary`, `client_stream`, `server_stream` or `bidi_stream`.
 */
export interface GrpcObserver {
  started(type: string, service: string, method: string): void
  handled(type: string, service: string, method: string, code: string): void
  received(type: string, service: string, method: string): void
  sent(type: string, service: string, method: string): void
  /**
   * The counts of one method, for a server to bump on its hot path (plain increments: no label
   * hashing per call); read at scrape time. Ask once per method, at the server's construction.
   */
  method(type: string, service: string, method: string): GrpcMethodCounts
}

/** Running counts of one gRPC method; `handled[code]` by numeric status code (0 OK … 16 Unauthenticated). */
export interface GrpcMethodCounts {
  started: number
  received: number
  sent: number
  readonly handled: number[]
}

/** gRPC status names by code, as go-grpc-prometheus labels grpc_code. */
export const GRPC_CODE_NAMES: readonly string[] = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
]

/** The go-grpc-prometheus name of a status code (`Unknown` for one outside 0..16). */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? 'Unknown'
}

/** go-grpc-prometheus's grpc_type of a method. */
export function grpcType(requestStream: boolean, responseStream: boolean): string {
  return requestStream ? (responseStream ? 'bidi_stream' : 'client_stream') : responseStream ? 'server_stream' : 'unary'
}

/** Where the figures come from; each is read at scrape time. */
export interface MetricsSources {
  /** This member's id (etcd_server_id's label, hex as etcd prints it). */
  readonly memberId: number
  /** The store's status (embed's `maintenance.status()`); undefined or throwing while it is closed. */
  readonly status: () => StatusResponse | undefined
  /** Proposals waiting to apply and failed since open (embed's `maintenance.proposals()`); undefined or throwing while closed. */
  readonly proposals?: () => { readonly pending: number; readonly failed: number } | undefined
  /** The peer transport's counters, when there is one. */
  readonly transport?: () => TransportStats
  /** `--quota-backend-bytes`, reported as etcd_server_quota_backend_bytes. */
  readonly quotaBackendBytes: number
  /** Also export prom-client's default process and Node metrics (process_cpu_seconds_total, …). Default true. */
  readonly processMetrics?: boolean
}

/** The one Prometheus registry of prom-client's process metrics, made at the first scrape that wants them. */
let processRegistry: Promise<{ metrics(): Promise<string> }> | undefined

function processMetricsRegistry(): Promise<{ metrics(): Promise<string> }> {
  processRegistry ??= import('prom-client').then((p) => {
    const registry = new p.Registry()
    p.collectDefaultMetrics({ register: registry })
    return registry
  })
  return processRegistry
}

/** A bucket layout of 1 ms to 8.192 s, doubling, as etcd's disk histograms have. */
const DISK_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i)

/** One figure read at scrape time: its family's name, help, kind, and its samples then. */
interface Family {
  readonly name: string
  readonly help: string
  readonly type: 'gauge' | 'counter'
  readonly read: () => readonly Sample[]
}

/**
 * The metrics of one `strata serve` process, with etcd's metric names where etcd has one:
 * etcd_server_has_leader, etcd_server_is_leader, etcd_server_leader_changes_seen_total,
 * etcd_server_proposals_committed_total / applied_total (gauges, as etcd's are: the raft commit
 * and applied indexes), etcd_mvcc_db_total_size_in_bytes, etcd_mvcc_db_total_size_in_use_in_bytes,
 * etcd_debugging_mvcc_current_revision, etcd_server_quota_backend_bytes, etcd_disk_wal_fsync_duration_seconds
 * (timed by wrapping the FileSystem seam the WAL writes through), etcd_network_peer_* and the
 * grpc_server_* counters. Figures embed does not expose are not invented (see the README).
 *
 * The figures are plain numbers, read or formatted when `render` is called (exposition.ts);
 * prom-client is imported at the first render, and only for its process metrics. A figure whose
 * source is unavailable at a scrape (the store closed) has no sample in that scrape.
 */
export class ServerMetrics {
  readonly grpc: GrpcObserver
  readonly #walFsync = new Histogram(DISK_BUCKETS)
  readonly #backendCommit = new Histogram(DISK_BUCKETS)
  #commitStartedAt: number | undefined
  #leaderChanges = 0
  readonly #src: MetricsSources
  #lastLeader = 0
  readonly #families: Family[] = []
  readonly #grpcSlots = new Map<string, { labels: Labels; counts: GrpcMethodCounts }>()

  constructor(src: MetricsSources) {
    this.#src = src
    const status = (): StatusResponse | undefined => {
      try {
        return src.status()
      } catch {
        return undefined
      }
    }
    const gauge = (name: string, help: string, read: (s: StatusResponse) => number): void => {
      this.#families.push({ name, help, type: 'gauge', read: () => { const s = status(); return s === undefined ? [] : [{ labels: {}, value: read(s) }] } })
    }
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', (s) => (s.leader !== 0 ? 1 : 0))
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', (s) => (s.leader === src.memberId ? 1 : 0))
    gauge('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', (s) => (s.isLearner ? 1 : 0))
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed (the raft commit index).', (s) => s.raftIndex)
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied (the applied index).', (s) => s.raftAppliedIndex)
    gauge('etcd_server_term', 'The raft term of this member.', (s) => s.raftTerm)
    gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', (s) => s.dbSizeBytes)
    gauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', (s) => s.dbSizeInUseBytes)
    gauge('etcd_debugging_mvcc_current_revision', 'The current revision of the store.', (s) => s.header.revision)
    gauge('etcd_server_alarms', 'Alarms raised on the cluster (NOSPACE, CORRUPT).', (s) => s.alarms.length)
    const fixed = (name: string, help: string, type: Family['type'], labels: Labels, value: () => number): void => {
      this.#families.push({ name, help, type, read: () => [{ labels, value: value() }] })
    }
    fixed('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', 'gauge', {}, () => src.quotaBackendBytes)
    fixed('etcd_server_id', 'Server or member ID in hexadecimal format. 1 for server_id label with current ID.', 'gauge', { server_id: src.memberId.toString(16) }, () => 1)
    fixed('etcd_server_leader_changes_seen_total', 'The number of leader changes seen (sampled once a second).', 'counter', {}, () => this.#leaderChanges)
    const proposals = (pick: 'pending' | 'failed') => (): Sample[] => {
      try {
        const p = src.proposals?.()
        return p === undefined ? [] : [{ labels: {}, value: p[pick] }]
      } catch {
        return []
      }
    }
    this.#families.push({ name: 'etcd_server_proposals_pending', help: 'The current number of pending proposals to commit.', type: 'gauge', read: proposals('pending') })
    this.#families.push({ name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.', type: 'counter', read: proposals('failed') })
    if (src.transport !== undefined) this.#peerMetrics(src.transport)
    this.grpc = this.#grpcMetrics()
  }

  /** Call about once a second: counts leader changes (embed has no event for them). */
  sample(): void {
    let leader: number
    try {
      leader = this.#src.status()?.leader ?? 0
    } catch {
      return
    }
    if (leader !== 0 && leader !== this.#lastLeader) {
      if (this.#lastLeader !== 0) this.#leaderChanges++
      this.#lastLeader = leader
    }
  }

  /**
   * A Failpoint for embed's `failpoint` option that only observes (never throws): the time from
   * `backendBeforeCommit` (the commit's transaction begins) to `backendAfterCommit` (it is
   * durable) goes into etcd_disk_backend_commit_duration_seconds, as etcd times bbolt's commit.
   * The backend runs one commit at a time, so one start time suffices; `next` is called after.
   */
  backendCommitProbe(next?: Failpoint): Failpoint {
    return (name) => {
      if (name === 'backendBeforeCommit') this.#commitStartedAt = performance.now()
      else if (name === 'backendAfterCommit' && this.#commitStartedAt !== undefined) {
        this.#backendCommit.observe((performance.now() - this.#commitStartedAt) / 1000)
        this.#commitStartedAt = undefined
      }
      next?.(name)
    }
  }

  /** The exposition text and its content type (prom-client's process metrics last, unless `processMetrics` is false). */
  async render(): Promise<{ contentType: string; body: string }> {
    let body = ''
    for (const f of this.#families) {
      body += writeFamily(f.name, f.help, f.type, f.read())
      if (f.name === 'etcd_server_leader_changes_seen_total') {
        body += this.#walFsync.write('etcd_disk_wal_fsync_duration_seconds', 'The latency distributions of fsync called by WAL.')
        body += this.#backendCommit.write('etcd_disk_backend_commit_duration_seconds', 'The latency distributions of commit called by backend.')
      }
    }
    if (this.#src.processMetrics !== false) body += await (await processMetricsRegistry()).metrics()
    return { contentType: EXPOSITION_CONTENT_TYPE, body }
  }

  /**
   * `fs` with the syncs of files under a `wal` directory timed into
   * etcd_disk_wal_fsync_duration_seconds; everything else passes through unchanged.
   */
  timedFileSystem(fs: FileSystem): FileSystem {
    const observe = (s: number): void => this.#walFsync.observe(s)
    const wrap = (h: FileHandle): FileHandle => {
      if (!/[\\/]wal[\\/]/.test(h.path)) return h
      const timed = async (f: Promise<void>): Promise<void> => {
        const t0 = performance.now()
        await f
        observe((performance.now() - t0) / 1000)
      }
      return {
        path: h.path,
        read: (b, p) => h.read(b, p), write: (b, p) => h.write(b, p),
        sync: () => timed(h.sync()), datasync: () => timed(h.datasync()),
        truncate: (n) => h.truncate(n), allocate: (n) => h.allocate(n), size: () => h.size(), close: () => h.close(),
      }
    }
    return {
      open: async (path, mode) => wrap(await fs.open(path, mode)),
      readFile: (p) => fs.readFile(p), writeFile: (p, d) => fs.writeFile(p, d), rename: (a, b) => fs.rename(a, b),
      unlink: (p) => fs.unlink(p), mkdir: (p) => fs.mkdir(p), rm: (p) => fs.rm(p), readdir: (p) => fs.readdir(p),
      stat: (p) => fs.stat(p), fsyncDir: (p) => fs.fsyncDir(p), lock: (p) => fs.lock(p),
    }
  }

  #peerMetrics(read: () => TransportStats): void {
    const counter = (name: string, help: string, pick: (t: TransportStats) => number): void => {
      // The transport keeps the running total; report it as is.
      this.#families.push({ name, help, type: 'counter', read: () => [{ labels: {}, value: pick(read()) }] })
    }
    counter('etcd_network_peer_sent_bytes_total', 'The total number of bytes sent to peers.', (t) => t.sentBytes)
    counter('etcd_network_peer_received_bytes_total', 'The total number of bytes received from peers.', (t) => t.receivedBytes)
    counter('strata_network_peer_sent_messages_total', 'Messages written to peer connections.', (t) => t.sentMessages)
    counter('strata_network_peer_received_messages_total', 'Messages received from peers.', (t) => t.receivedMessages)
    counter('strata_network_peer_dropped_messages_total', 'Messages dropped: a peer queue full, a message above the frame limit, or no address.', (t) => t.droppedMessages)
    counter('strata_network_peer_bad_frames_total', 'Peer connections closed for a bad frame (checksum, size, type).', (t) => t.badFrames)
    counter('strata_network_peer_refused_connections_total', 'Peer connections refused (hello, cluster id, TLS, connection limit).', (t) => t.refusedConnections)
    this.#families.push({
      name: 'strata_network_peer_queued_bytes', help: 'Bytes waiting in each peer queue.', type: 'gauge',
      read: () => read().peers.map((p) => ({ labels: { To: p.id.toString(16) }, value: p.queuedBytes })),
    })
  }

  #grpcMetrics(): GrpcObserver {
    // Plain numbers per method, bumped by the servers and read at scrape time.
    const slots = this.#grpcSlots
    const slot = (t: string, s: string, m: string): GrpcMethodCounts => {
      const key = `${t}\0${s}\0${m}`
      let e = slots.get(key)
      if (e === undefined) {
        e = { labels: { grpc_type: t, grpc_service: s, grpc_method: m }, counts: { started: 0, received: 0, sent: 0, handled: new Array<number>(GRPC_CODE_NAMES.length).fill(0) } }
        slots.set(key, e)
      }
      return e.counts
    }
    const each = (pick: 'started' | 'received' | 'sent') => (): Sample[] => {
      const out: Sample[] = []
      for (const e of slots.values()) if (e.counts[pick] > 0) out.push({ labels: e.labels, value: e.counts[pick] })
      return out
    }
    this.#families.push({ name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', type: 'counter', read: each('started') })
    this.#families.push({ name: 'grpc_server_msg_received_total', help: 'Total number of RPC stream messages received on the server.', type: 'counter', read: each('received') })
    this.#families.push({ name: 'grpc_server_msg_sent_total', help: 'Total number of gRPC stream messages sent by the server.', type: 'counter', read: each('sent') })
    this.#families.push({
      name: 'grpc_server_handled_total', help: 'Total number of RPCs completed on the server, regardless of success or failure.', type: 'counter',
      read: () => {
        const out: Sample[] = []
        for (const e of slots.values()) {
          e.counts.handled.forEach((n, code) => {
            if (n !== undefined && n > 0) out.push({ labels: { ...e.labels, grpc_code: grpcCodeName(code) }, value: n })
          })
        }
        return out
      },
    })
    const codeOf = (name: string): number => {
      const i = GRPC_CODE_NAMES.indexOf(name)
      return i < 0 ? 2 : i
    }
    return {
      started: (t, s, m) => { slot(t, s, m).started++ },
      handled: (t, s, m, code) => {
        const h = slot(t, s, m).handled
        const i = codeOf(code)
        h[i] = (h[i] ?? 0) + 1
      },
      received: (t, s, m) => { slot(t, s, m).received++ },
      sent: (t, s, m) => { slot(t, s, m).sent++ },
      method: slot,
    }
  }
}
