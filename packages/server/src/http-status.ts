import { type IncomingMessage, type Server, type ServerResponse, createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Store } from '@strata/embed'
import type { ServerMetrics } from './metrics.js'
import { ServerError } from './peer/errors.js'
import { parseHostPort } from './peer/url.js'
import { type TlsMaterial, serverTlsOptions } from './tls.js'

/** The minimal request/response shape both node:http and node:http2's compatibility API offer. */
export interface StatusRequest { readonly method?: string | undefined; readonly url?: string | undefined }
export interface StatusResponseWriter { writeHead(status: number, headers: Record<string, string>): unknown; end(body?: string): unknown }

export interface HealthOptions {
  readonly store: Store
  /** How long the health read may take before the member counts as unhealthy, in ms. Default 1,000. */
  readonly timeoutMs?: number
}

/**
 * etcd's /health: `{"health":"true"}` with 200 when the member sees a leader, no alarm is
 * raised and a linearizable read completes within the timeout; otherwise `{"health":"false",
 * "reason":"…"}` with 503 (the `reason` field is etcd 3.5's).
 */
export async function checkHealth(o: HealthOptions): Promise<{ healthy: boolean; reason: string }> {
  try {
    const st = o.store.maintenance.status()
    if (st.leader === 0) return { healthy: false, reason: 'RAFT NO LEADER' }
    if (st.alarms.length > 0) return { healthy: false, reason: `ALARM ${st.alarms.map((a) => a.alarm).join(',')}` }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((done) => { timer = setTimeout(() => done('timeout'), o.timeoutMs ?? 1_000) })
    const read = o.store.get('health', { limit: 1 }).then(() => 'ok' as const)
    read.catch(() => {})
    const r = await Promise.race([read, timeout]).finally(() => clearTimeout(timer))
    return r === 'ok' ? { healthy: true, reason: '' } : { healthy: false, reason: 'QGET TIMEOUT' }
  } catch (err) {
    return { healthy: false, reason: `QGET ERROR: ${(err as Error).message}` }
  }
}

/**
 * Answers GET /metrics and GET /health; returns false for any other path so the caller (the
 * client port's HTTP handler) can go on. Works with node:http and node:http2 compat objects.
 */
export function createStatusHandler(o: { readonly metrics: ServerMetrics; readonly health: HealthOptions }): (req: StatusRequest, res: StatusResponseWriter) => boolean {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== '/metrics' && path !== '/health') return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' })
      res.end('Method Not Allowed\n')
      return true
    }
    const job = path === '/metrics'
      ? o.metrics.render().then(({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType })
        res.end(body)
      })
      : checkHealth(o.health).then(({ healthy, reason }) => {
        res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
        res.end(JSON.stringify(healthy ? { health: 'true' } : { health: 'false', reason }))
      })
    job.catch((err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`${err.message}\n`)
    })
    return true
  }
}

/** An HTTP(S) listener for `--listen-metrics-urls` serving /metrics and /health only. */
export class StatusServer {
  readonly #server: Server
  #closed = false
  readonly port: number

  private constructor(server: Server, port: number) {
    this.#server = server
    this.port = port
  }

  /** Listens on `url` (`http://host:port`, or `https://` with `tls`); port 0 picks a free one. */
  static async open(url: string, handler: ReturnType<typeof createStatusHandler>, tls?: TlsMaterial): Promise<StatusServer> {
    const at = parseHostPort(url, '--listen-metrics-urls')
    if (at.tls && tls === undefined) throw new ServerError('ERR_SERVER_INVALID_OPTION', `server: ${url} is https: give --cert-file and --key-file`, { url })
    const serve = (req: IncomingMessage, res: ServerResponse): void => {
      if (!handler(req, res)) {
        res.writeHead(404, { 'content-type': 'text/plain' })
        res.end('404 page not found\n')
      }
    }
    const server = at.tls ? createHttpsServer(serverTlsOptions(tls!), serve) : createHttpServer(serve)
    server.requestTimeout = 10_000
    server.maxHeadersCount = 64
    await new Promise<void>((done, fail) => {
      server.once('error', (err) => fail(new ServerError('ERR_SERVER_INVALID_OPTION', `server: cannot listen on ${url}: ${err.message}`, { url }, { cause: err })))
      server.listen(at.port, at.host, () => done())
    })
    const addr = server.address()
    return new StatusServer(server, typeof addr === 'object' && addr !== null ? addr.port : at.port)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#server.closeAllConnections()
    await new Promise<void>((done) => this.#server.close(() => done()))
  }
}
