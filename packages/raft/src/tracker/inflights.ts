import assert from 'node:assert'

/**
 * The in-flight MsgApps to one follower, as a ring of (last index, bytes) pairs: replication to
 * that follower pauses while `full()`, bounding memory and network use per follower.
 */
export class Inflights {
  /** Maximum number of in-flight messages. */
  readonly size: number
  /** Maximum in-flight bytes; 0 means unlimited. */
  readonly maxBytes: number
  /** Invariant: `#count <= size`; entries `#start .. #start+#count` (mod size) hold ascending indexes. */
  #start = 0
  #count = 0
  #bytes = 0
  #indexes: number[]
  #sizes: number[]

  constructor(size: number, maxBytes = 0) {
    assert(size > 0, 'inflights size must be positive')
    this.size = size
    this.maxBytes = maxBytes
    this.#indexes = []
    this.#sizes = []
  }

  clone(): Inflights {
    const c = new Inflights(this.size, this.maxBytes)
    c.#start = this.#start
    c.#count = this.#count
    c.#bytes = this.#bytes
    c.#indexes = this.#indexes.slice()
    c.#sizes = this.#sizes.slice()
    return c
  }

  get count(): number { return this.#count }
  get bytes(): number { return this.#bytes }

  /** Records a MsgApp whose last entry is `index` and whose entries total `bytes`. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'cannot add into a full inflights')
    let next = this.#start + this.#count
    if (next >= this.size) next -= this.size
    if (this.#count > 0) {
      let lastPos = next - 1
      if (lastPos < 0) lastPos += this.size
      assert(this.#indexes[lastPos]! <= index, `inflights must be added in order: ${index} after ${this.#indexes[lastPos]}`)
    }
    this.#indexes[next] = index
    this.#sizes[next] = bytes
    this.#count++
    this.#bytes += bytes
  }

  /** Frees every in-flight message whose last index is <= `to` (the follower acknowledged it). */
  freeLE(to: number): void {
    if (this.#count === 0 || to < this.#indexes[this.#start]!) return
    let idx = this.#start
    let i = 0
    let freed = 0
    for (; i < this.#count; i++) {
      if (to < this.#indexes[idx]!) break
      freed += this.#sizes[idx]!
      idx++
      if (idx >= this.size) idx -= this.size
    }
    this.#count -= i
    this.#bytes -= freed
    this.#start = this.#count === 0 ? 0 : idx
  }

  full(): boolean {
    return this.#count === this.size || (this.maxBytes !== 0 && this.#bytes >= this.maxBytes)
  }

  reset(): void {
    this.#count = 0
    this.#start = 0
    this.#bytes = 0
  }
}
