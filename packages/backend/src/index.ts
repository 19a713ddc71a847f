export type { Backend, BackendError, BackendErrorCode, BackendOptions, BackendStats, BucketName, KeyValuePair, RangeOptions, ReadTx, WriteTx } from './backend.js'
export { BUCKETS } from './backend.js'
