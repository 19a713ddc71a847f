import { createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import type { Clock } from '@strata/seams'
import { AuthError } from './errors.js'
import type { AuthInfo, TokenProvider } from './token-provider.js'

/** The signing methods supported (etcd accepts more; these three cover HMAC, RSA and ECDSA). */
export type JwtSignMethod = 'HS256' | 'RS256' | 'ES256'

export interface JwtOptions {
  readonly signMethod: JwtSignMethod
  /** HS256: the shared secret (at least 32 bytes). Required for HS256, refused otherwise. */
  readonly secret?: Uint8Array
  /** RS256/ES256: the private key (PEM or KeyObject). Without it the provider is verify-only. */
  readonly privateKey?: KeyObject | string
  /** RS256/ES256: the public key (PEM or KeyObject). Default: derived from `privateKey`. */
  readonly publicKey?: KeyObject | string
  /**
   * Wall-clock time: `now()` must return Unix epoch milliseconds, because `exp` is checked by
   * every member. (A monotonic clock would make tokens disagree between members.)
   */
  readonly clock: Pick<Clock, 'now'>
  /** Lifetime of a token in ms. Default 300,000 ms (etcd's 5 min). */
  readonly ttlMs?: number
}

/** Longest token `info` will parse; anything longer is rejected unread. 8 KiB. */
const MAX_TOKEN_LENGTH = 8192

function b64url(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url')
}

/**
 * JWT tokens (etcd's tokenJWT): claims `username`, `revision` (the auth revision at issue) and
 * `exp` (seconds since the epoch). Valid on every member holding the verification key; revoked
 * only by expiry or by the auth revision moving on (the request then fails with
 * ERR_AUTH_OLD_REVISION and the client re-authenticates).
 */
export class JwtTokenProvider implements TokenProvider {
  readonly signMethod: JwtSignMethod
  readonly #secret: Uint8Array | undefined
  readonly #privateKey: KeyObject | undefined
  readonly #publicKey: KeyObject | undefined
  readonly #clock: Pick<Clock, 'now'>
  readonly #ttlMs: number
  /** Invariant: the header every token of this provider carries, base64url-encoded. */
  readonly #header: string

  constructor(options: JwtOptions) {
    const ttlMs = options.ttlMs ?? 300_000
    if (!(ttlMs >= 1000) || !Number.isFinite(ttlMs)) throw new RangeError(`JwtTokenProvider: ttlMs must be >= 1000, got ${ttlMs}`)
    this.signMethod = options.signMethod
    this.#clock = options.clock
    this.#ttlMs = ttlMs
    this.#header = b64url(JSON.stringify({ alg: options.signMethod, typ: 'JWT' }))
    if (options.signMethod === 'HS256') {
      if (options.secret === undefined || options.secret.length < 32) throw new RangeError('JwtTokenProvider: HS256 needs a secret of at least 32 bytes')
      if (options.privateKey !== undefined || options.publicKey !== undefined) throw new RangeError('JwtTokenProvider: HS256 takes a secret, not keys')
      this.#secret = Uint8Array.from(options.secret)
      return
    }
    if (options.secret !== undefined) throw new RangeError(`JwtTokenProvider: ${options.signMethod} takes keys, not a secret`)
    const priv = options.privateKey === undefined ? undefined : typeof options.privateKey === 'string' ? createPrivateKey(options.privateKey) : options.privateKey
    const pub = options.publicKey === undefined ? (priv === undefined ? undefined : createPublicKey(priv)) : typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey
    if (pub === undefined) throw new RangeError(`JwtTokenProvider: ${options.signMethod} needs a public or a private key`)
    for (const key of [priv, pub]) if (key !== undefined) checkKeyType(options.signMethod, key)
    this.#privateKey = priv
    this.#publicKey = pub
  }

  /** True when this provider can only verify tokens (it holds a public key alone). */
  get verifyOnly(): boolean {
    return this.#secret === undefined && this.#privateKey === undefined
  }

  assign(info: AuthInfo): string {
    if (this.verifyOnly) throw new AuthError('ERR_VERIFY_ONLY', 'auth: token provider holds only a public key and cannot sign tokens')
    const exp = Math.floor((this.#clock.now() + this.#ttlMs) / 1000)
    const payload = b64url(JSON.stringify({ username: info.username, revision: info.revision, exp }))
    const signingInput = `${this.#header}.${payload}`
    return `${signingInput}.${b64url(this.#sign(signingInput))}`
  }

  info(token: string): AuthInfo | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return undefined
    const parts = token.split('.')
    if (parts.length !== 3) return undefined
    const [header, payload, signature] = parts as [string, string, string]
    // Only our own header is accepted, so a token cannot pick its algorithm ("alg": "none").
    if (header !== this.#header) return undefined
    if (!this.#verify(`${header}.${payload}`, Buffer.from(signature, 'base64url'))) return undefined
    let claims: unknown
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    } catch {
      return undefined
    }
    const { username, revision, exp } = (claims ?? {}) as Record<string, unknown>
    if (typeof username !== 'string' || typeof exp !== 'number' || !Number.isSafeInteger(revision)) return undefined
    if (exp * 1000 <= this.#clock.now()) return undefined
    return { username, revision: revision as number }
  }

  /** JWTs cannot be recalled; they lapse at `exp` or when the auth revision moves on. */
  invalidateUser(): void {}

  invalidateAll(): void {}

  #sign(input: string): Uint8Array {
    if (this.#secret !== undefined) return createHmac('sha256', this.#secret).update(input).digest()
    if (this.signMethod === 'ES256') return sign('sha256', Buffer.from(input), { key: this.#privateKey!, dsaEncoding: 'ieee-p1363' })
    return sign('sha256', Buffer.from(input), this.#privateKey!)
  }

  #verify(input: string, signature: Uint8Array): boolean {
    if (this.#secret !== undefined) {
      const expected = createHmac('sha256', this.#secret).update(input).digest()
      return expected.length === signature.length && timingSafeEqual(expected, signature)
    }
    try {
      if (this.signMethod === 'ES256') return verify('sha256', Buffer.from(input), { key: this.#publicKey!, dsaEncoding: 'ieee-p1363' }, signature)
      return verify('sha256', Buffer.from(input), this.#publicKey!, signature)
    } catch {
      return false
    }
  }
}

function checkKeyType(method: JwtSignMethod, key: KeyObject): void {
  if (method === 'RS256' && key.asymmetricKeyType !== 'rsa') throw new RangeError('JwtTokenProvider: RS256 needs an RSA key')
  if (method === 'ES256' && (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw new RangeError('JwtTokenProvider: ES256 needs an EC key on P-256 (prime256v1)')
  }
}
