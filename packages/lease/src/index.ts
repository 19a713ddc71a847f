// The public API: exactly what README.md's API table lists. Internals are in ./internal.ts.
export { Lessor } from './lessor.js'
export type { ApplyOptions, LessorStats, LessorTick } from './lessor.js'
export type { LessorOptions, RangeDeleter } from './lessor-options.js'
export type { LeaseCheckpoint, LeaseInfo, TimeToLive, TimeToLiveOptions } from './lease.js'
export { LeaseError } from './errors.js'
export type { LeaseErrorCode } from './errors.js'
export { MAX_LEASE_ID, NO_LEASE, newLeaseId } from './lease-id.js'
