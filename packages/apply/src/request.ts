import type { Compare, DeleteOptions, PutOptions, RangeOptions } from '@strata/mvcc'

/**
 * What every proposed request carries besides its body (etcd's RequestHeader): `id` matches
 * the applied result to the caller waiting for it; `username` and `authRevision` are the
 * identity the request was checked as when it was proposed. At apply, a request checked at an
 * auth revision older than the store's is refused (ERR_APPLY_AUTH_OLD_REVISION), so every
 * member decides alike (etcd #11651).
 */
export interface RequestHeader {
  readonly id: number
  /** '' when auth is off or for the server's own requests (then checked as root). */
  readonly username: string
  readonly authRevision: number
}

/** A key or value as it enters a request: a string is UTF-8. Decoded requests hold Uint8Array. */
export type Bytes = string | Uint8Array

/** One operation of a txn branch; the shapes mvcc's `txn` takes. */
export type TxnOp =
  | { readonly range: { readonly key: Bytes; readonly end?: Bytes | undefined; readonly options?: RangeOptions } }
  | { readonly put: { readonly key: Bytes; readonly value: Bytes; readonly options?: PutOptions } }
  | { readonly deleteRange: { readonly key: Bytes; readonly end?: Bytes | undefined; readonly options?: DeleteOptions } }
  | { readonly txn: TxnBody }

export interface TxnBody {
  readonly compare?: readonly Compare[]
  readonly success?: readonly TxnOp[]
  readonly failure?: readonly TxnOp[]
}

export type PermissionKind = 'read' | 'write' | 'readwrite'
export type AlarmType = 'none' | 'nospace' | 'corrupt'
export type AlarmAction = 'get' | 'activate' | 'deactivate'

/**
 * Every request kind that travels through the raft log, one per entry. The `kind` names the
 * body; the codec (FORMAT.md) gives each a stable one-byte tag.
 */
export type RequestBody =
  | { readonly kind: 'put'; readonly key: Bytes; readonly value: Bytes; readonly lease?: number; readonly prevKv?: boolean; readonly ignoreValue?: boolean; readonly ignoreLease?: boolean }
  | { readonly kind: 'range'; readonly key: Bytes; readonly end?: Bytes | undefined; readonly options?: RangeOptions }
  | { readonly kind: 'deleteRange'; readonly key: Bytes; readonly end?: Bytes | undefined; readonly prevKv?: boolean }
  | { readonly kind: 'txn'; readonly txn: TxnBody }
  | { readonly kind: 'compact'; readonly revision: number; readonly physical?: boolean }
  | { readonly kind: 'leaseGrant'; readonly id: number; readonly ttlSeconds: number }
  | { readonly kind: 'leaseRevoke'; readonly id: number }
  | { readonly kind: 'leaseCheckpoint'; readonly checkpoints: readonly { readonly id: number; readonly remainingTtlSeconds: number }[] }
  | { readonly kind: 'authEnable' }
  | { readonly kind: 'authDisable' }
  | { readonly kind: 'authenticate'; readonly name: string; readonly simpleToken: string }
  | { readonly kind: 'userAdd'; readonly name: string; readonly hashedPassword: string; readonly noPassword?: boolean }
  | { readonly kind: 'userDelete'; readonly name: string }
  | { readonly kind: 'userChangePassword'; readonly name: string; readonly hashedPassword: string }
  | { readonly kind: 'userGrantRole'; readonly user: string; readonly role: string }
  | { readonly kind: 'userRevokeRole'; readonly user: string; readonly role: string }
  | { readonly kind: 'roleAdd'; readonly name: string }
  | { readonly kind: 'roleDelete'; readonly name: string }
  | { readonly kind: 'roleGrantPermission'; readonly role: string; readonly permission: { readonly type: PermissionKind; readonly key: Bytes; readonly end?: Bytes | undefined } }
  | { readonly kind: 'roleRevokePermission'; readonly role: string; readonly key: Bytes; readonly end?: Bytes | undefined }
  | { readonly kind: 'alarm'; readonly action: AlarmAction; readonly memberId: number; readonly alarm: AlarmType }
  | { readonly kind: 'memberAttrSet'; readonly memberId: number; readonly name: string; readonly clientUrls: readonly string[] }

export type RequestKind = RequestBody['kind']

/** One decoded raft entry payload. */
export interface Request {
  readonly header: RequestHeader
  readonly body: RequestBody
}

/**
 * A member as the `members` bucket and a conf change's context hold it (etcd's membership
 * Member: raft attributes plus the attributes a member publishes itself).
 */
export interface Member {
  readonly id: number
  readonly name: string
  readonly peerUrls: readonly string[]
  readonly clientUrls: readonly string[]
  readonly isLearner: boolean
}
