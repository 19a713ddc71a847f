// @strata/lease/internal: what tests, benchmarks and other Strata packages may use beyond the
// public API. No promise of stability: these names may change in any release.
export { LeaseQueue } from './lease-queue.js'
export type { QueueEntry, QueueSlot } from './lease-queue.js'
export { spreadExpiries } from './expiry-spread.js'
export { RECORD_KEY_BYTES, RECORD_VALUE_BYTES, RECORD_VERSION, decodeLeaseRecord, encodeLeaseKey, encodeLeaseRecord } from './lease-record.js'
export type { LeaseRecord } from './lease-record.js'
export { checkIdArgument, checkLeaseId } from './lease-id.js'
export { resolveLessorOptions } from './lessor-options.js'
export type { ResolvedLessorOptions } from './lessor-options.js'
