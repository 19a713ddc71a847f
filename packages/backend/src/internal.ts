// `@strata/backend/internal`: what tests, benchmarks and other Strata packages need beyond the
// public API (engine details, test hooks). No promise of stability: it changes with the engine.

/** Walks a `HeadChunk` of `Backend.scanHeads` by offsets (mvcc's index rebuild reads chunks with it). */
export { forEachHead, packHeads, prestartScanThread, scanHeadsOnThread, stopPrestartedScanThread, HEAD_CHUNK_BYTES, HEAD_CHUNKS_IN_FLIGHT, HEAD_SCAN_THREAD_MIN_PAIRS } from './lmdb-head-scan.js'
export { DATA_FILE, DEFRAG_FILE, RESTORE_FILE, ENV_OPTIONS, checkDataFile, openEnv } from './lmdb-env.js'
export type { LmdbEnv } from './lmdb-env.js'
export { OrderedMap } from './ordered-map.js'
export { decodeSnapshot, encodeSnapshot } from './snapshot-format.js'
export { DEFAULT_BATCH_INTERVAL_MS, DEFAULT_BATCH_LIMIT, MAX_BATCH_INTERVAL_MS, MAX_BATCH_LIMIT } from './limits.js'
export type { StructureReport } from './verify-structure.js'
export { DAMAGED_FILE_ADVICE, DEFAULT_STRUCTURE_TIMEOUT_MS, assertStructure, checkStructure } from './verify-structure.js'
export { CLEAN_FILE, fingerprint, takeCleanMarker, writeCleanMarker } from './clean-close.js'
export { DEFRAG_STALL_TIMEOUT_MS, DEFRAG_STEP_BYTES, DEFRAG_STEP_PAIRS, copyForDefragment } from './defragment-copy.js'
