// `@strata/backend/scan-thread`: starting the head scan's thread before the backend opens
// (lmdb-head-scan.ts), from a module that does not load lmdb-js on the calling thread.
export { HEAD_SCAN_THREAD_MIN_PAIRS, SCAN_THREAD_MIN_FILE_BYTES, prestartScanThread, stopPrestartedScanThread } from './lmdb-head-scan.js'
