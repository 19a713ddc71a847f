import type { ConfState, Entry, Message, RaftConfig, Ready, Snapshot } from '../../src/index.js'
import type { Rng } from '@strata/seams'
import { splitmix32 } from '@strata/testkit'
import { decodeConfChange, decodeConfChangeV2, EntryType, MemoryStorage, RawNode } from '../../src/index.js'

/**
 * MemoryStorage whose snapshot() can be overridden, the way an application produces snapshots
 * of its applied state on demand (etcd's interaction harness does the same).
 */
export class HarnessStorage extends MemoryStorage {
  overrideSnapshot: (() => Snapshot) | undefined = undefined

  override snapshot(): Snapshot {
    return this.overrideSnapshot?.() ?? super.snapshot()
  }
}

/** A storage bootstrapped with a configuration (a snapshot at `index`, default 0). */
export function bootstrapStorage(cs: Partial<ConfState> & { voters: number[] }, index = 0, term = index > 0 ? 1 : 0): HarnessStorage {
  const s = new HarnessStorage()
  s.applySnapshot({
    data: new Uint8Array(0),
    metadata: { index, term, confState: { voters: cs.voters, learners: cs.learners ?? [], votersOutgoing: cs.votersOutgoing ?? [], learnersNext: cs.learnersNext ?? [], autoLeave: cs.autoLeave ?? false } },
  })
  return s
}

/** A deterministic Rng from a seed (splitmix32), so data-driven outputs do not depend on the run. */
export function seededRng(seed: number): Rng {
  return { nextU32: splitmix32(seed) }
}

export type NodeConfig = Omit<RaftConfig, 'id' | 'storage'>

/**
 * A RawNode with the driver loop of the README: persist to a MemoryStorage, then hand out the
 * messages, then apply (conf changes through applyConfChange), then advance.
 */
export class TestNode {
  readonly id: number
  readonly storage: MemoryStorage
  rn: RawNode
  readonly config: NodeConfig
  /** Every entry this node applied, in order (including empty and conf-change entries). */
  applied: Entry[] = []
  /** Index of the last applied entry or snapshot. */
  appliedIndex = 0
  confState: ConfState | undefined
  /** Read states handed out by Readies, in order. */
  readStates: { index: number; ctx: string }[] = []
  /** Highest log index ever made durable here (for the #14370 check). */
  durableIndex = 0

  constructor(id: number, storage: MemoryStorage, config: NodeConfig = {}) {
    this.id = id
    this.storage = storage
    this.config = config
    this.rn = new RawNode({ id, storage, rng: config.rng ?? seededRng(id), ...config })
    this.appliedIndex = storage.snapshot().metadata.index
    this.durableIndex = storage.lastIndex()
    this.confState = storage.initialState().confState
  }

  /** Recreates the RawNode from what storage persisted (a crash-restart). */
  restart(): void {
    this.rn = new RawNode({ id: this.id, storage: this.storage, rng: this.config.rng ?? seededRng(this.id * 7919), ...this.config, applied: this.appliedIndex })
  }

  /** Persists a Ready's state; returns nothing. Split from apply so tests can interleave. */
  persist(rd: Ready): void {
    if (rd.snapshot !== undefined) this.storage.applySnapshot(rd.snapshot)
    if (rd.entries.length > 0) {
      this.storage.append(rd.entries)
      this.durableIndex = rd.entries[rd.entries.length - 1]!.index
    }
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState)
  }

  apply(rd: Ready): void {
    if (rd.snapshot !== undefined) {
      this.appliedIndex = rd.snapshot.metadata.index
      this.confState = rd.snapshot.metadata.confState
      // Entries folded into the snapshot are "applied" as a block; keep the log of applied data aligned.
      this.applied = this.applied.filter((e) => e.index <= rd.snapshot!.metadata.index)
    }
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) this.confState = this.rn.applyConfChange(decodeConfChange(e.data))
      else if (e.type === EntryType.ConfChangeV2) this.confState = this.rn.applyConfChange(decodeConfChangeV2(e.data))
      this.applied.push(e)
      this.appliedIndex = e.index
    }
  }

  /** One full Ready cycle; returns the messages to send (or [] when there was no Ready). */
  handleReady(observe?: (rd: Ready) => void): Message[] {
    if (!this.rn.hasReady()) return []
    const rd = this.rn.ready()
    observe?.(rd)
    for (const rs of rd.readStates) this.readStates.push({ index: rs.index, ctx: new TextDecoder().decode(rs.requestCtx) })
    this.persist(rd)
    this.apply(rd)
    this.rn.advance()
    return [...rd.messages]
  }
}
