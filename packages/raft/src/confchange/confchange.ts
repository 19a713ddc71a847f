import assert from 'node:assert'
import { ConfChangeError } from '../errors.js'
import { JointConfig } from '../quorum/joint.js'
import { MajorityConfig } from '../quorum/majority.js'
import { Inflights } from '../tracker/inflights.js'
import { Progress } from '../tracker/progress.js'
import type { TrackerConfig } from '../tracker/tracker.js'
import type { ConfChangeSingle } from '../types.js'
import { ConfChangeType } from '../types.js'

/** A configuration and the progress map that goes with it, as produced by the Changer. */
export interface ConfigAndProgress {
  readonly config: TrackerConfig
  readonly progress: Map<number, Progress>
}

interface Draft {
  incoming: Set<number>
  outgoing: Set<number>
  learners: Set<number>
  learnersNext: Set<number>
  autoLeave: boolean
  progress: Map<number, Progress>
}

/**
 * Turns conf changes into a new configuration without touching the current one: each method
 * copies, applies, checks invariants and returns the result (or throws ConfChangeError).
 */
export class Changer {
  readonly #current: ConfigAndProgress
  /** The leader's last index: new peers start probing there. */
  readonly #lastIndex: number
  readonly #maxInflight: number
  readonly #maxInflightBytes: number

  constructor(current: ConfigAndProgress, options: { readonly lastIndex: number; readonly maxInflight: number; readonly maxInflightBytes: number }) {
    this.#current = current
    this.#lastIndex = options.lastIndex
    this.#maxInflight = options.maxInflight
    this.#maxInflightBytes = options.maxInflightBytes
  }

  /** Enters a joint configuration: outgoing = the current voters, incoming = them with `ccs` applied. */
  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ConfigAndProgress {
    const d = this.#draft()
    if (d.outgoing.size > 0) throw new ConfChangeError('config is already joint')
    if (d.incoming.size === 0) throw new ConfChangeError("can't make a zero-voter config joint")
    d.outgoing = new Set(d.incoming)
    this.#apply(d, ccs)
    d.autoLeave = autoLeave
    return this.#finish(d)
  }

  /** Leaves the joint configuration: outgoing voters not kept are dropped, learnersNext become learners. */
  leaveJoint(): ConfigAndProgress {
    const d = this.#draft()
    if (d.outgoing.size === 0) throw new ConfChangeError("can't leave a non-joint config")
    for (const id of d.learnersNext) {
      d.learners.add(id)
      d.progress.get(id)!.isLearner = true
    }
    d.learnersNext.clear()
    for (const id of d.outgoing) {
      if (!d.incoming.has(id) && !d.learners.has(id)) d.progress.delete(id)
    }
    d.outgoing.clear()
    d.autoLeave = false
    return this.#finish(d)
  }

  /** Applies changes that alter at most one voter, without a joint configuration (thesis §4.1). */
  simple(ccs: readonly ConfChangeSingle[]): ConfigAndProgress {
    const d = this.#draft()
    if (d.outgoing.size > 0) throw new ConfChangeError("can't apply simple config change in joint config")
    const before = new Set(d.incoming)
    this.#apply(d, ccs)
    let changed = 0
    for (const id of before) if (!d.incoming.has(id)) changed++
    for (const id of d.incoming) if (!before.has(id)) changed++
    if (changed > 1) throw new ConfChangeError('more than one voter changed without entering joint config')
    return this.#finish(d)
  }

  #draft(): Draft {
    const c = this.#current.config
    const progress = new Map<number, Progress>()
    for (const [id, pr] of this.#current.progress) progress.set(id, pr.clone())
    return {
      incoming: new Set(c.voters.incoming.ids), outgoing: new Set(c.voters.outgoing.ids),
      learners: new Set(c.learners), learnersNext: new Set(c.learnersNext), autoLeave: c.autoLeave, progress,
    }
  }

  #apply(d: Draft, ccs: readonly ConfChangeSingle[]): void {
    for (const cc of ccs) {
      if (cc.nodeId === 0) continue // etcd treats a zero id as a no-op.
      switch (cc.type) {
        case ConfChangeType.AddNode: this.#makeVoter(d, cc.nodeId); break
        case ConfChangeType.AddLearnerNode: this.#makeLearner(d, cc.nodeId); break
        case ConfChangeType.RemoveNode: this.#remove(d, cc.nodeId); break
        case ConfChangeType.UpdateNode: break
        default: throw new ConfChangeError(`unexpected conf change type ${String(cc.type)}`)
      }
    }
    if (d.incoming.size === 0) throw new ConfChangeError('removed all voters')
  }

  #makeVoter(d: Draft, id: number): void {
    const pr = d.progress.get(id)
    if (pr === undefined) {
      this.#initProgress(d, id, false)
      return
    }
    pr.isLearner = false
    d.learners.delete(id)
    d.learnersNext.delete(id)
    d.incoming.add(id)
  }

  #makeLearner(d: Draft, id: number): void {
    const pr = d.progress.get(id)
    if (pr === undefined) {
      this.#initProgress(d, id, true)
      return
    }
    if (pr.isLearner) return
    // Remove it as a voter first, but keep its progress: it stays in the cluster.
    this.#remove(d, id)
    d.progress.set(id, pr)
    // A voter of the outgoing config must keep voting there until the joint config is left.
    if (d.outgoing.has(id)) {
      d.learnersNext.add(id)
    } else {
      pr.isLearner = true
      d.learners.add(id)
    }
  }

  #remove(d: Draft, id: number): void {
    if (!d.progress.has(id)) return
    d.incoming.delete(id)
    d.learners.delete(id)
    d.learnersNext.delete(id)
    if (!d.outgoing.has(id)) d.progress.delete(id)
  }

  #initProgress(d: Draft, id: number, isLearner: boolean): void {
    if (isLearner) d.learners.add(id)
    else d.incoming.add(id)
    const pr = new Progress({
      next: Math.max(this.#lastIndex, 1), match: 0, isLearner,
      inflights: new Inflights(this.#maxInflight, this.#maxInflightBytes),
    })
    // A new peer counts as active so that CheckQuorum does not depose the leader right away.
    pr.recentActive = true
    d.progress.set(id, pr)
  }

  #finish(d: Draft): ConfigAndProgress {
    for (const id of [...d.incoming, ...d.outgoing, ...d.learners, ...d.learnersNext]) {
      assert(d.progress.has(id), `no progress for ${id}`)
    }
    for (const id of d.learnersNext) {
      assert(d.outgoing.has(id), `${id} is in LearnersNext, but not Voters[1]`)
      assert(!d.progress.get(id)!.isLearner, `${id} is in LearnersNext, but is already marked as learner`)
    }
    for (const id of d.learners) {
      assert(!d.outgoing.has(id) && !d.incoming.has(id), `${id} is in Learners and Voters`)
      assert(d.progress.get(id)!.isLearner, `${id} is in Learners, but is not marked as learner`)
    }
    if (d.outgoing.size === 0) {
      assert(d.learnersNext.size === 0 && !d.autoLeave, 'non-joint config with LearnersNext or AutoLeave')
    }
    const config: TrackerConfig = {
      voters: new JointConfig(new MajorityConfig(d.incoming), new MajorityConfig(d.outgoing)),
      autoLeave: d.autoLeave, learners: d.learners, learnersNext: d.learnersNext,
    }
    return { config, progress: d.progress }
  }
}
