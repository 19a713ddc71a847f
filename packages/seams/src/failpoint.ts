/**
 * A named point at a durable boundary. Production code calls it and carries on; a test's
 * failpoint may throw there to simulate a crash at exactly that point.
 */
export type Failpoint = (name: FailpointName) => void

/** The failpoints DESIGN.md names; packages may add their own with a `pkg.` prefix. */
export type FailpointName =
  | 'raftBeforeSave' | 'raftAfterSave' | 'beforeApplyOne'
  | 'backendBeforeCommit' | 'backendAfterCommit'
  | 'compactBeforeCommitBatch' | 'compactAfterCommitBatch'
  | 'snapBeforeSave' | 'snapAfterSave' | 'snapBeforeApply'
  | 'walBeforeCut' | 'walAfterRename'
  | 'leaseBeforeRevokeExpired'
  | `${string}.${string}`

/** The production failpoint: does nothing. */
export const noFailpoint: Failpoint = () => {}
