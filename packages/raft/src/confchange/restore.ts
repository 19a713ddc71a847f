import type { ConfChangeSingle, ConfState } from '../types.js'
import { ConfChangeType } from '../types.js'
import type { ConfigAndProgress } from './confchange.js'
import { Changer } from './confchange.js'

export interface RestoreOptions {
  readonly lastIndex: number
  readonly maxInflight: number
  readonly maxInflightBytes: number
}

/**
 * Rebuilds the configuration a ConfState describes, by replaying it as conf changes from an
 * empty configuration: the outgoing voters as simple adds, then (if joint) entering the joint
 * config whose incoming half replaces them with the current voters and learners.
 */
export function restoreConfState(cs: ConfState, start: ConfigAndProgress, options: RestoreOptions): ConfigAndProgress {
  const add = (type: ConfChangeType, ids: readonly number[]): ConfChangeSingle[] => ids.map((nodeId) => ({ type, nodeId }))
  let cur = start
  const step = (fn: (c: Changer) => ConfigAndProgress): void => { cur = fn(new Changer(cur, options)) }
  if (cs.votersOutgoing.length === 0) {
    for (const cc of [...add(ConfChangeType.AddNode, cs.voters), ...add(ConfChangeType.AddLearnerNode, cs.learners)]) {
      step((c) => c.simple([cc]))
    }
    return cur
  }
  for (const cc of add(ConfChangeType.AddNode, cs.votersOutgoing)) step((c) => c.simple([cc]))
  const incoming = [
    ...add(ConfChangeType.RemoveNode, cs.votersOutgoing),
    ...add(ConfChangeType.AddNode, cs.voters),
    ...add(ConfChangeType.AddLearnerNode, cs.learners),
    ...add(ConfChangeType.AddLearnerNode, cs.learnersNext),
  ]
  step((c) => c.enterJoint(cs.autoLeave, incoming))
  return cur
}
