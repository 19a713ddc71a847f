import type { ApplyOutcome } from '@strata/apply'
import type { Identity, Member } from './member.js'

/** Where and when a response was answered (etcd's ResponseHeader). */
export interface ResponseHeader {
  readonly revision: number
  readonly raftTerm: number
  readonly memberId: number
}

/** What every part of a store view (kv, lease, auth, maintenance, cluster) works through. */
export interface ApiContext {
  readonly member: Member
  /** The identity requests are proposed as (read again per call: a token may expire). */
  readonly identity: () => Identity
  /** The header of a response answered now, or after `outcome` applied. */
  readonly header: (outcome?: ApplyOutcome) => ResponseHeader
}
