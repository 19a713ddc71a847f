import { MemoryBackend } from '@strata/backend'
import type { Clock } from '@strata/seams'
import { MvccStore, type MvccStoreOptions } from '../src/index.js'

/** A clock whose timers never fire: the backend commits only when told to (or at its batch limit). */
export const stillClock: Clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }

export function memoryBackend(): MemoryBackend {
  return new MemoryBackend({ clock: stillClock })
}

export async function newStore(options: MvccStoreOptions = {}): Promise<{ store: MvccStore; backend: MemoryBackend }> {
  const backend = memoryBackend()
  const store = await MvccStore.open(backend, { yieldFn: () => Promise.resolve(), ...options })
  return { store, backend }
}

const decoder = new TextDecoder()
export function text(b: Uint8Array | undefined): string | undefined {
  return b === undefined ? undefined : decoder.decode(b)
}

export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code'
  }
  return undefined
}
