import assert from 'node:assert'
import type { ReadTx } from '@strata/backend'
import { AuthError } from './errors.js'
import { isValidPermissionRange } from './range-perm-cache.js'

/**
 * The auth records and their bytes in the backend (etcd's api/authpb). FORMAT.md describes the
 * encoding in prose; this file is the only code that reads or writes it.
 */

/** What a permission allows: READ=0, WRITE=1, READWRITE=2 on disk, as in etcd. */
export type PermissionType = 'read' | 'write' | 'readwrite'

/**
 * A key-range permission held by a role (etcd's authpb.Permission). Its range is a `KeyRange`
 * (`@strata/backend`), like every range in Strata: `end` absent is the single key `key`; `"\0"`
 * is every key from `key` on; otherwise the half-open `[key, end)`. (etcd calls the end
 * `range_end`; on disk it is still an empty byte string for the single key, FORMAT.md.)
 */
export interface Permission {
  readonly type: PermissionType
  readonly key: Uint8Array
  /** Absent: the single key. `"\0"`: every key from `key` on. Otherwise the exclusive end. */
  readonly end?: Uint8Array
}

export interface User {
  readonly name: string
  /** The bcrypt hash (`$2b$...`), or '' for a user created with `noPassword`. */
  readonly password: string
  /** Role names, sorted, without duplicates. */
  readonly roles: readonly string[]
  /** The user cannot authenticate with a password (etcd's UserAddOptions.no_password). */
  readonly noPassword: boolean
}

export interface Role {
  readonly name: string
  /** Sorted by key, then end (absent first); at most one permission per (key, end). */
  readonly permissions: readonly Permission[]
}

const VERSION = 1
const EMPTY = new Uint8Array(0)
const TYPE_CODES: readonly PermissionType[] = ['read', 'write', 'readwrite']
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

function corrupt(what: string, detail: string): AuthError {
  return new AuthError('ERR_AUTH_CORRUPT', `auth: corrupt ${what} record: ${detail}; restore the backend from a snapshot`, { what })
}

/** Accumulates length-prefixed fields (big-endian). */
class Writer {
  readonly #parts: Uint8Array[] = []
  #length = 0

  u8(v: number): void {
    this.#push(Uint8Array.of(v))
  }

  u16(v: number): void {
    const b = new Uint8Array(2)
    new DataView(b.buffer).setUint16(0, v)
    this.#push(b)
  }

  u32(v: number): void {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, v)
    this.#push(b)
  }

  bytes16(b: Uint8Array): void {
    this.u16(b.length)
    this.#push(b)
  }

  bytes32(b: Uint8Array): void {
    this.u32(b.length)
    this.#push(b)
  }

  #push(b: Uint8Array): void {
    this.#parts.push(b)
    this.#length += b.length
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length)
    let at = 0
    for (const p of this.#parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
}

/** Reads what Writer wrote, failing with ERR_AUTH_CORRUPT on any overrun. */
class Reader {
  readonly #view: DataView
  readonly #bytes: Uint8Array
  readonly #what: string
  #at = 0

  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#what = what
  }

  #need(n: number): void {
    if (this.#at + n > this.#bytes.length) throw corrupt(this.#what, `truncated at byte ${this.#at}`)
  }

  u8(): number {
    this.#need(1)
    return this.#view.getUint8(this.#at++)
  }

  u16(): number {
    this.#need(2)
    const v = this.#view.getUint16(this.#at)
    this.#at += 2
    return v
  }

  u32(): number {
    this.#need(4)
    const v = this.#view.getUint32(this.#at)
    this.#at += 4
    return v
  }

  bytes(n: number): Uint8Array {
    this.#need(n)
    const b = this.#bytes.slice(this.#at, this.#at + n)
    this.#at += n
    return b
  }

  text(n: number): string {
    try {
      return fromUtf8.decode(this.bytes(n))
    } catch (err) {
      if (err instanceof AuthError) throw err
      throw corrupt(this.#what, 'invalid UTF-8')
    }
  }

  end(): void {
    if (this.#at !== this.#bytes.length) throw corrupt(this.#what, `${this.#bytes.length - this.#at} trailing bytes`)
  }
}

export function encodeName(name: string): Uint8Array {
  return utf8.encode(name)
}

export function decodeName(key: Uint8Array, what: string): string {
  try {
    return fromUtf8.decode(key)
  } catch {
    throw corrupt(what, 'name is not UTF-8')
  }
}

export function encodeUser(user: User): Uint8Array {
  const w = new Writer()
  w.u8(VERSION)
  w.u8(user.noPassword ? 1 : 0)
  w.bytes16(utf8.encode(user.password))
  w.u16(user.roles.length)
  for (const role of user.roles) w.bytes16(utf8.encode(role))
  return w.finish()
}

export function decodeUser(name: string, value: Uint8Array): User {
  const r = new Reader(value, `user ${name}`)
  if (r.u8() !== VERSION) throw corrupt(`user ${name}`, 'unknown version')
  const flags = r.u8()
  if ((flags & ~1) !== 0) throw corrupt(`user ${name}`, 'unknown flags')
  const password = r.text(r.u16())
  const roles: string[] = []
  for (let n = r.u16(); n > 0; n--) roles.push(r.text(r.u16()))
  r.end()
  return { name, password, roles, noPassword: (flags & 1) === 1 }
}

export function encodeRole(role: Role): Uint8Array {
  const w = new Writer()
  w.u8(VERSION)
  w.u32(role.permissions.length)
  for (const p of role.permissions) {
    w.u8(TYPE_CODES.indexOf(p.type))
    w.bytes32(p.key)
    w.bytes32(p.end ?? EMPTY)
  }
  return w.finish()
}

export function decodeRole(name: string, value: Uint8Array): Role {
  const r = new Reader(value, `role ${name}`)
  if (r.u8() !== VERSION) throw corrupt(`role ${name}`, 'unknown version')
  const permissions: Permission[] = []
  for (let n = r.u32(); n > 0; n--) {
    const type = TYPE_CODES[r.u8()]
    if (type === undefined) throw corrupt(`role ${name}`, 'unknown permission type')
    const key = r.bytes(r.u32())
    const end = r.bytes(r.u32())
    if (!isValidPermissionRange(key, end)) throw corrupt(`role ${name}`, 'a permission with an empty key or an end not after its key')
    permissions.push(end.length === 0 ? { type, key } : { type, key, end })
  }
  r.end()
  return { name, permissions }
}

/** A u64 as 8 big-endian bytes (the auth revision). */
export function encodeU64(v: number): Uint8Array {
  assert.ok(Number.isSafeInteger(v) && v >= 0, `encodeU64: ${v} is not a safe non-negative integer`)
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(v))
  return b
}

export function decodeU64(b: Uint8Array, what: string): number {
  if (b.length !== 8) throw corrupt(what, `expected 8 bytes, got ${b.length}`)
  const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(what, 'value exceeds 2^53 - 1')
  return Number(v)
}

/** Keys in the `auth` bucket (FORMAT.md). */
export const ENABLED_KEY = encodeName('authEnabled')
export const REVISION_KEY = encodeName('authRevision')
const NO_KEY = new Uint8Array(0)

/** Everything the auth buckets hold; `revision` 0 when none was ever written. */
export interface AuthState {
  revision: number
  readonly enabled: boolean
  readonly users: Map<string, User>
  readonly roles: Map<string, Role>
}

/** Reads the three auth buckets (FORMAT.md); ERR_AUTH_CORRUPT on any record that does not decode. */
export function readAuthState(tx: ReadTx): AuthState {
  const rev = tx.get('auth', REVISION_KEY)
  const revision = rev === undefined ? 0 : decodeU64(rev, 'authRevision')
  const en = tx.get('auth', ENABLED_KEY)
  if (en !== undefined && (en.length !== 1 || (en[0] !== 0 && en[0] !== 1))) throw corrupt('authEnabled', 'expected one byte, 0 or 1')
  const users = new Map<string, User>()
  const roles = new Map<string, Role>()
  tx.forEach('authUsers', NO_KEY, undefined, (k, v) => {
    const name = decodeName(k, 'user')
    users.set(name, decodeUser(name, v))
  })
  tx.forEach('authRoles', NO_KEY, undefined, (k, v) => {
    const name = decodeName(k, 'role')
    roles.set(name, decodeRole(name, v))
  })
  return { revision, enabled: en?.[0] === 1, users, roles }
}
