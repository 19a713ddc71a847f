export type { MvccErrorCode } from './errors.js'
export { MvccError } from './errors.js'
export type { KeyValue } from './kv.js'
export type { KvHash } from './hash.js'
export { DEFAULT_MAX_KEY_BYTES, DEFAULT_MAX_TXN_OPS, DEFAULT_MAX_VALUE_BYTES } from './limits.js'
export { MAX_TXN_DEPTH } from './txn-request.js'
export { DEFAULT_COMPACTION_BATCH_LIMIT, MAX_COMPACTION_BATCH_LIMIT } from './kvstore-compaction.js'
export type {
  Bytes, Compare, CompareResult, CompareTarget, DeleteOptions, DeleteRangeRequest, DeleteResult, KeyRange, PutOptions, PutRequest, PutResult,
  RangeOptions, RangeRequest, RangeResult, RequestOp, ResponseOp, SortOrder, SortTarget, TxnRead, TxnRequest, TxnResult, TxnWrite, WatchEvent,
} from './types.js'
export type { CompactHandle, CompactOptions, MvccStoreOptions } from './kvstore.js'
export { MvccStore } from './kvstore.js'
export type { WatchResponse, Watcher, WatcherState } from './watcher.js'
export type { WatchOptions, WatchableStoreOptions } from './watchable-store.js'
export { WatchableStore } from './watchable-store.js'
