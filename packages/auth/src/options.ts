import { invalidOption } from './errors.js'

/**
 * Option checks shared by the constructors (CONTRIBUTING.md, options): an option out of its
 * bounds or of the wrong type fails at once with ERR_AUTH_INVALID_OPTION.
 */

/** The options object itself: undefined (all defaults) or a plain object. */
export function optionsObject<T extends object>(owner: string, options: T | undefined): Partial<T> {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) throw invalidOption(owner, '(the options object)', 'an object', options)
  return options
}

/** An integer option in [min, max], or its default when undefined. */
export function intOption(owner: string, name: string, value: unknown, fallback: number, min: number, max: number): number {
  const v = value ?? fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidOption(owner, name, `an integer in [${min}, ${max}]`, v)
  return v
}

/** A function option, or undefined. */
export function fnOption<F>(owner: string, name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidOption(owner, name, 'a function', value)
  return value
}

/** An object option that must have the named methods, or undefined. */
export function objectOption<T>(owner: string, name: string, value: T | undefined, methods: readonly string[]): T | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function')) {
    throw invalidOption(owner, name, `an object with ${methods.map((m) => `${m}()`).join(', ')}`, value)
  }
  return value
}
