import { fileURLToPath } from 'node:url'
import { type Options, type PackageDefinition, loadSync } from '@grpc/proto-loader'

/** The directory of etcd's `.proto` files shipped with this package (`rpc.proto`, `kv.proto`, `auth.proto`). */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url))

/**
 * How messages look in JavaScript: snake_case field names as in the .proto files, 64-bit
 * integers as numbers (checked with Number.isSafeInteger where they enter the store), bytes as
 * Buffer, enums as their names, defaults filled in, and `oneof` names set (`request_put`, ...).
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
}

let cached: PackageDefinition | undefined

/** etcd's v3 API as a grpc-js package definition (`etcdserverpb.KV`, `etcdserverpb.Watch`, ...), loaded once. */
export function loadEtcdProto(): PackageDefinition {
  cached ??= loadSync('rpc.proto', LOADER_OPTIONS)
  return cached
}
