import assert from 'node:assert'
import type { Backend, WriteTx } from '@strata/backend'
import { cryptoRng, systemClock, type Clock, type Rng } from '@strata/seams'
import { decodeName, decodeRole, decodeU64, decodeUser, encodeName, encodeRole, encodeU64, encodeUser, type Permission, type PermissionType, type Role, type User } from './authpb.js'
import { PasswordHasher, isBcryptHash } from './bcrypt-hasher.js'
import { AuthError, authFailed, oldRevision, permissionDenied, userEmpty } from './errors.js'
import { compareKeys, isValidPermissionRange, requestInterval, unifyPermissions, type UnifiedPermissions } from './range-perm-cache.js'
import { SimpleTokenProvider } from './simple-token.js'
import type { AuthInfo, TokenProvider } from './token-provider.js'

/** The special user and role (etcd's rootUser / rootRole). */
export const ROOT_USER = 'root'
export const ROOT_ROLE = 'root'

/** Keys in the `auth` bucket (FORMAT.md). */
const ENABLED_KEY = encodeName('authEnabled')
const REVISION_KEY = encodeName('authRevision')
const EMPTY = new Uint8Array(0)

/** Keys are accepted as UTF-8 strings or bytes. */
export type KeyInput = string | Uint8Array

/**
 * Where a mutation writes. With `tx`, the mutation writes into the caller's open backend write,
 * so the caller can put the applied index into the same transaction (reference §8.1, #11651);
 * without it the store runs its own `backend.write`. Either way the writes join the backend's
 * pending batch and are durable when that batch commits.
 *
 * Contract: a mutation either throws an AuthError before writing anything (nothing changed), or
 * writes and updates the in-memory view. A caller that shares its transaction must not abandon
 * it after a successful mutation (etcd panics in apply in that case too).
 */
export interface MutationOptions {
  readonly tx?: WriteTx
}

export interface UserAddRequest {
  readonly name: string
  /** The bcrypt hash from {@link AuthStore.hashPassword}; required unless `noPassword`. */
  readonly hashedPassword?: string
  /** A user that cannot authenticate with a password. Default false. */
  readonly noPassword?: boolean
}

export interface PermissionInput {
  readonly type: PermissionType
  readonly key: KeyInput
  /** Omitted or empty: the single key. `"\0"`: every key from `key` on. Default empty. */
  readonly rangeEnd?: KeyInput
}

/** A request to check: READ or WRITE on `[key, rangeEnd)` (same conventions as a permission). */
export interface PermissionRequest {
  readonly type: 'read' | 'write'
  readonly key: KeyInput
  readonly rangeEnd?: KeyInput
}

export interface AuthStoreOptions {
  /** bcrypt work, bounded. Default: a PasswordHasher at cost 10 with a slot per core at nice 19. */
  readonly hasher?: PasswordHasher
  /** Issues tokens. Default: SimpleTokenProvider with `rng` and `clock`, TTL 300 s. */
  readonly tokenProvider?: TokenProvider
  /** For the default token provider. Default cryptoRng(). */
  readonly rng?: Rng
  /** For the default token provider. Default systemClock. */
  readonly clock?: Pick<Clock, 'now'>
  /** Longest user or role name, in UTF-8 bytes. Default 256 bytes. */
  readonly maxNameBytes?: number
  /** Longest permission key or range end, in bytes. Default 65,536 bytes. */
  readonly maxKeyBytes?: number
  /** Most permissions in one role. Default 10,000. */
  readonly maxPermissionsPerRole?: number
  /** Most roles granted to one user (at most 65,535, the on-disk bound). Default 10,000. */
  readonly maxRolesPerUser?: number
  /** Times authenticate retries when the auth revision moves during a password check. Default 3. */
  readonly maxAuthenticateRetries?: number
}

/** A copy of the key's bytes, for keys the store keeps. */
function toBytes(k: KeyInput): Uint8Array {
  return typeof k === 'string' ? encodeName(k) : Uint8Array.from(k)
}

/** The key's bytes without a copy, for keys only looked at (checks). */
function viewBytes(k: KeyInput): Uint8Array {
  return typeof k === 'string' ? encodeName(k) : k
}

function positiveInt(name: string, v: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const x = v ?? fallback
  if (!Number.isInteger(x) || x < 1 || x > max) throw new RangeError(`AuthStore: ${name} must be an integer in [1, ${max}], got ${x}`)
  return x
}

/**
 * Users, roles and key-range permissions over a Backend (etcd's authStore).
 *
 * The store splits each operation the way a replicated store needs it:
 * - propose side, async and stateless: {@link hashPassword} turns a password into a bcrypt hash
 *   before anything is proposed, so no plaintext reaches the log;
 * - apply side, synchronous and deterministic: the mutations (`userAdd`, `roleGrantPermission`,
 *   ...) and the permission checks depend only on the applied entries, so every member decides
 *   alike;
 * - authentication: {@link checkPassword} compares outside every lock and off the event loop,
 *   then {@link assignToken} re-checks the auth revision before it issues a token.
 */
export class AuthStore {
  readonly #backend: Backend
  readonly #hasher: PasswordHasher
  readonly #tokens: TokenProvider
  readonly #maxNameBytes: number
  readonly #maxKeyBytes: number
  readonly #maxPermissionsPerRole: number
  readonly #maxRolesPerUser: number
  readonly #maxRetries: number
  /** Invariant: equals the `authRevision` written to the backend so far; >= 1 after load. */
  #revision = 0
  /** Invariant: equals the `authEnabled` written to the backend so far. */
  #enabled = false
  /** Invariant: mirrors the authUsers bucket as written so far. */
  #users = new Map<string, User>()
  /** Invariant: mirrors the authRoles bucket as written so far. */
  #roles = new Map<string, Role>()
  /** Invariant: entries were built at the current #revision (cleared on every mutation). */
  readonly #permCache = new Map<string, UnifiedPermissions>()

  constructor(backend: Backend, options: AuthStoreOptions = {}) {
    this.#backend = backend
    this.#hasher = options.hasher ?? new PasswordHasher()
    this.#tokens = options.tokenProvider ?? new SimpleTokenProvider({ rng: options.rng ?? cryptoRng(), clock: options.clock ?? systemClock })
    this.#maxNameBytes = positiveInt('maxNameBytes', options.maxNameBytes, 256)
    this.#maxKeyBytes = positiveInt('maxKeyBytes', options.maxKeyBytes, 65_536)
    this.#maxPermissionsPerRole = positiveInt('maxPermissionsPerRole', options.maxPermissionsPerRole, 10_000)
    this.#maxRolesPerUser = positiveInt('maxRolesPerUser', options.maxRolesPerUser, 10_000, 65_535)
    const retries = options.maxAuthenticateRetries ?? 3
    if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new RangeError(`AuthStore: maxAuthenticateRetries must be an integer in [0, 100], got ${retries}`)
    this.#maxRetries = retries
    this.recover()
  }

  /**
   * Reloads everything from the backend (after a restart or a snapshot restore). A fresh store
   * (revision 0) gets revision 1 written, as etcd does; every member does the same, so this
   * write needs no applied index.
   */
  recover(): void {
    const users = new Map<string, User>()
    const roles = new Map<string, Role>()
    let revision = 0
    let enabled = false
    this.#backend.read((tx) => {
      const rev = tx.get('auth', REVISION_KEY)
      revision = rev === undefined ? 0 : decodeU64(rev, 'authRevision')
      const en = tx.get('auth', ENABLED_KEY)
      if (en !== undefined && (en.length !== 1 || (en[0] !== 0 && en[0] !== 1))) throw new AuthError('ERR_AUTH_CORRUPT', 'auth: corrupt authEnabled value')
      enabled = en?.[0] === 1
      tx.forEach('authUsers', EMPTY, undefined, (k, v) => {
        const name = decodeName(k, 'user')
        users.set(name, decodeUser(name, v))
      })
      tx.forEach('authRoles', EMPTY, undefined, (k, v) => {
        const name = decodeName(k, 'role')
        roles.set(name, decodeRole(name, v))
      })
    })
    if (revision === 0) {
      revision = 1
      this.#backend.write((tx) => tx.put('auth', REVISION_KEY, encodeU64(revision)))
    }
    this.#revision = revision
    this.#enabled = enabled
    this.#users = users
    this.#roles = roles
    this.#permCache.clear()
    this.#tokens.invalidateAll()
  }

  /** The auth revision: +1 on every mutation. */
  get revision(): number {
    return this.#revision
  }

  get enabled(): boolean {
    return this.#enabled
  }

  /** The hasher this store compares with (its cost is the cost new hashes get). */
  get hasher(): PasswordHasher {
    return this.#hasher
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The user, or ERR_USER_NOT_FOUND. */
  userGet(name: string): User {
    const user = this.#users.get(name)
    if (user === undefined) throw new AuthError('ERR_USER_NOT_FOUND', `auth: user ${JSON.stringify(name)} not found`, { name })
    return user
  }

  /** User names, sorted. */
  userList(): string[] {
    return [...this.#users.keys()].sort()
  }

  /** The role, or ERR_ROLE_NOT_FOUND. */
  roleGet(name: string): Role {
    const role = this.#roles.get(name)
    if (role === undefined) throw new AuthError('ERR_ROLE_NOT_FOUND', `auth: role ${JSON.stringify(name)} not found`, { name })
    return role
  }

  /** Role names, sorted. */
  roleList(): string[] {
    return [...this.#roles.keys()].sort()
  }

  // ---- propose side --------------------------------------------------------------------------

  /**
   * Hashes a password for a later `userAdd` / `userChangePassword` proposal: off the event loop,
   * within the hasher's concurrency bound. ERR_PASSWORD_EMPTY for an empty password.
   */
  hashPassword(password: string): Promise<string> {
    return this.#hasher.hash(password)
  }

  // ---- mutations (apply side) ----------------------------------------------------------------

  /** Turns auth on. Needs user root holding role root. Enabling twice changes nothing. */
  authEnable(options?: MutationOptions): void {
    if (this.#enabled) return
    const root = this.#users.get(ROOT_USER)
    if (root === undefined) throw new AuthError('ERR_ROOT_USER_NOT_EXIST', 'auth: root user does not exist')
    if (!root.roles.includes(ROOT_ROLE)) throw new AuthError('ERR_ROOT_ROLE_NOT_EXIST', 'auth: root user does not have root role')
    this.#mutate(options, (tx) => {
      tx.put('auth', ENABLED_KEY, Uint8Array.of(1))
      this.#enabled = true
    })
  }

  /** Turns auth off and drops every token. Disabling twice changes nothing. */
  authDisable(options?: MutationOptions): void {
    if (!this.#enabled) return
    this.#mutate(options, (tx) => {
      tx.put('auth', ENABLED_KEY, Uint8Array.of(0))
      this.#enabled = false
    })
    this.#tokens.invalidateAll()
  }

  userAdd(request: UserAddRequest, options?: MutationOptions): void {
    const name = this.#checkName(request.name, 'ERR_USER_EMPTY', 'user')
    if (this.#users.has(name)) throw new AuthError('ERR_USER_ALREADY_EXIST', `auth: user ${JSON.stringify(name)} already exists`, { name })
    const noPassword = request.noPassword ?? false
    const password = noPassword ? '' : this.#checkHash(request.hashedPassword)
    this.#putUser(options, { name, password, roles: [], noPassword })
  }

  /** Deletes a user and its tokens. Not user root while auth is enabled. */
  userDelete(name: string, options?: MutationOptions): void {
    if (this.#enabled && name === ROOT_USER) throw new AuthError('ERR_INVALID_AUTH_MGMT', 'auth: cannot delete user root while auth is enabled')
    this.userGet(name)
    this.#mutate(options, (tx) => {
      tx.delete('authUsers', encodeName(name))
      this.#users.delete(name)
    })
    this.#tokens.invalidateUser(name)
  }

  /** Replaces a user's password hash and drops its tokens. A no-password user stays without one. */
  userChangePassword(request: { readonly name: string; readonly hashedPassword: string }, options?: MutationOptions): void {
    const user = this.userGet(request.name)
    const password = user.noPassword ? '' : this.#checkHash(request.hashedPassword)
    this.#putUser(options, { ...user, password })
    this.#tokens.invalidateUser(user.name)
  }

  /** Grants a role. Granting one already held changes nothing (etcd ignores it, no new revision). */
  userGrantRole(request: { readonly user: string; readonly role: string }, options?: MutationOptions): void {
    const user = this.userGet(request.user)
    if (request.role !== ROOT_ROLE) this.roleGet(request.role)
    if (user.roles.includes(request.role)) return
    if (user.roles.length >= this.#maxRolesPerUser) throw this.#limit(`user ${user.name} already holds ${user.roles.length} roles`)
    this.#putUser(options, { ...user, roles: [...user.roles, request.role].sort() })
  }

  /** Revokes a role. Not role root from user root while auth is enabled. */
  userRevokeRole(request: { readonly user: string; readonly role: string }, options?: MutationOptions): void {
    if (this.#enabled && request.user === ROOT_USER && request.role === ROOT_ROLE) {
      throw new AuthError('ERR_INVALID_AUTH_MGMT', 'auth: cannot revoke role root from user root while auth is enabled')
    }
    const user = this.userGet(request.user)
    if (!user.roles.includes(request.role)) {
      throw new AuthError('ERR_ROLE_NOT_GRANTED', `auth: role ${JSON.stringify(request.role)} is not granted to user ${JSON.stringify(user.name)}`)
    }
    this.#putUser(options, { ...user, roles: user.roles.filter((r) => r !== request.role) })
  }

  roleAdd(name: string, options?: MutationOptions): void {
    const checked = this.#checkName(name, 'ERR_ROLE_EMPTY', 'role')
    if (this.#roles.has(checked)) throw new AuthError('ERR_ROLE_ALREADY_EXIST', `auth: role ${JSON.stringify(checked)} already exists`, { name })
    this.#putRole(options, { name: checked, permissions: [] })
  }

  /** Deletes a role and revokes it from every user holding it. Not role root while enabled. */
  roleDelete(name: string, options?: MutationOptions): void {
    if (this.#enabled && name === ROOT_ROLE) throw new AuthError('ERR_INVALID_AUTH_MGMT', 'auth: cannot delete role root while auth is enabled')
    this.roleGet(name)
    const holders = [...this.#users.values()].filter((u) => u.roles.includes(name))
    this.#mutate(options, (tx) => {
      tx.delete('authRoles', encodeName(name))
      this.#roles.delete(name)
      for (const u of holders) {
        const updated = { ...u, roles: u.roles.filter((r) => r !== name) }
        tx.put('authUsers', encodeName(u.name), encodeUser(updated))
        this.#users.set(u.name, updated)
      }
    })
  }

  /**
   * Grants a permission. A permission on the same (key, rangeEnd) is replaced by the new type;
   * granting an identical one again still makes a new revision (etcd ≥ 3.4.45/3.5.33, #11710).
   */
  roleGrantPermission(request: { readonly role: string; readonly permission: PermissionInput | undefined }, options?: MutationOptions): void {
    const role = this.roleGet(request.role)
    const p = request.permission
    if (p === undefined) throw new AuthError('ERR_PERMISSION_NOT_GIVEN', 'auth: permission not given')
    if (p.type !== 'read' && p.type !== 'write' && p.type !== 'readwrite') throw new AuthError('ERR_INVALID_AUTH_MGMT', `auth: invalid permission type ${String(p.type)}`)
    const perm: Permission = { type: p.type, key: toBytes(p.key), rangeEnd: toBytes(p.rangeEnd ?? EMPTY) }
    if (perm.key.length > this.#maxKeyBytes || perm.rangeEnd.length > this.#maxKeyBytes) throw this.#limit(`permission key over ${this.#maxKeyBytes} bytes`)
    if (!isValidPermissionRange(perm.key, perm.rangeEnd)) throw new AuthError('ERR_INVALID_AUTH_MGMT', 'auth: invalid permission range (empty key, or range end not after key)')
    const rest = role.permissions.filter((q) => !samePermissionRange(q, perm))
    if (rest.length >= this.#maxPermissionsPerRole) throw this.#limit(`role ${role.name} already holds ${rest.length} permissions`)
    const permissions = [...rest, perm].sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.rangeEnd, b.rangeEnd))
    this.#putRole(options, { name: role.name, permissions })
  }

  /** Revokes the permission on exactly (key, rangeEnd); ERR_PERMISSION_NOT_GRANTED if none. */
  roleRevokePermission(request: { readonly role: string; readonly key: KeyInput; readonly rangeEnd?: KeyInput }, options?: MutationOptions): void {
    const role = this.roleGet(request.role)
    const target = { key: toBytes(request.key), rangeEnd: toBytes(request.rangeEnd ?? EMPTY) }
    const permissions = role.permissions.filter((q) => !samePermissionRange(q, target))
    if (permissions.length === role.permissions.length) throw new AuthError('ERR_PERMISSION_NOT_GRANTED', `auth: permission is not granted to role ${JSON.stringify(role.name)}`)
    this.#putRole(options, { name: role.name, permissions })
  }

  // ---- authentication ------------------------------------------------------------------------

  /**
   * Checks a password and returns the auth revision the user was read at. The user and the
   * revision are read together synchronously; the bcrypt comparison runs afterwards, off the
   * event loop, holding nothing (the #11735 fix). ERR_AUTH_FAILED for an unknown user, a
   * no-password user or a wrong password (one code, so callers cannot probe for names).
   */
  async checkPassword(name: string, password: string): Promise<number> {
    if (!this.#enabled) throw new AuthError('ERR_AUTH_NOT_ENABLED', 'auth: authentication is not enabled')
    const user = this.#users.get(name)
    const revision = this.#revision
    if (user === undefined || user.noPassword || user.password === '') throw authFailed()
    if (!(await this.#hasher.compare(password, user.password))) throw authFailed()
    return revision
  }

  /**
   * Issues a token for `username` if the auth revision is still `options.revision` (the one
   * checkPassword returned): a password changed or user deleted in between fails with
   * ERR_AUTH_OLD_REVISION instead of yielding a token. `options.index` is the raft index of the
   * authenticate entry, carried by simple tokens.
   */
  assignToken(username: string, options: { readonly revision: number; readonly index?: number }): string {
    if (!this.#enabled) throw new AuthError('ERR_AUTH_NOT_ENABLED', 'auth: authentication is not enabled')
    if (options.revision !== this.#revision) throw oldRevision(options.revision, this.#revision)
    if (!this.#users.has(username)) throw authFailed()
    return this.#tokens.assign({ username, revision: this.#revision }, { index: options.index ?? 0 })
  }

  /**
   * checkPassword then assignToken, retrying (up to `maxAuthenticateRetries`) while the auth
   * revision moves during the comparison, as etcd's Authenticate does.
   */
  async authenticate(name: string, password: string, options: { readonly index?: number } = {}): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const revision = await this.checkPassword(name, password)
      if (revision === this.#revision || attempt >= this.#maxRetries) return this.assignToken(name, { revision, index: options.index ?? 0 })
    }
  }

  /** The identity behind a token; ERR_INVALID_AUTH_TOKEN when unknown or expired. */
  authInfoFromToken(token: string): AuthInfo {
    const info = this.#tokens.info(token, this.#revision)
    if (info === undefined) throw new AuthError('ERR_INVALID_AUTH_TOKEN', 'auth: invalid auth token')
    return info
  }

  /** Root's identity at the current revision, for internal work such as lease expiry (§5.6). */
  withRoot(): AuthInfo {
    return { username: ROOT_USER, revision: this.#revision }
  }

  // ---- permission checks (pure in the applied state) -----------------------------------------

  /**
   * Throws unless `info` may do `request` (etcd's isOpPermitted): auth off ⇒ allowed; no user
   * or revision 0 ⇒ ERR_USER_EMPTY; revision older than the store's ⇒ ERR_AUTH_OLD_REVISION;
   * unknown user ⇒ ERR_PERMISSION_DENIED; role root ⇒ allowed; otherwise a point request must
   * hit, and a range request must be wholly covered by, the union of the user's permissions.
   */
  checkPermission(info: AuthInfo | undefined, request: PermissionRequest): void {
    if (!this.#enabled) return
    const user = this.#identify(info)
    if (user === undefined || user.roles.includes(ROOT_ROLE)) return
    const perms = this.#unified(user)
    const interval = requestInterval(viewBytes(request.key), request.rangeEnd === undefined ? undefined : viewBytes(request.rangeEnd))
    const set = request.type === 'read' ? perms.read : perms.write
    if (!set.covers(interval)) throw permissionDenied(user.name)
  }

  /** WRITE on every key attached to a lease (etcd ≥ 3.3, PR #8031); root bypasses. */
  checkLeaseRevoke(info: AuthInfo | undefined, attachedKeys: Iterable<KeyInput>): void {
    for (const key of attachedKeys) this.checkPermission(info, { type: 'write', key })
  }

  /** Throws unless `info` is a user holding role root (user/role/cluster administration). */
  checkAdmin(info: AuthInfo | undefined): void {
    if (!this.#enabled) return
    if (info === undefined || info.username === '') throw userEmpty()
    const user = this.#users.get(info.username)
    if (user === undefined) throw new AuthError('ERR_USER_NOT_FOUND', `auth: user ${JSON.stringify(info.username)} not found`)
    if (!user.roles.includes(ROOT_ROLE)) throw permissionDenied(user.name)
  }

  /** The user `info` names, or undefined for root (allowed everything); throws on bad info. */
  #identify(info: AuthInfo | undefined): User | undefined {
    if (info === undefined || info.username === '' || info.revision === 0) throw userEmpty()
    if (info.revision < this.#revision) throw oldRevision(info.revision, this.#revision)
    const user = this.#users.get(info.username)
    if (user === undefined) throw permissionDenied(info.username)
    return user.roles.includes(ROOT_ROLE) ? undefined : user
  }

  #unified(user: User): UnifiedPermissions {
    let perms = this.#permCache.get(user.name)
    if (perms === undefined) {
      const roles: Role[] = []
      for (const name of user.roles) {
        const role = this.#roles.get(name)
        if (role !== undefined) roles.push(role) // only root may be held without existing
      }
      perms = unifyPermissions(roles)
      this.#permCache.set(user.name, perms)
    }
    return perms
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Runs `fn` in the caller's or a new write, then bumps and persists the revision there. */
  #mutate(options: MutationOptions | undefined, fn: (tx: WriteTx) => void): void {
    const run = (tx: WriteTx): void => {
      fn(tx)
      const next = this.#revision + 1
      assert.ok(Number.isSafeInteger(next))
      tx.put('auth', REVISION_KEY, encodeU64(next))
      this.#revision = next
      this.#permCache.clear()
    }
    if (options?.tx !== undefined) run(options.tx)
    else this.#backend.write(run)
  }

  #putUser(options: MutationOptions | undefined, user: User): void {
    const value = encodeUser(user)
    this.#mutate(options, (tx) => {
      tx.put('authUsers', encodeName(user.name), value)
      this.#users.set(user.name, user)
    })
  }

  #putRole(options: MutationOptions | undefined, role: Role): void {
    const value = encodeRole(role)
    this.#mutate(options, (tx) => {
      tx.put('authRoles', encodeName(role.name), value)
      this.#roles.set(role.name, role)
    })
  }

  #checkName(name: string, emptyCode: 'ERR_USER_EMPTY' | 'ERR_ROLE_EMPTY', what: string): string {
    if (typeof name !== 'string' || name.length === 0) throw new AuthError(emptyCode, `auth: ${what} name is empty`)
    if (encodeName(name).length > this.#maxNameBytes) throw this.#limit(`${what} name over ${this.#maxNameBytes} bytes`)
    return name
  }

  #checkHash(hash: string | undefined): string {
    if (hash === undefined || !isBcryptHash(hash)) {
      throw new AuthError('ERR_INVALID_PASSWORD_HASH', 'auth: expected a bcrypt hash from hashPassword (plaintext passwords are never applied)')
    }
    return hash
  }

  #limit(detail: string): AuthError {
    return new AuthError('ERR_AUTH_LIMIT', `auth: limit reached: ${detail}`)
  }
}

function samePermissionRange(a: { key: Uint8Array; rangeEnd: Uint8Array }, b: { key: Uint8Array; rangeEnd: Uint8Array }): boolean {
  return compareKeys(a.key, b.key) === 0 && compareKeys(a.rangeEnd, b.rangeEnd) === 0
}
