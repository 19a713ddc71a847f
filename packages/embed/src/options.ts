import type { Backend } from '@strata/backend'
import { type Clock, type Failpoint, type FileSystem, type Rng, type Transport, cryptoRng, noFailpoint, nodeFileSystem, systemClock } from '@strata/seams'
import { EmbedError } from './errors.js'
import { NO_PLANTED_BUGS, NO_SIM_TUNING, PLANTED_BUGS, type PlantedBugs, SIM_TUNING, type SimTuning } from './planted-bugs.js'

/** A member of the initial cluster: its id and the URLs its peers reach it at (informational in-process). */
export interface InitialMember {
  readonly id: number
  readonly name?: string
  readonly peerUrls?: readonly string[]
  readonly clientUrls?: readonly string[]
}

/**
 * How far a long piece of work has come: `restore` in bytes of a received snapshot (or in raft
 * indexes from a snapshot file), `replay` in raft indexes, `defragment` in key-value pairs copied, `compact` in
 * revisions (the highest one whose old versions are deleted, up to the compaction's revision).
 */
export interface Progress {
  readonly phase: 'restore' | 'replay' | 'defragment' | 'compact'
  readonly done: number
  readonly total?: number
}

export interface OpenOptions {
  /** The data directory: `LOCK`, `wal/`, `snap/`, `db/` (LMDB) beneath it. Required unless `backend` is 'memory' and `fs` is simulated. */
  readonly dir: string
  /** This member's id, a positive safe integer. Default 1. */
  readonly memberId?: number
  /** The members of a new cluster, this one included. Default: this member alone. Ignored when the directory already holds a member. */
  readonly initialCluster?: readonly InitialMember[]
  /** 'new' (default): bootstrap a new cluster of `initialCluster`; 'existing': join a running one (added first with `cluster.add`), taking its configuration from the leader. */
  readonly initialClusterState?: 'new' | 'existing'
  /** Called as long work advances: restoring a snapshot (at open, or one streamed from the leader), replaying the log, defragmenting, compacting. What it throws is ignored. */
  readonly onProgress?: (progress: Progress) => void
  /** Carries raft messages to the other members. Required with more than one member. */
  readonly transport?: Transport
  /** 'lmdb' (durable, default) or 'memory' (simulated durability, for tests and simulations), or a Backend of the caller's: the member then owns it (its close() closes it, and so does an open that fails). */
  readonly backend?: 'lmdb' | 'memory' | Backend
  /** Milliseconds per raft tick. Default 100 (etcd's heartbeat interval). */
  readonly tickMs?: number
  /** Ticks without a leader before an election. Default 10 (1 s at 100 ms ticks). */
  readonly electionTicks?: number
  /** Bytes per WAL segment, preallocated. Default 64 MiB (etcd's). */
  readonly walSegmentSizeBytes?: number
  /** Take a raft snapshot (and release WAL segments below it) every this many applied entries. Default 10,000. */
  readonly snapshotCount?: number
  /** Entries kept in memory behind a snapshot so a slightly lagging follower catches up from the log. Default 5,000 (etcd's). */
  readonly snapshotCatchUpEntries?: number
  /** The leader compares hashKV with every member this often (ms); a mismatch raises the CORRUPT alarm. Default 60,000; 0: off. */
  readonly corruptCheckIntervalMs?: number
  /** Backend size in bytes above which writes that grow it fail with ERR_EMBED_NO_SPACE. Default 2 GiB; 0: no quota. */
  readonly quotaBackendBytes?: number
  /** Largest encoded request in bytes. Default 1,572,864 (1.5 MiB, etcd's). */
  readonly maxRequestBytes?: number
  /** Largest number of requests proposed and not yet applied. Default 10,000. */
  readonly maxPendingRequests?: number
  /** How long a request may wait to apply, in ms. Default 7,000. */
  readonly requestTimeoutMs?: number
  /** bcrypt cost of passwords hashed by `auth.userAdd`/`userChangePassword`. Default 10. */
  readonly bcryptCost?: number
  readonly clock?: Clock
  readonly rng?: Rng
  readonly fs?: FileSystem
  readonly failpoint?: Failpoint
}

export interface ResolvedOptions {
  readonly dir: string
  readonly memberId: number
  readonly initialCluster: readonly InitialMember[]
  readonly transport: Transport | undefined
  readonly initialClusterState: 'new' | 'existing'
  readonly onProgress: ((progress: Progress) => void) | undefined
  readonly backend: 'lmdb' | 'memory' | Backend
  readonly tickMs: number
  readonly electionTicks: number
  readonly snapshotCount: number
  readonly walSegmentSizeBytes: number
  readonly snapshotCatchUpEntries: number
  readonly corruptCheckIntervalMs: number
  readonly quotaBackendBytes: number
  readonly maxRequestBytes: number
  readonly maxPendingRequests: number
  readonly requestTimeoutMs: number
  readonly bcryptCost: number
  readonly clock: Clock
  readonly rng: Rng
  readonly fs: FileSystem
  readonly failpoint: Failpoint
  /** Internal (@strata/embed/internal): deliberate bugs for the simulation; none by default. */
  readonly plantedBugs: PlantedBugs
  /** Internal (@strata/embed/internal): the simulation's settings; none by default. */
  readonly simTuning: SimTuning
}

function int(o: Record<string, unknown>, name: string, dflt: number, min: number, max: number): number {
  const v = o[name] ?? dflt
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new EmbedError('ERR_EMBED_INVALID_OPTION', `embed: ${name} must be an integer in ${min}..${max}, got ${String(v)}`, { option: name })
  }
  return v
}

/** The caller's progress callback, unable to break the work it reports on: what it throws is ignored. */
function guarded(fn: ((progress: Progress) => void) | undefined): ((progress: Progress) => void) | undefined {
  if (fn === undefined) return undefined
  return (progress) => {
    try {
      fn(progress)
    } catch {
      // A progress report is informational; a restore or compaction must not fail because of it.
    }
  }
}

/** Checks every option (ERR_EMBED_INVALID_OPTION) and fills in the defaults. */
export function resolveOptions(options: OpenOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new EmbedError('ERR_EMBED_INVALID_OPTION', 'embed: open() takes an options object with at least { dir }')
  const o = options as unknown as Record<string, unknown>
  if (typeof options.dir !== 'string' || options.dir.length === 0) throw new EmbedError('ERR_EMBED_INVALID_OPTION', 'embed: dir must be a non-empty path', { option: 'dir' })
  const memberId = int(o, 'memberId', 1, 1, Number.MAX_SAFE_INTEGER)
  const initialCluster = options.initialCluster ?? [{ id: memberId }]
  if (!Array.isArray(initialCluster) || initialCluster.length === 0 || !initialCluster.some((m) => m.id === memberId)) {
    throw new EmbedError('ERR_EMBED_INVALID_OPTION', `embed: initialCluster must list this member (${memberId})`, { option: 'initialCluster' })
  }
  if (initialCluster.length > 1 && options.transport === undefined) {
    throw new EmbedError('ERR_EMBED_INVALID_OPTION', 'embed: a cluster of several members needs a transport', { option: 'transport' })
  }
  if (options.initialClusterState !== undefined && options.initialClusterState !== 'new' && options.initialClusterState !== 'existing') {
    throw new EmbedError('ERR_EMBED_INVALID_OPTION', `embed: initialClusterState must be 'new' or 'existing', got ${String(options.initialClusterState)}`, { option: 'initialClusterState' })
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new EmbedError('ERR_EMBED_INVALID_OPTION', 'embed: onProgress must be a function', { option: 'onProgress' })
  const backend = options.backend ?? 'lmdb'
  if (backend !== 'lmdb' && backend !== 'memory' && typeof backend !== 'object') {
    throw new EmbedError('ERR_EMBED_INVALID_OPTION', `embed: backend must be 'lmdb', 'memory' or a Backend, got ${String(backend)}`, { option: 'backend' })
  }
  return {
    dir: options.dir, memberId, initialCluster, transport: options.transport, backend,
    initialClusterState: options.initialClusterState ?? 'new',
    onProgress: guarded(options.onProgress),
    tickMs: int(o, 'tickMs', 100, 1, 60_000),
    electionTicks: int(o, 'electionTicks', 10, 2, 1_000),
    snapshotCount: int(o, 'snapshotCount', 10_000, 1, 100_000_000),
    walSegmentSizeBytes: int(o, 'walSegmentSizeBytes', 64 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    corruptCheckIntervalMs: int(o, 'corruptCheckIntervalMs', 60_000, 0, 86_400_000),
    snapshotCatchUpEntries: int(o, 'snapshotCatchUpEntries', 5_000, 1, 100_000_000),
    quotaBackendBytes: int(o, 'quotaBackendBytes', 2 * 1024 ** 3, 0, Number.MAX_SAFE_INTEGER),
    maxRequestBytes: int(o, 'maxRequestBytes', 1_572_864, 1024, 64 * 1024 * 1024),
    maxPendingRequests: int(o, 'maxPendingRequests', 10_000, 1, 1_000_000),
    requestTimeoutMs: int(o, 'requestTimeoutMs', 7_000, 1, 3_600_000),
    bcryptCost: int(o, 'bcryptCost', 10, 4, 31),
    clock: options.clock ?? systemClock,
    rng: options.rng ?? cryptoRng(),
    fs: options.fs ?? nodeFileSystem,
    failpoint: options.failpoint ?? noFailpoint,
    plantedBugs: (options as { [PLANTED_BUGS]?: PlantedBugs })[PLANTED_BUGS] ?? NO_PLANTED_BUGS,
    simTuning: (options as { [SIM_TUNING]?: SimTuning })[SIM_TUNING] ?? NO_SIM_TUNING,
  }
}
