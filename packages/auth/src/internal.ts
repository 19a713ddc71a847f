// @strata/auth/internal: what tests, benchmarks and other Strata packages need beyond the public
// API (README.md's API table). No promise of stability: names here may change in any release.
export { decodeName, decodeRole, decodeU64, decodeUser, encodeName, encodeRole, encodeU64, encodeUser } from './authpb.js'
export { BUSY_LOOP_UTILIZATION, BUSY_WINDOW_MS, DEFAULT_BCRYPT_COST, DEFAULT_HASH_NICENESS, MAX_BCRYPT_COST, MIN_BCRYPT_COST, defaultHashConcurrency, eventLoopBusy, isBcryptHash } from './bcrypt-hasher.js'
export { HashWorkerPool } from './hash-worker-pool.js'
export type { HashJob } from './hash-worker-pool.js'
export { KeyIntervalSet, compareKeys, isOpenEnd, isValidPermissionRange, nextKey, permissionInterval, requestInterval, unifyPermissions } from './range-perm-cache.js'
export type { KeyInterval, UnifiedPermissions } from './range-perm-cache.js'
