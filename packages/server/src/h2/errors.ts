import { StrataError } from '@strata/seams'

/**
 * The codes the lean HTTP/2 + gRPC client (`src/h2`) and `strata bench` throw or hand to callbacks:
 * - `ERR_SERVER_H2_PROTOCOL`: the peer broke HTTP/2, HPACK or gRPC framing (a malformed frame,
 *   a header block that does not decode, a message prefix that overruns its stream).
 * - `ERR_SERVER_H2_CLOSED`: the connection is closed (by `close()`, by the peer, or by a socket
 *   error); every call still waiting on it fails with this code.
 * - `ERR_SERVER_H2_GOAWAY`: the peer sent GOAWAY; calls on streams it did not process fail with this code.
 * - `ERR_SERVER_H2_STREAM_RESET`: the peer reset the call's stream (RST_STREAM); `context.http2Code`.
 * - `ERR_SERVER_H2_STREAMS_EXHAUSTED`: the connection used up its 2^31 stream ids; open another.
 * - `ERR_SERVER_GRPC_STATUS`: the call ended with a non-zero grpc-status; `context.grpcStatus`,
 *   `context.grpcMessage` carry etcd's code and text (e.g. 9 / `etcdserver: ...`).
 * - `ERR_SERVER_INVALID_ARGUMENT`: a bad argument to a call (an endpoint that is not host:port).
 * - `ERR_SERVER_INVALID_OPTION`: a bad option or command-line flag of `strata bench`.
 */
export type H2ErrorCode =
  | 'ERR_SERVER_H2_PROTOCOL'
  | 'ERR_SERVER_H2_CLOSED'
  | 'ERR_SERVER_H2_GOAWAY'
  | 'ERR_SERVER_H2_STREAM_RESET'
  | 'ERR_SERVER_H2_STREAMS_EXHAUSTED'
  | 'ERR_SERVER_GRPC_STATUS'
  | 'ERR_SERVER_INVALID_ARGUMENT'
  | 'ERR_SERVER_INVALID_OPTION'

export class H2Error extends StrataError {
  declare readonly code: H2ErrorCode
  constructor(code: H2ErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}
