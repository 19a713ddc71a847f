import type { Entry } from '../src/index.js'

/** Entries lo..hi (inclusive) of `term` with small distinct payloads. */
export function ents(lo: number, hi: number, term = 1, size = 8): Entry[] {
  const out: Entry[] = []
  for (let i = lo; i <= hi; i++) {
    const data = new Uint8Array(size)
    for (let j = 0; j < size; j++) data[j] = (i * 31 + j) & 0xff
    out.push({ index: i, term, data })
  }
  return out
}

export const META = new TextEncoder().encode('metadata')

/** A comparable plain form of entries. */
export function plain(es: readonly Entry[]): Array<[number, number, string]> {
  return es.map((e) => [e.index, e.term, Buffer.from(e.data).toString('hex')])
}
