import type { Timer } from '@strata/seams'
import type { Member } from './member.js'

/** Transport frames: the first byte says what follows. */
export const FRAME_RAFT = 0
const FRAME_HASH_REQUEST = 1
const FRAME_HASH_RESPONSE = 2

export function frame(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = kind
  out.set(body, 1)
  return out
}

const enc = new TextEncoder()
const dec = new TextDecoder()

/**
 * The periodic corruption check (etcd's `--experimental-corrupt-check-time`): the leader asks
 * every member for its hashKV at the leader's revision; a member whose hash differs at the same
 * revision and compact revision gets the CORRUPT alarm, proposed through the log, after which
 * every member refuses writes (ERR_APPLY_CORRUPT_ALARM) until an operator repairs it.
 *
 * A member also raises the alarm for itself when its own mvcc store meets damage while it runs
 * (ERR_MVCC_CORRUPT: a read of a record that fails its checksum or is missing, issue 17), with
 * or without peers: no hash comparison could find that sooner, and a sole member has no peer
 * to compare with.
 */
export class CorruptionCheck {
  readonly #member: Member
  #timer: Timer | undefined
  /** Invariant: set from start() until stop(). */
  #unsubscribe: (() => void) | undefined
  /** Invariant: true while a proposal of this member's own CORRUPT alarm is in flight. */
  #raising = false
  /** Invariant: the leader's own hash per revision asked about in the current round. */
  #mine = new Map<number, { hash: string; compactRevision: number }>()

  constructor(member: Member) {
    this.#member = member
  }

  start(): void {
    this.#unsubscribe ??= this.#member.sm.mvcc.onCorruption(() => this.#raiseOwn())
    const ms = this.#member.o.corruptCheckIntervalMs
    if (ms === 0 || this.#member.o.transport === undefined) return
    this.#timer = this.#member.o.clock.setTimer(ms, () => {
      if (this.#member.closed) return
      this.check()
      this.start()
    })
  }

  stop(): void {
    this.#timer?.cancel()
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
  }

  /**
   * Proposes the CORRUPT alarm for this member (once: not while one is in flight or raised). A
   * proposal that fails (no leader yet) is tried again at the next damaged read.
   */
  #raiseOwn(): void {
    const m = this.#member
    if (m.closed || this.#raising) return
    if (m.sm.alarms.list().some((a) => a.memberId === m.memberId && a.alarm === 'corrupt')) return
    this.#raising = true
    void m.propose({ kind: 'alarm', action: 'activate', memberId: m.memberId, alarm: 'corrupt' }, { username: m.sm.auth.enabled ? 'root' : '', authRevision: m.sm.auth.revision })
      .catch(() => {})
      .finally(() => {
        this.#raising = false
      })
  }

  /** One round, on the leader: hash here, ask the others for the same revision. */
  check(): void {
    const m = this.#member
    // A member restoring a snapshot has no index to hash until it is done: the next round asks.
    if (!m.isLeader || m.sm.mvcc.restoring) return
    const revision = m.sm.mvcc.revision
    const h = m.sm.mvcc.hashByRev(revision)
    this.#mine = new Map([[revision, { hash: h.hash, compactRevision: h.compactRevision }]])
    const body = enc.encode(JSON.stringify({ revision }))
    for (const peer of m.peers) m.o.transport!.send(peer, frame(FRAME_HASH_REQUEST, body))
  }

  receive(from: number, bytes: Uint8Array): void {
    let msg: { revision?: unknown; hash?: unknown; compactRevision?: unknown }
    try {
      msg = JSON.parse(dec.decode(bytes.subarray(1))) as typeof msg
    } catch {
      return // a damaged control frame is dropped; the next round asks again
    }
    if (typeof msg.revision !== 'number') return
    if (bytes[0] === FRAME_HASH_REQUEST) this.#answer(from, msg.revision)
    else if (bytes[0] === FRAME_HASH_RESPONSE && typeof msg.hash === 'string' && typeof msg.compactRevision === 'number') {
      this.#compare(from, msg.revision, msg.hash, msg.compactRevision)
    }
  }

  #answer(to: number, revision: number): void {
    const mvcc = this.#member.sm.mvcc
    // A member behind the revision, or compacted past it, cannot answer this round.
    if (mvcc.restoring || revision > mvcc.revision || revision < mvcc.compactRevision) return
    const h = mvcc.hashByRev(revision)
    const body = enc.encode(JSON.stringify({ revision, hash: h.hash, compactRevision: h.compactRevision }))
    this.#member.o.transport!.send(to, frame(FRAME_HASH_RESPONSE, body))
  }

  #compare(from: number, revision: number, hash: string, compactRevision: number): void {
    const mine = this.#mine.get(revision)
    if (mine === undefined || mine.compactRevision !== compactRevision || mine.hash === hash) return
    const m = this.#member
    if (m.sm.alarms.list().some((a) => a.memberId === from && a.alarm === 'corrupt')) return
    void m.propose({ kind: 'alarm', action: 'activate', memberId: from, alarm: 'corrupt' }, { username: m.sm.auth.enabled ? 'root' : '', authRevision: m.sm.auth.revision }).catch(() => {})
  }
}
