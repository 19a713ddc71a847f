import assert from 'node:assert'
import type { Backend, Bytes, KeyRange, WriteTx } from '@strata/backend'
import type { AuthStoreOptions, MutationOptions, NoRangeEnd, PermissionInput, PermissionRequest, UserAddRequest } from './store-types.js'
import { cryptoRng, systemClock } from '@strata/seams'
import { ENABLED_KEY, REVISION_KEY, encodeName, encodeRole, encodeU64, encodeUser, readAuthState, type Permission, type PermissionType, type Role, type User } from './authpb.js'
import { DEFAULT_BCRYPT_COST, MAX_BCRYPT_COST, MIN_BCRYPT_COST, PasswordHasher, isBcryptHash } from './bcrypt-hasher.js'
import { AuthError, authFailed, closed, invalidArgument, invalidOption, oldRevision, permissionDenied, userEmpty } from './errors.js'
import { intOption, objectOption, optionsObject } from './options.js'
import { compareKeys, isValidPermissionRange, requestInterval, unifyPermissions, type UnifiedPermissions } from './range-perm-cache.js'
import { SimpleTokenProvider } from './simple-token.js'
import type { AuthInfo, TokenProvider } from './token-provider.js'

import { authInfoArgument, copyBytes, indexArgument, mutationTx, nameArgument, rangeEnd, requestObject, viewBytes } from './validate.js'

/** The special user and role (etcd's rootUser / rootRole). */
export const ROOT_USER = 'root'
export const ROOT_ROLE = 'root'

export type { AuthStoreOptions, MutationOptions, NoRangeEnd, PermissionInput, PermissionRequest, UserAddRequest } from './store-types.js'

const EMPTY = new Uint8Array(0)

const STORE = 'AuthStore'

function backendArgument(backend: Backend | undefined): Backend {
  if (typeof backend !== 'object' || backend === null || typeof backend.read !== 'function' || typeof backend.write !== 'function') {
    throw invalidArgument('the backend', 'a Backend from @strata/backend (MemoryBackend, LmdbBackend)', backend)
  }
  return backend
}

/**
 * Users, roles and key-range permissions over a Backend (etcd's authStore).
 *
 * Made with {@link AuthStore.open}, released with {@link AuthStore.close}. The store splits each
 * operation the way a replicated store needs it:
 * - propose side, async and stateless: {@link hashPassword} turns a password into a bcrypt hash
 *   before anything is proposed, so no plaintext reaches the log;
 * - apply side, synchronous and deterministic: the mutations (`userAdd`, `roleGrantPermission`,
 *   ...) and the permission checks depend only on the applied entries, so every member decides
 *   alike;
 * - authentication: {@link checkPassword} compares outside every lock and off the event loop,
 *   then {@link assignToken} re-checks the auth revision before it issues a token.
 */
export class AuthStore {
  #backend: Backend
  readonly #hasher: PasswordHasher
  /** Invariant: true when the store made #hasher, so close() stops its threads. */
  readonly #ownsHasher: boolean
  readonly #tokens: TokenProvider
  readonly #maxNameBytes: number
  readonly #maxKeyBytes: number
  readonly #maxPermissionsPerRole: number
  readonly #maxRolesPerUser: number
  readonly #maxRetries: number
  /** Invariant: equals the `authRevision` written to the backend so far; >= 1 after open. */
  #revision = 0
  /** Invariant: equals the `authEnabled` written to the backend so far. */
  #enabled = false
  /** Invariant: mirrors the authUsers bucket as written so far. */
  #users = new Map<string, User>()
  /** Invariant: mirrors the authRoles bucket as written so far. */
  #roles = new Map<string, Role>()
  /** Invariant: entries were built at the current #revision (cleared on every mutation). */
  readonly #permCache = new Map<string, UnifiedPermissions>()
  /** Authentications in flight (close() waits for them). */
  readonly #inFlight = new Set<Promise<unknown>>()
  /** Set by close(): resolves when everything is released. */
  #closing: Promise<void> | undefined

  /** Use {@link AuthStore.open}: the constructor only checks options and loads nothing. */
  private constructor(backend: Backend, options: AuthStoreOptions | undefined) {
    const o = optionsObject(STORE, options)
    this.#backend = backend
    if (o.hasher !== undefined && !(o.hasher instanceof PasswordHasher)) throw invalidOption(STORE, 'hasher', 'a PasswordHasher', o.hasher)
    if (o.hasher !== undefined && o.bcryptCost !== undefined) throw invalidOption(STORE, 'bcryptCost', 'absent when a hasher is given (set the cost on the hasher)', o.bcryptCost)
    if (o.tokenProvider !== undefined && o.tokenTtlMs !== undefined) throw invalidOption(STORE, 'tokenTtlMs', 'absent when a tokenProvider is given (set the TTL on the provider)', o.tokenTtlMs)
    const tokenProvider = objectOption(STORE, 'tokenProvider', o.tokenProvider, ['assign', 'info', 'invalidateUser', 'invalidateAll'])
    const cost = intOption(STORE, 'bcryptCost', o.bcryptCost, DEFAULT_BCRYPT_COST, MIN_BCRYPT_COST, MAX_BCRYPT_COST)
    this.#maxNameBytes = intOption(STORE, 'maxNameBytes', o.maxNameBytes, 256, 1, 65_535)
    this.#maxKeyBytes = intOption(STORE, 'maxKeyBytes', o.maxKeyBytes, 65_536, 1, 2 ** 31)
    this.#maxPermissionsPerRole = intOption(STORE, 'maxPermissionsPerRole', o.maxPermissionsPerRole, 10_000, 1, 10_000_000)
    this.#maxRolesPerUser = intOption(STORE, 'maxRolesPerUser', o.maxRolesPerUser, 10_000, 1, 65_535)
    this.#maxRetries = intOption(STORE, 'maxAuthenticateRetries', o.maxAuthenticateRetries, 3, 0, 100)
    const rng = objectOption(STORE, 'rng', o.rng, ['nextU32']) ?? cryptoRng()
    const clock = objectOption(STORE, 'clock', o.clock, ['now']) ?? systemClock
    this.#tokens = tokenProvider ?? new SimpleTokenProvider({ rng, clock, ...(o.tokenTtlMs === undefined ? {} : { ttlMs: o.tokenTtlMs }) })
    this.#ownsHasher = o.hasher === undefined
    this.#hasher = o.hasher ?? new PasswordHasher({ cost })
  }

  /**
   * Opens the auth store over `backend`: loads users, roles, the revision and the enabled flag.
   * A fresh backend (no revision yet) gets revision 1 written into its pending batch, as etcd
   * does; every member does the same, so that write needs no applied index. Bad options fail
   * with ERR_AUTH_INVALID_OPTION, corrupt records with ERR_AUTH_CORRUPT.
   */
  static async open(backend: Backend, options?: AuthStoreOptions): Promise<AuthStore> {
    const store = new AuthStore(backendArgument(backend), options)
    try {
      store.#load()
    } catch (err) {
      await store.close()
      throw err
    }
    return store
  }

  /**
   * Releases the store: no new call is accepted (each fails with ERR_AUTH_CLOSED), tokens are
   * dropped, authentications in flight end (their comparison finishes, then they fail with
   * ERR_AUTH_CLOSED), and the hasher's threads stop if the store made the hasher. Idempotent:
   * a second call returns the first one's promise. The backend is the caller's: it is neither
   * committed nor closed here.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#tokens.invalidateAll()
    this.#closing = (async () => {
      if (this.#ownsHasher) await this.#hasher.close()
      await Promise.allSettled([...this.#inFlight])
    })()
    return this.#closing
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closing !== undefined
  }

  /**
   * Reloads everything from the backend after a snapshot restore, from `backend` when given
   * (the restored one; the store uses it from then on). Drops every token and the permission
   * cache. A backend with no revision gets revision 1, as at open.
   */
  recover(backend?: Backend): void {
    this.#check()
    if (backend !== undefined) this.#backend = backendArgument(backend)
    this.#load()
  }

  #load(): void {
    const state = this.#backend.read(readAuthState)
    if (state.revision === 0) {
      state.revision = 1
      this.#backend.write((tx) => tx.put('auth', REVISION_KEY, encodeU64(1)))
    }
    this.#revision = state.revision
    this.#enabled = state.enabled
    this.#users = state.users
    this.#roles = state.roles
    this.#permCache.clear()
    this.#tokens.invalidateAll()
  }

  /**
   * The auth revision: 1 on a fresh store, +1 on every mutation, in the mutation's write. A
   * driver stamps it into a request's header when it accepts the request (from the AuthInfo of
   * the request's token) and, at apply, refuses the request if the store moved past it: see
   * {@link checkRevision}.
   */
  get revision(): number {
    this.#check()
    return this.#revision
  }

  get enabled(): boolean {
    this.#check()
    return this.#enabled
  }

  /** The hasher this store compares with (its cost is the cost new hashes get). */
  get hasher(): PasswordHasher {
    this.#check()
    return this.#hasher
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The user, or ERR_AUTH_USER_NOT_FOUND. */
  userGet(name: string): User {
    this.#check()
    const user = this.#users.get(nameArgument(name, 'the user name'))
    if (user === undefined) throw new AuthError('ERR_AUTH_USER_NOT_FOUND', `auth: user ${JSON.stringify(name)} not found; add it with userAdd first`, { name })
    return user
  }

  /** User names, sorted. */
  userList(): string[] {
    this.#check()
    return [...this.#users.keys()].sort()
  }

  /** The role, or ERR_AUTH_ROLE_NOT_FOUND. */
  roleGet(name: string): Role {
    this.#check()
    const role = this.#roles.get(nameArgument(name, 'the role name'))
    if (role === undefined) throw new AuthError('ERR_AUTH_ROLE_NOT_FOUND', `auth: role ${JSON.stringify(name)} not found; add it with roleAdd first`, { name })
    return role
  }

  /** Role names, sorted. */
  roleList(): string[] {
    this.#check()
    return [...this.#roles.keys()].sort()
  }

  // ---- propose side --------------------------------------------------------------------------

  /**
   * Hashes a password for a later `userAdd` / `userChangePassword` proposal: off the event loop,
   * within the hasher's concurrency bound. ERR_AUTH_PASSWORD_EMPTY for an empty password.
   */
  hashPassword(password: string): Promise<string> {
    this.#check()
    return this.#track(this.#hasher.hash(password))
  }

  // ---- mutations (apply side) ----------------------------------------------------------------

  /** Turns auth on. Needs user root holding role root. Enabling twice changes nothing. */
  authEnable(options?: MutationOptions): void {
    const tx = this.#begin(options)
    if (this.#enabled) return
    const root = this.#users.get(ROOT_USER)
    if (root === undefined) throw new AuthError('ERR_AUTH_ROOT_USER_NOT_EXIST', 'auth: user root does not exist; add user root and grant it role root before enabling auth')
    if (!root.roles.includes(ROOT_ROLE)) throw new AuthError('ERR_AUTH_ROOT_ROLE_NOT_EXIST', 'auth: user root does not hold role root; grant it before enabling auth')
    this.#mutate(tx, (t) => t.put('auth', ENABLED_KEY, Uint8Array.of(1)), () => {
      this.#enabled = true
    })
  }

  /** Turns auth off and drops every token. Disabling twice changes nothing. */
  authDisable(options?: MutationOptions): void {
    const tx = this.#begin(options)
    if (!this.#enabled) return
    this.#mutate(tx, (t) => t.put('auth', ENABLED_KEY, Uint8Array.of(0)), () => {
      this.#enabled = false
      this.#tokens.invalidateAll()
    })
  }

  userAdd(request: UserAddRequest, options?: MutationOptions): void {
    const tx = this.#begin(options)
    const r = requestObject(request, 'the userAdd request')
    const name = this.#checkName(r.name, 'ERR_AUTH_USER_EMPTY', 'user')
    if (r.noPassword !== undefined && typeof r.noPassword !== 'boolean') throw invalidArgument('noPassword', 'a boolean', r.noPassword)
    if (this.#users.has(name)) throw new AuthError('ERR_AUTH_USER_ALREADY_EXIST', `auth: user ${JSON.stringify(name)} already exists; pick another name or delete it first`, { name })
    const noPassword = r.noPassword ?? false
    const password = noPassword ? '' : this.#checkHash(r.hashedPassword)
    this.#putUser(tx, { name, password, roles: [], noPassword })
  }

  /** Deletes a user and its tokens. Not user root while auth is enabled. */
  userDelete(name: string, options?: MutationOptions): void {
    const tx = this.#begin(options)
    if (this.#enabled && name === ROOT_USER) throw new AuthError('ERR_AUTH_INVALID_MGMT', 'auth: cannot delete user root while auth is enabled; disable auth first')
    this.userGet(name)
    this.#mutate(tx, (t) => t.delete('authUsers', encodeName(name)), () => {
      this.#users.delete(name)
      this.#tokens.invalidateUser(name)
    })
  }

  /** Replaces a user's password hash and drops its tokens. A no-password user stays without one. */
  userChangePassword(request: { readonly name: string; readonly hashedPassword: string }, options?: MutationOptions): void {
    const tx = this.#begin(options)
    const user = this.userGet(requestObject(request, 'the userChangePassword request').name)
    const password = user.noPassword ? '' : this.#checkHash(request.hashedPassword)
    this.#putUser(tx, { ...user, password }, () => this.#tokens.invalidateUser(user.name))
  }

  /** Grants a role. Granting one already held changes nothing (etcd ignores it, no new revision). */
  userGrantRole(request: { readonly user: string; readonly role: string }, options?: MutationOptions): void {
    const tx = this.#begin(options)
    const user = this.userGet(requestObject(request, 'the userGrantRole request').user)
    const role = nameArgument(request.role, 'the role name')
    if (role !== ROOT_ROLE) this.roleGet(role)
    if (user.roles.includes(role)) return
    if (user.roles.length >= this.#maxRolesPerUser) throw this.#limit(`user ${user.name} already holds ${user.roles.length} roles (maxRolesPerUser)`)
    this.#putUser(tx, { ...user, roles: [...user.roles, role].sort() })
  }

  /** Revokes a role. Not role root from user root while auth is enabled. */
  userRevokeRole(request: { readonly user: string; readonly role: string }, options?: MutationOptions): void {
    const tx = this.#begin(options)
    const r = requestObject(request, 'the userRevokeRole request')
    if (this.#enabled && r.user === ROOT_USER && r.role === ROOT_ROLE) {
      throw new AuthError('ERR_AUTH_INVALID_MGMT', 'auth: cannot revoke role root from user root while auth is enabled; disable auth first')
    }
    const user = this.userGet(r.user)
    nameArgument(r.role, 'the role name')
    if (!user.roles.includes(r.role)) {
      throw new AuthError('ERR_AUTH_ROLE_NOT_GRANTED', `auth: role ${JSON.stringify(r.role)} is not granted to user ${JSON.stringify(user.name)}; nothing to revoke`)
    }
    this.#putUser(tx, { ...user, roles: user.roles.filter((x) => x !== r.role) })
  }

  roleAdd(name: string, options?: MutationOptions): void {
    const tx = this.#begin(options)
    const checked = this.#checkName(name, 'ERR_AUTH_ROLE_EMPTY', 'role')
    if (this.#roles.has(checked)) throw new AuthError('ERR_AUTH_ROLE_ALREADY_EXIST', `auth: role ${JSON.stringify(checked)} already exists; pick another name or delete it first`, { name })
    this.#putRole(tx, { name: checked, permissions: [] })
  }

  /** Deletes a role and revokes it from every user holding it. Not role root while enabled. */
  roleDelete(name: string, options?: MutationOptions): void {
    const tx = this.#begin(options)
    if (this.#enabled && name === ROOT_ROLE) throw new AuthError('ERR_AUTH_INVALID_MGMT', 'auth: cannot delete role root while auth is enabled; disable auth first')
    this.roleGet(name)
    const holders = [...this.#users.values()].filter((u) => u.roles.includes(name)).map((u) => ({ ...u, roles: u.roles.filter((r) => r !== name) }))
    this.#mutate(
      tx,
      (t) => {
        t.delete('authRoles', encodeName(name))
        for (const u of holders) t.put('authUsers', encodeName(u.name), encodeUser(u))
      },
      () => {
        this.#roles.delete(name)
        for (const u of holders) this.#users.set(u.name, u)
      },
    )
  }

  /**
   * Grants a permission on a KeyRange. A permission on the same (key, end) is replaced by the
   * new type; granting an identical one again still makes a new revision (etcd ≥
   * 3.4.45/3.5.33, #11710). ERR_AUTH_INVALID_MGMT for an empty key or an end not after the key.
   */
  roleGrantPermission(request: { readonly role: string; readonly permission: PermissionInput | undefined }, options?: MutationOptions): void {
    const tx = this.#begin(options)
    const role = this.roleGet(requestObject(request, 'the roleGrantPermission request').role)
    const p = request.permission
    if (p === undefined) throw new AuthError('ERR_AUTH_PERMISSION_NOT_GIVEN', 'auth: no permission given; pass { type, key, end? }')
    requestObject(p, 'the permission')
    if (p.type !== 'read' && p.type !== 'write' && p.type !== 'readwrite') throw new AuthError('ERR_AUTH_INVALID_MGMT', `auth: invalid permission type ${String(p.type)}; use 'read', 'write' or 'readwrite'`)
    const perm = this.#permissionRange(p, p.type)
    const rest = role.permissions.filter((q) => !samePermissionRange(q, perm))
    if (rest.length >= this.#maxPermissionsPerRole) throw this.#limit(`role ${role.name} already holds ${rest.length} permissions (maxPermissionsPerRole)`)
    const permissions = [...rest, perm].sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.end ?? EMPTY, b.end ?? EMPTY))
    this.#putRole(tx, { name: role.name, permissions })
  }

  /** Revokes the permission on exactly the KeyRange (key, end); ERR_AUTH_PERMISSION_NOT_GRANTED if none. */
  roleRevokePermission(request: { readonly role: string } & KeyRange & NoRangeEnd, options?: MutationOptions): void {
    const tx = this.#begin(options)
    const role = this.roleGet(requestObject(request, 'the roleRevokePermission request').role)
    const target = this.#permissionRange(request, 'read')
    const permissions = role.permissions.filter((q) => !samePermissionRange(q, target))
    if (permissions.length === role.permissions.length) {
      throw new AuthError('ERR_AUTH_PERMISSION_NOT_GRANTED', `auth: role ${JSON.stringify(role.name)} holds no permission on exactly that range; list them with roleGet`)
    }
    this.#putRole(tx, { name: role.name, permissions })
  }

  // ---- authentication ------------------------------------------------------------------------

  /**
   * Checks a password and returns the auth revision the user was read at. The user and the
   * revision are read together synchronously; the bcrypt comparison runs afterwards, off the
   * event loop, holding nothing (the #11735 fix). ERR_AUTH_FAILED for an unknown user, a
   * no-password user or a wrong password (one code, so callers cannot probe for names).
   */
  checkPassword(name: string, password: string): Promise<number> {
    this.#check()
    return this.#track(this.#checkPassword(name, password))
  }

  async #checkPassword(name: string, password: string): Promise<number> {
    nameArgument(name, 'the user name')
    if (typeof password !== 'string') throw invalidArgument('the password', 'a string', password)
    if (!this.#enabled) throw notEnabled()
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
   * authenticate entry, carried by simple tokens (default 0).
   */
  assignToken(username: string, options: { readonly revision: number; readonly index?: number }): string {
    this.#check()
    nameArgument(username, 'the user name')
    const o = requestObject(options, 'the assignToken options')
    const revision = indexArgument(o.revision, 'options.revision')
    const index = indexArgument(o.index ?? 0, 'options.index')
    if (!this.#enabled) throw notEnabled()
    if (revision !== this.#revision) throw oldRevision(revision, this.#revision)
    if (!this.#users.has(username)) throw authFailed()
    return this.#tokens.assign({ username, revision: this.#revision }, { index })
  }

  /**
   * checkPassword then assignToken, retrying (up to `maxAuthenticateRetries`) while the auth
   * revision moves during the comparison, as etcd's Authenticate does.
   */
  authenticate(name: string, password: string, options?: { readonly index?: number }): Promise<string> {
    this.#check()
    const index = indexArgument(options?.index ?? 0, 'options.index')
    return this.#track(
      (async () => {
        for (let attempt = 0; ; attempt++) {
          const revision = await this.#checkPassword(name, password)
          this.#check()
          if (revision === this.#revision || attempt >= this.#maxRetries) return this.assignToken(name, { revision, index })
        }
      })(),
    )
  }

  /** The identity behind a token; ERR_AUTH_INVALID_TOKEN when unknown or expired. */
  authInfoFromToken(token: string): AuthInfo {
    this.#check()
    if (typeof token !== 'string') throw invalidArgument('the token', 'a string', token)
    const info = this.#tokens.info(token, this.#revision)
    if (info === undefined) throw new AuthError('ERR_AUTH_INVALID_TOKEN', 'auth: invalid or expired auth token; authenticate again')
    return info
  }

  /** Root's identity at the current revision, for internal work such as lease expiry (§5.6). */
  withRoot(): AuthInfo {
    this.#check()
    return { username: ROOT_USER, revision: this.#revision }
  }

  // ---- permission checks (pure in the applied state) -----------------------------------------

  /**
   * The old-revision rule (etcd's ErrAuthOldRevision), alone. A driver records the auth revision
   * of a request's AuthInfo in the entry's header when it accepts (proposes) the request; when
   * it applies the entry, a header revision below {@link revision} means users, roles or
   * permissions changed in between, so the request must be refused (the client re-authenticates
   * or retries) with ERR_AUTH_OLD_REVISION. A header revision equal to or above the store's
   * passes. While auth is disabled nothing is refused, as in etcd. `checkPermission` applies the
   * rule itself; call this for requests that need no key check.
   */
  checkRevision(headerRevision: number): void {
    this.#check()
    const revision = indexArgument(headerRevision, 'the header revision')
    if (this.#enabled && revision < this.#revision) throw oldRevision(revision, this.#revision)
  }

  /**
   * Throws unless `info` may do `request` (etcd's isOpPermitted): auth off ⇒ allowed; no user
   * or revision 0 ⇒ ERR_AUTH_USER_EMPTY; revision older than the store's ⇒ ERR_AUTH_OLD_REVISION;
   * unknown user ⇒ ERR_AUTH_PERMISSION_DENIED; role root ⇒ allowed; otherwise a point request must
   * hit, and a range request (`end` set) must be wholly covered by, the union of the user's
   * permissions.
   */
  checkPermission(info: AuthInfo | undefined, request: PermissionRequest): void {
    this.#check()
    authInfoArgument(info)
    const r = requestObject(request, 'the permission request')
    if (r.type !== 'read' && r.type !== 'write') throw invalidArgument('request.type', "'read' or 'write'", r.type)
    const key = viewBytes(r.key, 'request.key')
    const end = rangeEnd(r, 'request')
    if (!this.#enabled) return
    const user = this.#identify(info)
    if (user === undefined) return
    const perms = this.#unified(user)
    const set = r.type === 'read' ? perms.read : perms.write
    if (!set.covers(requestInterval(key, end))) throw permissionDenied(user.name)
  }

  /** WRITE on every key attached to a lease (etcd ≥ 3.3, PR #8031); root bypasses. */
  checkLeaseRevoke(info: AuthInfo | undefined, attachedKeys: Iterable<Bytes>): void {
    this.#check()
    if (typeof (attachedKeys as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== 'function') {
      throw invalidArgument('the attached keys', 'an iterable of keys (string or Uint8Array)', attachedKeys)
    }
    for (const key of attachedKeys) this.checkPermission(info, { type: 'write', key })
  }

  /** Throws unless `info` is a user holding role root (user/role/cluster administration). */
  checkAdmin(info: AuthInfo | undefined): void {
    this.#check()
    authInfoArgument(info)
    if (!this.#enabled) return
    if (info === undefined || info.username === '') throw userEmpty()
    const user = this.#users.get(info.username)
    if (user === undefined) throw new AuthError('ERR_AUTH_USER_NOT_FOUND', `auth: user ${JSON.stringify(info.username)} not found; stamp the request with a current user`)
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

  /** Fails with ERR_AUTH_CLOSED after close(). */
  #check(): void {
    if (this.#closing !== undefined) throw closed()
  }

  /** The checks every mutation starts with: open, and a well-formed `{ tx }`. */
  #begin(options: MutationOptions | undefined): WriteTx | undefined {
    this.#check()
    return mutationTx(options)
  }

  /** Counts `p` as in flight until it settles (close() waits for it). */
  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p)
    const done = (): void => {
      this.#inFlight.delete(p)
    }
    p.then(done, done)
    return p
  }

  /**
   * Writes a mutation's records and the next auth revision into `tx` (or a write of the
   * store's own), then updates the in-memory view. The view moves only after every write
   * succeeded, so a write that throws leaves it as it was.
   */
  #mutate(tx: WriteTx | undefined, write: (tx: WriteTx) => void, apply: () => void): void {
    const next = this.#revision + 1
    assert.ok(Number.isSafeInteger(next))
    const run = (t: WriteTx): void => {
      write(t)
      t.put('auth', REVISION_KEY, encodeU64(next))
    }
    if (tx !== undefined) run(tx)
    else this.#backend.write(run)
    this.#revision = next
    this.#permCache.clear()
    apply()
  }

  #putUser(tx: WriteTx | undefined, user: User, after?: () => void): void {
    const value = encodeUser(user)
    this.#mutate(tx, (t) => t.put('authUsers', encodeName(user.name), value), () => {
      this.#users.set(user.name, user)
      after?.()
    })
  }

  #putRole(tx: WriteTx | undefined, role: Role): void {
    const value = encodeRole(role)
    this.#mutate(tx, (t) => t.put('authRoles', encodeName(role.name), value), () => {
      this.#roles.set(role.name, role)
    })
  }

  /** A permission's range as stored: copied bytes, an empty end dropped, bounds checked. */
  #permissionRange(range: KeyRange & NoRangeEnd, type: PermissionType): Permission {
    const key = copyBytes(range.key, 'permission.key')
    const endView = rangeEnd(range, 'permission')
    const end = endView === undefined || endView.length === 0 ? undefined : Uint8Array.from(endView)
    if (key.length > this.#maxKeyBytes || (end?.length ?? 0) > this.#maxKeyBytes) throw this.#limit(`permission key or end over ${this.#maxKeyBytes} bytes (maxKeyBytes)`)
    if (!isValidPermissionRange(key, end)) {
      throw new AuthError('ERR_AUTH_INVALID_MGMT', 'auth: invalid permission range: the key is empty or the end is not after the key; use end "\\0" for every key from key on')
    }
    return end === undefined ? { type, key } : { type, key, end }
  }

  #checkName(name: unknown, emptyCode: 'ERR_AUTH_USER_EMPTY' | 'ERR_AUTH_ROLE_EMPTY', what: string): string {
    const checked = nameArgument(name, `the ${what} name`)
    if (checked.length === 0) throw new AuthError(emptyCode, `auth: ${what} name is empty; give a name of 1 to ${this.#maxNameBytes} bytes`)
    if (encodeName(checked).length > this.#maxNameBytes) throw this.#limit(`${what} name over ${this.#maxNameBytes} bytes (maxNameBytes)`)
    return checked
  }

  #checkHash(hash: string | undefined): string {
    if (typeof hash !== 'string' || !isBcryptHash(hash)) {
      throw new AuthError('ERR_AUTH_INVALID_PASSWORD_HASH', 'auth: expected a bcrypt hash from hashPassword (plaintext passwords are never applied); hash the password before proposing')
    }
    return hash
  }

  #limit(detail: string): AuthError {
    return new AuthError('ERR_AUTH_LIMIT', `auth: limit reached: ${detail}; raise the option or remove entries`)
  }
}

function notEnabled(): AuthError {
  return new AuthError('ERR_AUTH_NOT_ENABLED', 'auth: authentication is not enabled; call authEnable first')
}

function samePermissionRange(a: { readonly key: Uint8Array; readonly end?: Uint8Array | undefined }, b: { readonly key: Uint8Array; readonly end?: Uint8Array | undefined }): boolean {
  return compareKeys(a.key, b.key) === 0 && compareKeys(a.end ?? EMPTY, b.end ?? EMPTY) === 0
}
