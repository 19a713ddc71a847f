/** A member's id: a positive safe integer, unique within a cluster. */
export type MemberId = number

/**
 * Moves opaque messages between members. Delivery is best effort: messages may be lost,
 * delayed, duplicated or reordered, and the protocols above (raft) tolerate all of that.
 */
export interface Transport {
  send(to: MemberId, message: Uint8Array): void
  onMessage(fn: (from: MemberId, message: Uint8Array) => void): void
}
