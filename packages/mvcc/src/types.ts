import type { KeyValue } from './kv.js'

/** Keys and values: a string (encoded as UTF-8) or bytes. */
export type Bytes = string | Uint8Array

/** Ordering of a range result. 'none' keeps key order. */
export type SortOrder = 'none' | 'ascend' | 'descend'
/** The field a range result is sorted by. */
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value'

export interface RangeOptions {
  /** Read at this revision; 0 or undefined: the current one. Below the compact revision: ERR_COMPACTED. */
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

/** One condition of a txn; with `end` it must hold for every key in `[key, end)`. */
export interface Compare {
  readonly key: Bytes
  readonly end?: Bytes
  readonly target: CompareTarget
  readonly result: CompareResult
  /** Bytes for target 'value', a number for the others. */
  readonly value: Bytes | number
}

export type RequestOp =
  | { readonly range: { readonly key: Bytes; readonly end?: Bytes; readonly options?: RangeOptions } }
  | { readonly put: { readonly key: Bytes; readonly value: Bytes; readonly options?: PutOptions } }
  | { readonly deleteRange: { readonly key: Bytes; readonly end?: Bytes; readonly options?: DeleteOptions } }
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

/** One change, as watchers see it. A DELETE's kv holds only the key and its mod revision. */
export interface MvccEvent {
  readonly type: 'put' | 'delete'
  readonly kv: KeyValue
}
