import type { RequestBody } from '@strata/apply'
import type { Permission, Role, User } from '@strata/auth'
import type { Bytes } from '@strata/backend'
import type { ApiContext, ResponseHeader } from './api-context.js'

type Header = { header: ResponseHeader }

/**
 * Users, roles and permissions (etcd's Auth service). Every admin call goes through the log;
 * passwords are hashed off the event loop before proposing, so only a bcrypt hash travels.
 */
export class AuthApi {
  readonly #c: ApiContext

  constructor(c: ApiContext) {
    this.#c = c
  }

  async #do(body: RequestBody): Promise<Header> {
    return { header: this.#c.header(await this.#c.member.propose(body, this.#c.identity())) }
  }

  authEnable(): Promise<Header> { return this.#do({ kind: 'authEnable' }) }
  authDisable(): Promise<Header> { return this.#do({ kind: 'authDisable' }) }

  /** Adds a user; without a password (`noPassword`) it can only be used through TLS identities (server). */
  async userAdd(name: string, password: string | undefined, options: { readonly noPassword?: boolean } = {}): Promise<Header> {
    const noPassword = options.noPassword === true || password === undefined
    const hashedPassword = noPassword ? '' : await this.#c.member.sm.auth.hashPassword(password)
    return this.#do({ kind: 'userAdd', name, hashedPassword, noPassword })
  }

  userDelete(name: string): Promise<Header> { return this.#do({ kind: 'userDelete', name }) }

  async userChangePassword(name: string, password: string): Promise<Header> {
    return this.#do({ kind: 'userChangePassword', name, hashedPassword: await this.#c.member.sm.auth.hashPassword(password) })
  }

  userGrantRole(user: string, role: string): Promise<Header> { return this.#do({ kind: 'userGrantRole', user, role }) }
  userRevokeRole(user: string, role: string): Promise<Header> { return this.#do({ kind: 'userRevokeRole', user, role }) }
  roleAdd(name: string): Promise<Header> { return this.#do({ kind: 'roleAdd', name }) }
  roleDelete(name: string): Promise<Header> { return this.#do({ kind: 'roleDelete', name }) }

  roleGrantPermission(role: string, permission: { readonly type: Permission['type']; readonly key: Bytes; readonly end?: Bytes }): Promise<Header> {
    return this.#do({ kind: 'roleGrantPermission', role, permission })
  }

  roleRevokePermission(role: string, key: Bytes, end?: Bytes): Promise<Header> {
    return this.#do({ kind: 'roleRevokePermission', role, key, end })
  }

  async userGet(name: string): Promise<Header & { user: User }> {
    await this.#c.member.readBarrier()
    return { header: this.#c.header(), user: this.#c.member.sm.auth.userGet(name) }
  }

  async userList(): Promise<Header & { users: string[] }> {
    await this.#c.member.readBarrier()
    return { header: this.#c.header(), users: this.#c.member.sm.auth.userList() }
  }

  async roleGet(name: string): Promise<Header & { role: Role }> {
    await this.#c.member.readBarrier()
    return { header: this.#c.header(), role: this.#c.member.sm.auth.roleGet(name) }
  }

  async roleList(): Promise<Header & { roles: string[] }> {
    await this.#c.member.readBarrier()
    return { header: this.#c.header(), roles: this.#c.member.sm.auth.roleList() }
  }

  /**
   * Checks the password off the event loop (bcrypt on a worker thread, holding nothing), then
   * proposes the authentication so the token is issued at the auth revision the check saw.
   */
  async authenticate(name: string, password: string): Promise<Header & { token: string }> {
    const revision = await this.#c.member.sm.auth.checkPassword(name, password)
    const outcome = await this.#c.member.propose({ kind: 'authenticate', name, simpleToken: '' }, { username: '', authRevision: revision })
    const r = outcome.response
    if (r?.kind !== 'authenticate') throw new Error('unreachable: authenticate applied without a token')
    return { header: this.#c.header(outcome), token: r.token }
  }

  async status(): Promise<Header & { enabled: boolean; authRevision: number }> {
    await this.#c.member.readBarrier()
    return { header: this.#c.header(), enabled: this.#c.member.sm.auth.enabled, authRevision: this.#c.member.sm.auth.revision }
  }
}
