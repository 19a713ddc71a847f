// `@strata/embed/internal`: hooks for this repository's simulation and tests. No promise of
// stability: anything here may change in any release. Applications use the main entry.
export { NO_PLANTED_BUGS, NO_SIM_TUNING, PLANTED_BUGS, SIM_TUNING } from './planted-bugs.js'
export type { PlantedBugs, SimTuning } from './planted-bugs.js'
