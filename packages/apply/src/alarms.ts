import type { ReadTx, WriteTx } from '@strata/backend'
import { u64be } from './byte-codec.js'
import { ApplyError } from './errors.js'
import type { AlarmType } from './request.js'

/** One raised alarm: which member raised it, and what. */
export interface Alarm {
  readonly memberId: number
  readonly alarm: Exclude<AlarmType, 'none'>
}

const TYPES: readonly AlarmType[] = ['none', 'nospace', 'corrupt']

/** `alarm` bucket key: member id u64 BE, then the alarm type u8 (FORMAT.md §4); the value is empty. */
function alarmKey(a: Alarm): Uint8Array {
  const k = new Uint8Array(9)
  k.set(u64be(a.memberId))
  k[8] = TYPES.indexOf(a.alarm)
  return k
}

function decodeAlarmKey(k: Uint8Array): Alarm {
  const v = new DataView(k.buffer, k.byteOffset, k.byteLength)
  const alarm = TYPES[k[8] ?? 0]
  if (k.length !== 9 || alarm === undefined || alarm === 'none') {
    throw new ApplyError('ERR_APPLY_CORRUPT', 'apply: an alarm record does not decode; the backend is damaged: restore it from a snapshot')
  }
  return { memberId: v.getUint32(0) * 0x1_0000_0000 + v.getUint32(4), alarm }
}

/**
 * The raised alarms (etcd's alarm store): NOSPACE caps writes that grow the store, CORRUPT stops
 * every write. Kept in the `alarm` bucket so they survive restarts, and applied through the log
 * so every member agrees on them.
 */
export class Alarms {
  #alarms = new Map<string, Alarm>()

  /** Reloads from the bucket (at open and after a snapshot restore). */
  load(tx: ReadTx): void {
    this.#alarms.clear()
    tx.forEach('alarm', new Uint8Array(0), undefined, (k) => {
      const a = decodeAlarmKey(k)
      this.#alarms.set(`${a.memberId}/${a.alarm}`, a)
    })
  }

  list(): Alarm[] {
    return [...this.#alarms.values()].sort((a, b) => a.memberId - b.memberId || a.alarm.localeCompare(b.alarm))
  }

  has(alarm: Alarm['alarm']): boolean {
    for (const a of this.#alarms.values()) if (a.alarm === alarm) return true
    return false
  }

  /** Raises `a` (idempotent); returns whether it was new. */
  activate(tx: WriteTx, a: Alarm): boolean {
    const id = `${a.memberId}/${a.alarm}`
    if (this.#alarms.has(id)) return false
    tx.put('alarm', alarmKey(a), new Uint8Array(0))
    this.#alarms.set(id, a)
    return true
  }

  /** Clears `a`; returns whether it was raised. */
  deactivate(tx: WriteTx, a: Alarm): boolean {
    const id = `${a.memberId}/${a.alarm}`
    if (!this.#alarms.has(id)) return false
    tx.delete('alarm', alarmKey(a))
    this.#alarms.delete(id)
    return true
  }
}
