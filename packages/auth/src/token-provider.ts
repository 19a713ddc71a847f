/** Who a request runs as: the user and the auth revision stamped when it was accepted. */
export interface AuthInfo {
  readonly username: string
  /** The auth revision the request was checked against (etcd's AuthInfo.Revision). */
  readonly revision: number
}

/**
 * Issues and resolves tokens (etcd's TokenProvider). Tokens live only on the member that
 * issued them (simple) or carry a signature any member can check (JWT).
 */
export interface TokenProvider {
  /**
   * A new token for `info.username`. `index` is the raft index of the authenticate entry (simple
   * tokens carry it; default 0, meaning "no entry", as for internal root tokens).
   * Fails with ERR_AUTH_VERIFY_ONLY when the provider holds no signing key.
   */
  assign(info: AuthInfo, options?: { readonly index?: number }): string
  /**
   * The identity behind `token`, or undefined when it is unknown, malformed or expired. A
   * provider that does not record a revision in the token reports `currentRevision`.
   */
  info(token: string, currentRevision: number): AuthInfo | undefined
  /** Forgets every token of `username` (user deleted or password changed). */
  invalidateUser(username: string): void
  /** Forgets every token (auth disabled). */
  invalidateAll(): void
}
