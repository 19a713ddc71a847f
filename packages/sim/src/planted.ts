// The planted-bug switches the simulation must catch (each has a test). They reach embed, apply
// and raft through one internal option object that users never see (`@strata/embed/internal`).
import { PLANTED_BUGS, type PlantedBugs } from '@strata/embed/internal'

export type { PlantedBugs }

export const PLANTED_BUG_NAMES = ['ackBeforeFsync', 'appliedIndexApart', 'commitPreviousTerm', 'readWithoutReadIndex'] as const

/** The extra open() options that switch the bugs on (none when `bugs` is undefined). */
export function plantedBugOptions(bugs: PlantedBugs | undefined): Record<symbol, PlantedBugs> {
  return bugs === undefined ? {} : { [PLANTED_BUGS]: bugs }
}
