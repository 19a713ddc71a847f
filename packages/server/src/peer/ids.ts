import { createHash } from 'node:crypto'

/** The first 53 bits of SHA-1 over `parts` joined by newlines: a positive safe integer (never 0). */
function hashId(parts: readonly string[]): number {
  const d = createHash('sha1').update(parts.join('\n')).digest()
  const id = Number(d.readBigUInt64BE(0) >> 11n)
  return id === 0 ? 1 : id
}

/**
 * A member's id, derived as etcd derives one for its initial cluster: from the member's sorted
 * peer URLs and the cluster token (`--initial-cluster-token`), so every member of a new cluster
 * computes the same ids for all of them from `--initial-cluster` alone. A member added at run
 * time gets the id of its peer URLs too, so the process that then joins with
 * `--initial-cluster-state existing` finds its own id from its `--initial-advertise-peer-urls`.
 * Unlike etcd's (64 bits), the id is 53 bits: Strata's member ids are safe integers.
 */
export function memberIdFor(peerUrls: readonly string[], clusterToken: string): number {
  return hashId(['member', clusterToken, ...[...peerUrls].sort()])
}

/**
 * The cluster's id, from the cluster token alone: members started with different tokens
 * refuse each other's connections. (etcd hashes the initial members' ids too; Strata's joiners
 * do not fetch the id from a peer, so it must not depend on who the first members were.)
 */
export function clusterIdFor(clusterToken: string): number {
  return hashId(['cluster', clusterToken])
}
