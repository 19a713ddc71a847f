// `@strata/embed/internal`: hooks for this repository's simulation and tests. No promise of
// stability: anything here may change in any release. Applications use the main entry.
export { NO_PLANTED_BUGS, PLANTED_BUGS } from './planted-bugs.js'
export type { PlantedBugs } from './planted-bugs.js'
