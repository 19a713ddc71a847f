import type { ReadTx, WriteTx } from '@strata/backend'
import { u64be } from './byte-codec.js'
import type { Member } from './request.js'
import { decodeMember, encodeMember } from './request-codec.js'

const memberKey = u64be

/**
 * The cluster's members as applied from the log (etcd's membership store): the `members`
 * bucket, key = member id u64 BE, value = the member record (FORMAT.md §3). Changed only by
 * applied conf changes and member attribute updates, in the apply's transaction.
 */
export class Members {
  #members = new Map<number, Member>()

  load(tx: ReadTx): void {
    this.#members.clear()
    tx.forEach('members', new Uint8Array(0), undefined, (_k, v) => {
      const m = decodeMember(v)
      this.#members.set(m.id, m)
    })
  }

  list(): Member[] {
    return [...this.#members.values()].sort((a, b) => a.id - b.id)
  }

  get(id: number): Member | undefined {
    return this.#members.get(id)
  }

  put(tx: WriteTx, m: Member): void {
    tx.put('members', memberKey(m.id), encodeMember(m))
    this.#members.set(m.id, m)
  }

  remove(tx: WriteTx, id: number): void {
    tx.delete('members', memberKey(id))
    this.#members.delete(id)
  }
}
