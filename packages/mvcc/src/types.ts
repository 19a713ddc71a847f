import type { Bytes, KeyRange } from '@strata/backend'
import type { KeyValue } from './kv.js'

export type { Bytes, KeyRange }

/** Ordering of a range result. 'none' keeps key order. */
export type SortOrder = 'none' | 'ascend' | 'descend'
/** The field a range result is sorted by. */
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value'

export interface RangeOptions {
  /** Read at this revision; 0 or undefined: the current one. Below the compact revision: ERR_MVCC_COMPACTED. */
  readonly revision?: number
  /** At most this many key-values (0 or undefined: no limit); `more` says whether some were left out. */
  readonly limit?: number
  /** Return only `count`: walks the index, reads nothing from the backend. Default false. */
  readonly countOnly?: boolean
  /** Return keys and metadata with empty values. Default false. */
  readonly keysOnly?: boolean
  /** Default 'none' (key order); 'none' with a target other than 'key' sorts ascending. */
  readonly sortOrder?: SortOrder
  /** Default 'key'. */
  readonly sortTarget?: SortTarget
  /** Keep only key-values whose mod revision is >= this (0: no bound). */
  readonly minModRevision?: number
  /** Keep only key-values whose mod revision is <= this (0: no bound). */
  readonly maxModRevision?: number
  /** Keep only key-values whose create revision is >= this (0: no bound). */
  readonly minCreateRevision?: number
  /** Keep only key-values whose create revision is <= this (0: no bound). */
  readonly maxCreateRevision?: number
}

export interface RangeResult {
  readonly kvs: KeyValue[]
  /** Keys alive in the range at the read revision, never capped by `limit` or filters. */
  readonly count: number
  /** True when `limit` left key-values out. */
  readonly more: boolean
  /** The store revision the read ran against (the header revision, not the requested one). */
  readonly revision: number
}

export interface PutOptions {
  /** Attach the key to this lease (0 or undefined: none). The caller checks the lease exists. */
  readonly lease?: number
  /** Return the previous key-value in `prevKv`. Default false. */
  readonly prevKv?: boolean
}

export interface PutResult {
  readonly revision: number
  readonly prevKv?: KeyValue
}

export interface DeleteOptions {
  /** Return the deleted key-values in `prevKvs`. Default false. */
  readonly prevKv?: boolean
}

export interface DeleteResult {
  readonly deleted: number
  readonly revision: number
  readonly prevKvs?: KeyValue[]
}

export type CompareTarget = 'value' | 'version' | 'create' | 'mod' | 'lease'
export type CompareResult = 'equal' | 'greater' | 'less' | 'notEqual'

/** One condition of a txn; over a range (`end` given) it must hold for every key in it. */
export interface Compare extends KeyRange {
  readonly target: CompareTarget
  readonly result: CompareResult
  /** Bytes for target 'value', a number for the others. */
  readonly value: Bytes | number
}

/** A range read inside a txn: a {@link KeyRange} with the options of `range`. */
export interface RangeRequest extends KeyRange {
  readonly options?: RangeOptions
}

/** A put inside a txn. */
export interface PutRequest {
  readonly key: Bytes
  readonly value: Bytes
  readonly options?: PutOptions
}

/** A delete inside a txn: a {@link KeyRange} with the options of `deleteRange`. */
export interface DeleteRangeRequest extends KeyRange {
  readonly options?: DeleteOptions
}

export type RequestOp =
  | { readonly range: RangeRequest }
  | { readonly put: PutRequest }
  | { readonly deleteRange: DeleteRangeRequest }
  | { readonly txn: TxnRequest }

export interface TxnRequest {
  readonly compare?: readonly Compare[]
  readonly success?: readonly RequestOp[]
  readonly failure?: readonly RequestOp[]
}

export type ResponseOp =
  | { readonly range: RangeResult }
  | { readonly put: PutResult }
  | { readonly deleteRange: DeleteResult }
  | { readonly txn: TxnResult }

export interface TxnResult {
  readonly succeeded: boolean
  readonly responses: ResponseOp[]
  /** The store revision after the txn. */
  readonly revision: number
}

/** One change, as a watcher receives it. */
export interface WatchEvent {
  readonly type: 'put' | 'delete'
  /** For a delete: the key and the deletion's mod revision only. */
  readonly kv: KeyValue
  /** The key-value before this change, when the watch asked for `prevKv` and it is still readable. */
  readonly prevKv?: KeyValue
}

/**
 * A read view at one revision, handed to `MvccStore.read` callbacks; valid only inside the
 * callback.
 */
export interface TxnRead {
  /** The revision reads in this txn see. */
  readonly revision: number
  /** As `MvccStore.range`. */
  range(key: Bytes, end?: Bytes, options?: RangeOptions): RangeResult
}

/**
 * One write txn, handed to `MvccStore.write` callbacks: every change gets the same new revision,
 * reads see the txn's earlier changes. Valid only inside the callback.
 */
export interface TxnWrite extends TxnRead {
  /** As `MvccStore.put`, inside this txn. */
  put(key: Bytes, value: Bytes, options?: PutOptions): PutResult
  /** As `MvccStore.deleteRange`, inside this txn. */
  deleteRange(key: Bytes, end?: Bytes, options?: DeleteOptions): DeleteResult
}
