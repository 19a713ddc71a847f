import assert from 'node:assert'

/** Writes a u64 as two little-endian u32 words; `n` must be a safe integer ≥ 0. */
export function setU64(view: DataView, at: number, n: number): void {
  // Not assert(cond, `...${n}`): that would build the message on every call of the append path.
  if (!(Number.isSafeInteger(n) && n >= 0)) assert.fail(`u64 field must be a safe integer >= 0, got ${n}`)
  view.setUint32(at, n >>> 0, true)
  view.setUint32(at + 4, Math.floor(n / 2 ** 32), true)
}

/** Reads a u64 written by setU64; `undefined` when it is not a safe integer (only damage does that). */
export function getU64(view: DataView, at: number): number | undefined {
  const hi = view.getUint32(at + 4, true)
  if (hi > 0x1fffff) return undefined
  return hi * 2 ** 32 + view.getUint32(at, true)
}
