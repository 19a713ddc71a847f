import { readFileSync } from 'node:fs'
import { type Client, type ServiceClientConstructor, credentials, loadPackageDefinition, status as GrpcStatus } from '@grpc/grpc-js'
import { loadEtcdProto } from '../api/proto.js'
import { type CliIo, CliError, EXIT, intFlag, strFlag } from './args.js'

/** etcdctl's connection flags, shared by the commands that talk to a server. */
export const CLIENT_FLAGS = {
  endpoints: { type: 'string' }, cacert: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
  'dial-timeout': { type: 'string' },
} as const

export const CLIENT_FLAGS_HELP = `  --endpoints <h:p,...>   gRPC endpoints, host:port or http(s)://host:port [127.0.0.1:2379]
  --cacert <file>         verify the server with this CA (TLS)
  --cert, --key <file>    present this client certificate (TLS)
  --dial-timeout <ms>     give up connecting after this long (exit 3) [2000]
`

type Unary = (req: unknown) => Promise<any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** A gRPC client of one endpoint (the first that answers): unary calls as promises, streams raw. */
export interface EtcdClient {
  readonly endpoint: string
  readonly kv: Client & Record<string, unknown>
  readonly maintenance: Client & Record<string, unknown>
  unary(client: Client & Record<string, unknown>, method: string): Unary
  close(): void
}

function target(endpoint: string): { address: string; tls: boolean } {
  const m = /^(https?):\/\/(.+?)\/?$/.exec(endpoint)
  if (m !== null) return { address: m[2]!, tls: m[1] === 'https' }
  return { address: endpoint, tls: false }
}

/** Connects to the first of `--endpoints` (etcdctl's flags; TLS when --cacert is given or the URL is https). */
export function connectClient(values: Record<string, unknown>): EtcdClient {
  const endpoint = strFlag(values, 'endpoints', '127.0.0.1:2379').split(',')[0]!.trim()
  const t = target(endpoint)
  const cacert = strFlag(values, 'cacert')
  const cert = strFlag(values, 'cert')
  const key = strFlag(values, 'key')
  let creds
  try {
    creds = t.tls || cacert !== undefined
      ? credentials.createSsl(cacert === undefined ? null : readFileSync(cacert), key === undefined ? null : readFileSync(key), cert === undefined ? null : readFileSync(cert))
      : credentials.createInsecure()
  } catch (err) {
    throw new CliError(EXIT.USAGE, `cannot read a TLS file: ${(err as Error).message}`)
  }
  const pkg = loadPackageDefinition(loadEtcdProto()) as unknown as { etcdserverpb: Record<string, ServiceClientConstructor> }
  const opts = { 'grpc.max_receive_message_length': -1 }
  const kv = new pkg.etcdserverpb.KV!(t.address, creds, opts) as Client & Record<string, unknown>
  const maintenance = new pkg.etcdserverpb.Maintenance!(t.address, creds, opts) as Client & Record<string, unknown>
  return {
    endpoint,
    kv, maintenance,
    unary: (client, method) => (req) => new Promise((resolve, reject) => {
      const fn = client[method] as (r: unknown, o: { deadline: number }, cb: (e: Error | null, r: unknown) => void) => void
      fn.call(client, req, { deadline: Date.now() + 30_000 }, (err, res) => (err === null ? resolve(res) : reject(rpcFailure(endpoint, err))))
    }),
    close: () => {
      kv.close()
      maintenance.close()
    },
  }
}

/** A failed call as a CliError: unavailable (exit 3) when nothing answered, a failure (exit 1) otherwise. */
export function rpcFailure(endpoint: string, err: Error & { code?: number; details?: string }): CliError {
  if (err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.DEADLINE_EXCEEDED) return new CliError(EXIT.UNAVAILABLE, `${endpoint}: ${err.details ?? err.message}`)
  return new CliError(EXIT.FAILURE, `${endpoint}: ${err.details ?? err.message}`)
}

/** Runs `fn` with a connected client and closes it; CliError(UNAVAILABLE) when the endpoint does not answer within --dial-timeout. */
export async function withClient<T>(values: Record<string, unknown>, _io: CliIo, fn: (c: EtcdClient) => Promise<T>): Promise<T> {
  const dialMs = intFlag(values, 'dial-timeout', 2_000, 1, 600_000)
  const c = connectClient(values)
  try {
    await new Promise<void>((resolve, reject) => c.kv.waitForReady(Date.now() + dialMs, (err) => {
      if (err === undefined || err === null) resolve()
      else reject(new CliError(EXIT.UNAVAILABLE, `${c.endpoint}: no connection within ${dialMs} ms (${err.message})`))
    }))
    return await fn(c)
  } finally {
    c.close()
  }
}
