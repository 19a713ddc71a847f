import { ServerError } from '../peer/errors.js'

function bad(name: string, want: string, got: unknown): ServerError {
  const shown = typeof got === 'string' ? JSON.stringify(got) : typeof got === 'object' ? (got === null ? 'null' : 'an object') : String(got)
  return new ServerError('ERR_SERVER_INVALID_OPTION', `server: option ${name} must be ${want}, got ${shown}`, { option: name })
}

/** An optional integer option within [min, max]; ERR_SERVER_INVALID_OPTION otherwise. */
export function intOption(o: object, name: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  const v = (o as Record<string, unknown>)[name]
  if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)) throw bad(name, `an integer from ${min} to ${max}`, v)
}

export function stringOption(o: object, name: string): void {
  const v = (o as Record<string, unknown>)[name]
  if (v !== undefined && typeof v !== 'string') throw bad(name, 'a string', v)
}

export function stringsOption(o: object, name: string): void {
  const v = (o as Record<string, unknown>)[name]
  if (v !== undefined && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) throw bad(name, 'an array of strings', v)
}

/** An optional object whose listed members are functions (a store, a forwarder). */
export function objectOption(o: object, name: string, methods: readonly string[], required = false): void {
  const v = (o as Record<string, unknown>)[name]
  if (v === undefined && !required) return
  if (typeof v !== 'object' || v === null || !methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function')) {
    throw bad(name, `an object with ${methods.join(', ')}`, v)
  }
}

/** An optional object whose listed members are bytes (PEM files read into memory). */
export function bytesMembersOption(o: object, name: string, required: readonly string[], optional: readonly string[]): void {
  const v = (o as Record<string, unknown>)[name]
  if (v === undefined) return
  const ok = typeof v === 'object' && v !== null &&
    required.every((k) => (v as Record<string, unknown>)[k] instanceof Uint8Array) &&
    optional.every((k) => (v as Record<string, unknown>)[k] === undefined || (v as Record<string, unknown>)[k] instanceof Uint8Array)
  if (!ok) throw bad(name, `an object with ${required.join(', ')} as bytes${optional.length > 0 ? ` (and optionally ${optional.join(', ')})` : ''}`, v)
}
