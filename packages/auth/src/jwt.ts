import { createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import type { Clock } from '@strata/seams'
import { AuthError, invalidOption } from './errors.js'
import { intOption, objectOption, optionsObject } from './options.js'
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
  /** Lifetime of a token in ms, an integer in [1,000, 10 years]. Default 300,000 ms (etcd's 5 min). */
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
    const o = optionsObject('JwtTokenProvider', options)
    const ttlMs = intOption('JwtTokenProvider', 'ttlMs', o.ttlMs, 300_000, 1000, 10 * 365 * 24 * 3600 * 1000)
    const clock = objectOption('JwtTokenProvider', 'clock', o.clock, ['now'])
    if (clock === undefined) throw invalidOption('JwtTokenProvider', 'clock', 'a wall Clock (systemClock from @strata/seams)', clock)
    if (o.signMethod !== 'HS256' && o.signMethod !== 'RS256' && o.signMethod !== 'ES256') throw invalidOption('JwtTokenProvider', 'signMethod', "'HS256', 'RS256' or 'ES256'", o.signMethod)
    this.signMethod = o.signMethod
    this.#clock = clock
    this.#ttlMs = ttlMs
    this.#header = b64url(JSON.stringify({ alg: o.signMethod, typ: 'JWT' }))
    if (options.signMethod === 'HS256') {
      if (!(options.secret instanceof Uint8Array) || options.secret.length < 32) throw invalidOption('JwtTokenProvider', 'secret', 'a Uint8Array of at least 32 bytes for HS256', options.secret)
      if (options.privateKey !== undefined || options.publicKey !== undefined) throw invalidOption('JwtTokenProvider', 'privateKey/publicKey', 'absent for HS256 (it takes a secret)', 'a key')
      this.#secret = Uint8Array.from(options.secret)
      return
    }
    if (options.secret !== undefined) throw invalidOption('JwtTokenProvider', 'secret', `absent for ${options.signMethod} (it takes privateKey/publicKey)`, 'a secret')
    const priv = options.privateKey === undefined ? undefined : asKey('privateKey', options.privateKey, createPrivateKey)
    const pub = options.publicKey === undefined ? (priv === undefined ? undefined : createPublicKey(priv)) : asKey('publicKey', options.publicKey, createPublicKey)
    if (pub === undefined) throw invalidOption('JwtTokenProvider', 'privateKey/publicKey', `a key for ${options.signMethod}`, undefined)
    for (const key of [priv, pub]) if (key !== undefined) checkKeyType(options.signMethod, key)
    this.#privateKey = priv
    this.#publicKey = pub
  }

  /** True when this provider can only verify tokens (it holds a public key alone). */
  get verifyOnly(): boolean {
    return this.#secret === undefined && this.#privateKey === undefined
  }

  assign(info: AuthInfo): string {
    if (this.verifyOnly) throw new AuthError('ERR_AUTH_VERIFY_ONLY', 'auth: token provider holds only a public key and cannot sign tokens')
    const exp = Math.floor((this.#clock.now() + this.#ttlMs) / 1000)
    const payload = b64url(JSON.stringify({ username: info.username, revision: info.revision, exp }))
    const signingInput = `${this.#header}.${payload}`
    return `${signingInput}.${b64url(this.#sign(signingInput))}`
  }

  info(token: string): AuthInfo | undefined {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined
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
  if (method === 'RS256' && key.asymmetricKeyType !== 'rsa') throw invalidOption('JwtTokenProvider', 'privateKey/publicKey', 'an RSA key for RS256', key.asymmetricKeyType)
  if (method === 'ES256' && (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw invalidOption('JwtTokenProvider', 'privateKey/publicKey', 'an EC key on P-256 (prime256v1) for ES256', key.asymmetricKeyType)
  }
}

/** A KeyObject, or one parsed from PEM; anything else is ERR_AUTH_INVALID_OPTION. */
function asKey(name: string, key: unknown, parse: (pem: string) => KeyObject): KeyObject {
  if (typeof key === 'string') {
    try {
      return parse(key)
    } catch (err) {
      throw new AuthError('ERR_AUTH_INVALID_OPTION', `auth: JwtTokenProvider option ${name} is not a PEM key Node can parse (${(err as Error).message}); pass a PEM string or a KeyObject`, { option: name }, { cause: err })
    }
  }
  if (typeof key !== 'object' || key === null || typeof (key as KeyObject).type !== 'string') throw invalidOption('JwtTokenProvider', name, 'a PEM string or a KeyObject', key)
  return key as KeyObject
}
