/**
 * Deliberate bugs for the cluster simulation (@strata/sim) to prove its checkers catch them.
 * Internal: reached only through `@strata/embed/internal`, never documented for users; every
 * switch defaults off, and off costs one property read where it is tested.
 */
export interface PlantedBugs {
  /** Acknowledge (apply, answer, send to peers) before the Ready's WAL write is durable. */
  readonly ackBeforeFsync?: boolean
  /** Commit the applied index in a backend batch of its own, before the entry's effects. */
  readonly appliedIndexApart?: boolean
  /** Raft: commit an entry of a previous term once a quorum holds it (Raft §5.4.2's Figure 8). */
  readonly commitPreviousTerm?: boolean
  /** Serve linearizable reads locally, without a ReadIndex round. */
  readonly readWithoutReadIndex?: boolean
}

/** The open() option key that carries PlantedBugs (a symbol: no user passes it by accident). */
export const PLANTED_BUGS: unique symbol = Symbol.for('strata.embed.plantedBugs')

export const NO_PLANTED_BUGS: PlantedBugs = Object.freeze({})

/**
 * Settings only the simulation's scripted scenarios use (internal, like the planted bugs).
 * `raftMaxSizePerMsgBytes`: raft's cap on the entries of one append message (etcd's
 * MaxSizePerMsg; default 1 MiB, and one entry always goes): 1 sends one entry per message, as
 * Raft §5.4.2's Figure 8 needs (a follower acknowledging an earlier term's entry without the
 * leader's own).
 */
export interface SimTuning {
  readonly raftMaxSizePerMsgBytes?: number
}

/** The open() option key that carries SimTuning. */
export const SIM_TUNING: unique symbol = Symbol.for('strata.embed.simTuning')

export const NO_SIM_TUNING: SimTuning = Object.freeze({})
