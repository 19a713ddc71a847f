import type { ApplyContext, KeyRange, WriteTx } from '@strata/backend'
import type { PermissionType } from './authpb.js'
import type { PasswordHasher } from './bcrypt-hasher.js'
import type { Clock, Rng } from '@strata/seams'
import type { TokenProvider } from './token-provider.js'

/** The shapes AuthStore's callers pass (store.ts holds the store itself). */

/**
 * Forbids etcd's `rangeEnd` name on a range a caller passes: an object with `rangeEnd` where a
 * `KeyRange` is due fails to compile (and, from JavaScript, with ERR_AUTH_INVALID_ARGUMENT).
 * Before, auth's ranges named their end `rangeEnd` and mvcc's `end`, so an mvcc request passed
 * to a check compiled and was checked as its first key only: a permission hole.
 */
export interface NoRangeEnd {
  readonly rangeEnd?: never
}

/**
 * Where a mutation writes. With `tx` (what a driver passes: the WriteTx of its apply
 * transaction), the mutation's records and the new auth revision go into that transaction, so
 * they commit with the applied index (reference §5.5, #11651). Without it the store runs its
 * own `backend.write`. Either way the writes join the backend's pending batch and are durable
 * when that batch commits.
 *
 * Contract: a mutation either throws an AuthError before writing anything (nothing changed), or
 * writes and then updates the in-memory view. A caller that shares its transaction must not
 * abandon it after a successful mutation (etcd panics in apply then); if it does, `recover()`
 * reloads the view from the backend.
 */
/** Where a mutation writes: the backend's one apply-context type. */
export type MutationOptions = ApplyContext

export interface UserAddRequest {
  readonly name: string
  /** The bcrypt hash from {@link AuthStore.hashPassword}; required unless `noPassword`. */
  readonly hashedPassword?: string
  /** A user that cannot authenticate with a password. Default false. */
  readonly noPassword?: boolean
}

/**
 * A permission to grant: a type and a KeyRange (`end` absent = the single key, `"\0"` = every
 * key from `key` on, otherwise `[key, end)`; an empty `end` is the single key, as etcd's empty
 * range_end).
 */
export type PermissionInput = KeyRange & NoRangeEnd & { readonly type: PermissionType }

/** A request to check: READ or WRITE over a KeyRange (a point, `[key, end)`, or open-ended). */
export type PermissionRequest = KeyRange & NoRangeEnd & { readonly type: 'read' | 'write' }

export interface AuthStoreOptions {
  /**
   * bcrypt work, shared or not. Default: a PasswordHasher the store makes (cost `bcryptCost`, a
   * slot per core at nice 19), whose threads `close()` stops. A hasher passed in is the
   * caller's to close.
   */
  readonly hasher?: PasswordHasher
  /** bcrypt cost of the hasher the store makes, an integer in [4, 31]. Default 10. Not with `hasher`. */
  readonly bcryptCost?: number
  /** Issues tokens. Default: a SimpleTokenProvider over `rng` and `clock` with `tokenTtlMs`. */
  readonly tokenProvider?: TokenProvider
  /** Idle lifetime of the default simple tokens, in ms, an integer >= 1. Default 300,000 ms. Not with `tokenProvider`. */
  readonly tokenTtlMs?: number
  /** For the default token provider. Default cryptoRng(). */
  readonly rng?: Rng
  /** For the default token provider (ms). Default systemClock. */
  readonly clock?: Pick<Clock, 'now'>
  /** Longest user or role name, in UTF-8 bytes, in [1, 65,535]. Default 256 bytes. */
  readonly maxNameBytes?: number
  /** Longest permission key or end, in bytes, in [1, 2^31]. Default 65,536 bytes. */
  readonly maxKeyBytes?: number
  /** Most permissions in one role, in [1, 10,000,000]. Default 10,000. */
  readonly maxPermissionsPerRole?: number
  /** Most roles granted to one user, in [1, 65,535] (the on-disk bound). Default 10,000. */
  readonly maxRolesPerUser?: number
  /** Times authenticate retries when the auth revision moves during a password check, in [0, 100]. Default 3. */
  readonly maxAuthenticateRetries?: number
}
