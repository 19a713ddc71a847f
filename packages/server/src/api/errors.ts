import { StrataError } from '@strata/seams'

/** gRPC status codes (the numbers are the wire values). */
export const Status = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
} as const

/**
 * An error as etcd answers it on the wire: a gRPC status code and etcd's exact message
 * (`details`), so clients that match etcd's strings (clientv3's rpctypes, etcdctl, the etcd3
 * npm client) react as they do to etcd. Code `ERR_SERVER_RPC`; `context.grpcCode`.
 */
export class RpcError extends StrataError {
  declare readonly code: 'ERR_SERVER_RPC'
  readonly grpcCode: number
  readonly details: string

  constructor(grpcCode: number, details: string, options?: ErrorOptions) {
    super('ERR_SERVER_RPC', details, { grpcCode }, options)
    this.grpcCode = grpcCode
    this.details = details
  }
}

type Mapped = readonly [code: number, details: string]

const S = Status
/** etcd's rpctypes errors by name, as (status, message). */
export const Etcd = {
  emptyKey: [S.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  keyNotFound: [S.INVALID_ARGUMENT, 'etcdserver: key not found'],
  valueProvided: [S.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  leaseProvided: [S.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  tooManyOps: [S.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  duplicateKey: [S.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  compacted: [S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  futureRev: [S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  noSpace: [S.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
  leaseNotFound: [S.NOT_FOUND, 'etcdserver: requested lease not found'],
  leaseExist: [S.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  leaseTtlTooLarge: [S.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
  memberExist: [S.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  peerUrlExist: [S.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  memberBadUrls: [S.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  memberNotFound: [S.NOT_FOUND, 'etcdserver: member not found'],
  memberNotLearner: [S.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  requestTooLarge: [S.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  tooManyRequests: [S.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],
  rootUserNotExist: [S.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  rootRoleNotExist: [S.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  userAlreadyExist: [S.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  userEmpty: [S.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  userNotFound: [S.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  roleAlreadyExist: [S.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  roleNotFound: [S.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  roleEmpty: [S.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  authFailed: [S.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'],
  permissionNotGiven: [S.INVALID_ARGUMENT, 'etcdserver: permission not given'],
  permissionDenied: [S.PERMISSION_DENIED, 'etcdserver: permission denied'],
  roleNotGranted: [S.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  permissionNotGranted: [S.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'],
  authNotEnabled: [S.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  invalidAuthToken: [S.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  invalidAuthMgmt: [S.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  authOldRevision: [S.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],
  noLeader: [S.UNAVAILABLE, 'etcdserver: no leader'],
  notLeader: [S.FAILED_PRECONDITION, 'etcdserver: not leader'],
  stopped: [S.UNAVAILABLE, 'etcdserver: server stopped'],
  timeout: [S.UNAVAILABLE, 'etcdserver: request timed out'],
  corrupt: [S.DATA_LOSS, 'etcdserver: corrupt cluster'],
  badLeaderTransferee: [S.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
} as const satisfies Record<string, Mapped>

/** etcd's error `name` as an RpcError to throw. */
export function etcdError(name: keyof typeof Etcd, cause?: unknown): RpcError {
  const [code, details] = Etcd[name]
  return new RpcError(code, details, cause === undefined ? undefined : { cause })
}

/** A request field that is out of its bounds (a negative revision, an unknown enum value). */
export function invalidArgument(details: string): RpcError {
  return new RpcError(Status.INVALID_ARGUMENT, `etcdserver: ${details}`)
}

const BY_CODE: Record<string, keyof typeof Etcd> = {
  ERR_MVCC_COMPACTED: 'compacted',
  ERR_MVCC_FUTURE_REV: 'futureRev',
  ERR_MVCC_TOO_MANY_OPS: 'tooManyOps',
  ERR_MVCC_EMPTY_KEY: 'emptyKey',
  ERR_MVCC_KEY_TOO_LARGE: 'requestTooLarge',
  ERR_MVCC_VALUE_TOO_LARGE: 'requestTooLarge',
  ERR_EMBED_REQUEST_TOO_LARGE: 'requestTooLarge',
  ERR_APPLY_REQUEST_TOO_LARGE: 'requestTooLarge',
  ERR_EMBED_DUPLICATE_KEY: 'duplicateKey',
  ERR_EMBED_NO_SPACE: 'noSpace',
  ERR_APPLY_NO_SPACE: 'noSpace',
  ERR_EMBED_TIMEOUT: 'timeout',
  ERR_EMBED_TOO_MANY_REQUESTS: 'tooManyRequests',
  ERR_EMBED_NO_LEADER: 'noLeader',
  ERR_EMBED_NOT_LEADER: 'notLeader',
  ERR_LEASE_NOT_PRIMARY: 'notLeader',
  ERR_EMBED_CLOSED: 'stopped',
  ERR_EMBED_STOPPED: 'stopped',
  ERR_EMBED_REMOVED: 'stopped',
  ERR_MVCC_CLOSED: 'stopped',
  ERR_LEASE_CLOSED: 'stopped',
  ERR_AUTH_CLOSED: 'stopped',
  ERR_APPLY_CLOSED: 'stopped',
  ERR_BACKEND_CLOSED: 'stopped',
  ERR_APPLY_KEY_NOT_FOUND: 'keyNotFound',
  ERR_APPLY_AUTH_OLD_REVISION: 'authOldRevision',
  ERR_AUTH_OLD_REVISION: 'authOldRevision',
  ERR_APPLY_CORRUPT_ALARM: 'corrupt',
  ERR_LEASE_NOT_FOUND: 'leaseNotFound',
  ERR_LEASE_EXPIRED: 'leaseNotFound',
  ERR_LEASE_EXISTS: 'leaseExist',
  ERR_LEASE_TTL_TOO_LARGE: 'leaseTtlTooLarge',
  ERR_AUTH_ROOT_USER_NOT_EXIST: 'rootUserNotExist',
  ERR_AUTH_ROOT_ROLE_NOT_EXIST: 'rootRoleNotExist',
  ERR_AUTH_USER_ALREADY_EXIST: 'userAlreadyExist',
  ERR_AUTH_USER_EMPTY: 'userEmpty',
  ERR_AUTH_USER_NOT_FOUND: 'userNotFound',
  ERR_AUTH_ROLE_ALREADY_EXIST: 'roleAlreadyExist',
  ERR_AUTH_ROLE_NOT_FOUND: 'roleNotFound',
  ERR_AUTH_ROLE_EMPTY: 'roleEmpty',
  ERR_AUTH_FAILED: 'authFailed',
  ERR_AUTH_PERMISSION_NOT_GIVEN: 'permissionNotGiven',
  ERR_AUTH_PERMISSION_DENIED: 'permissionDenied',
  ERR_AUTH_ROLE_NOT_GRANTED: 'roleNotGranted',
  ERR_AUTH_PERMISSION_NOT_GRANTED: 'permissionNotGranted',
  ERR_AUTH_NOT_ENABLED: 'authNotEnabled',
  ERR_AUTH_INVALID_TOKEN: 'invalidAuthToken',
  ERR_AUTH_INVALID_MGMT: 'invalidAuthMgmt',
}

/** Bad-input codes of the layers below that etcd has no single string for: INVALID_ARGUMENT with Strata's message. */
const INVALID = new Set([
  'ERR_EMBED_INVALID_ARGUMENT', 'ERR_MVCC_INVALID_ARGUMENT', 'ERR_MVCC_INVALID_RANGE', 'ERR_LEASE_INVALID_ARGUMENT',
  'ERR_AUTH_INVALID_ARGUMENT', 'ERR_AUTH_PASSWORD_EMPTY', 'ERR_APPLY_INVALID_ARGUMENT', 'ERR_BACKEND_INVALID_ARGUMENT',
  'ERR_BACKEND_KEY_TOO_LARGE', 'ERR_BACKEND_VALUE_TOO_LARGE', 'ERR_SERVER_INVALID_ARGUMENT',
])

/** Busy or resource-limit codes: RESOURCE_EXHAUSTED, retry later. */
const EXHAUSTED = new Set(['ERR_MVCC_BUSY', 'ERR_AUTH_BUSY', 'ERR_BACKEND_BUSY', 'ERR_MVCC_TOO_MANY_WATCHERS', 'ERR_AUTH_LIMIT'])

/**
 * Maps anything a handler threw to the status etcd would answer: the layers' typed errors
 * (ERR_EMBED_*, ERR_MVCC_*, ERR_LEASE_*, ERR_AUTH_*, ERR_APPLY_*) to etcd's code and exact string;
 * other bad input to INVALID_ARGUMENT with Strata's message; anything else (a bug) to INTERNAL.
 */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err
  if (err instanceof StrataError) {
    const name = BY_CODE[err.code]
    if (name !== undefined) return etcdError(name, err)
    if (INVALID.has(err.code)) return new RpcError(Status.INVALID_ARGUMENT, `etcdserver: ${err.message}`, { cause: err })
    if (EXHAUSTED.has(err.code)) return new RpcError(Status.RESOURCE_EXHAUSTED, `etcdserver: ${err.message}`, { cause: err })
    return new RpcError(Status.UNAVAILABLE, `etcdserver: ${err.message}`, { cause: err })
  }
  return new RpcError(Status.INTERNAL, `etcdserver: internal error: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}
