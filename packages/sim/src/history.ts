// What the clients did and saw, in virtual time: every call with its invocation and return
// times and its outcome, every watch response, every lease renewal.

/** ok: answered; fail: definitely did not happen; unknown: may or may not have happened. */
export type Status = 'ok' | 'fail' | 'unknown'

export type KvCall =
  | { readonly kind: 'get'; readonly key: string; readonly revision?: number }
  | { readonly kind: 'range' }
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'delete'; readonly key: string }
  | { readonly kind: 'cas'; readonly key: string; readonly expect: string | null; readonly value: string }
  | { readonly kind: 'txn'; readonly puts: readonly (readonly [string, string])[] }

export interface KvValue { readonly value: string; readonly modRevision: number }

export type KvResult =
  | { readonly kind: 'get'; readonly kv: KvValue | null; readonly revision: number }
  | { readonly kind: 'range'; readonly kvs: ReadonlyMap<string, KvValue>; readonly revision: number }
  | { readonly kind: 'put'; readonly revision: number }
  | { readonly kind: 'delete'; readonly deleted: number; readonly revision: number }
  | { readonly kind: 'cas'; readonly succeeded: boolean; readonly revision: number; readonly current: KvValue | null }
  | { readonly kind: 'txn'; readonly revision: number }

export interface KvOp {
  readonly client: number
  readonly member: number
  readonly call: KvCall
  readonly invoked: number
  returned: number
  status: Status
  result: KvResult | undefined
  error: string | undefined
}

export interface WatchEventRecord {
  readonly type: 'put' | 'delete'
  readonly key: string
  readonly value: string
  readonly modRevision: number
}

/** One logical watcher: a stream that reconnects (to any member) from the revision after the last it saw. */
export interface WatchStream {
  readonly id: number
  /** The revision it asked to start from first. */
  readonly start: number
  /** Responses in arrival order, across reconnects. */
  readonly responses: { readonly at: number; readonly member: number; readonly revision: number; readonly events: readonly WatchEventRecord[] }[]
  /** Revision ranges [from, to] the watcher may miss: a resume below the compaction got a compacted response. */
  readonly compactedGaps: [number, number][]
  /** Resume requests: [at, fromRevision]. */
  readonly resumes: [number, number][]
}

export interface LeaseRecord {
  readonly id: number
  readonly ttlMs: number
  /** Invocation times of grants and keep-alives answered ok. */
  readonly renewedAt: number[]
  /** Invocation times of revokes (any outcome). */
  readonly revokedAt: number[]
}

export class History {
  readonly ops: KvOp[] = []
  readonly watches: WatchStream[] = []
  readonly leases = new Map<number, LeaseRecord>()
  /** Every compaction revision answered ok. */
  readonly compactions: number[] = []

  begin(client: number, member: number, call: KvCall, now: number): KvOp {
    const op: KvOp = { client, member, call, invoked: now, returned: Number.POSITIVE_INFINITY, status: 'unknown', result: undefined, error: undefined }
    this.ops.push(op)
    return op
  }
}
