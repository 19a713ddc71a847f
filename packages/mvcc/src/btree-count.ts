import assert from 'node:assert'

/**
 * Rank queries on a sorted-btree B+ tree in O(log n). sorted-btree keeps the size of every
 * internal node's subtree (`_size`, needed for its own bookkeeping) and the max key of each
 * child, which is all a rank needs; it only lacks the public method. This reads those
 * internals of the pinned version (2.1.0); {@link supportsRank} checks they are there, and
 * callers fall back to a walk when not.
 */
interface RankNode {
  readonly keys: readonly string[]
  readonly children?: readonly RankNode[]
  size(): number
}

function rootOf(tree: object): RankNode | undefined {
  const root = (tree as { _root?: RankNode })._root
  return root !== undefined && Array.isArray(root.keys) && typeof root.size === 'function' ? root : undefined
}

/** True when `tree` exposes the internals {@link countBelow} reads. */
export function supportsRank(tree: object): boolean {
  return rootOf(tree) !== undefined
}

/** First index in the sorted `keys` whose key is >= `key` (binary search). */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (keys[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The number of keys in `tree` that are < `key`, in O(log n) (string keys, code-unit order). */
export function countBelow(tree: object, key: string): number {
  const root = rootOf(tree)
  assert(root !== undefined, 'sorted-btree internals not found')
  let node: RankNode = root
  let below = 0
  for (;;) {
    const children: readonly RankNode[] | undefined = node.children
    if (children === undefined) return below + lowerBound(node.keys, key)
    // keys[i] is the largest key under children[i]: every child before the first one whose
    // max is >= key lies wholly below `key`.
    const i = lowerBound(node.keys, key)
    if (i >= children.length) return below + node.size()
    for (let c = 0; c < i; c++) below += children[c]!.size()
    node = children[i]!
  }
}
