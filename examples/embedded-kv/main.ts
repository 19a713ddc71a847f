// The main example: an HTTP key-value service (node:http, no framework) that keeps its data in
// an embedded Strata store, with a watch-driven Server-Sent Events endpoint.
//
//   node --conditions=source --import tsx examples/embedded-kv/main.ts [dir] [--serve] [--port=N]
//
// Without --serve it shows itself working and exits: it listens on 127.0.0.1 (an ephemeral
// port), acts as its own client with fetch (puts, gets, a prefix list, an event stream that sees
// a put and a delete arrive), closes the server and the store, and exits 0. Run it again on the
// same directory and the keys are still there. With --serve it keeps serving until Ctrl-C.
//
//   PUT    /kv/<key>           body = the value          -> {"revision":N}
//   GET    /kv/<key>           the value (404 if absent); x-strata-mod-revision, x-strata-version
//   GET    /kv/?prefix=<p>     JSON: {"revision":N,"kvs":[{"key","value","modRevision","version"}]}
//   DELETE /kv/<key>           -> {"revision":N,"deleted":0|1} (404 if absent)
//   GET    /events?prefix=<p>  text/event-stream: one `event: put|delete` per change (id: revision)
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { EmbedError, type Store, open } from '@strata/embed'

const args = process.argv.slice(2)
const serve = args.includes('--serve')
const portArg = args.find((a) => a.startsWith('--port='))
const dir = args.find((a) => !a.startsWith('--')) ?? '.demo-data/embedded-kv'
const port = portArg === undefined ? (serve ? 8080 : 0) : Number(portArg.slice('--port='.length))
/** A request body over this is refused with 413 (the store's own limit is 1.5 MiB per request). */
const MAX_BODY_BYTES = 1024 * 1024

const text = new TextDecoder()
const str = (b: Uint8Array): string => text.decode(b)

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

/** The HTTP status for an error from the store: the client's fault, a retry later, or ours. */
function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status
  if (!(err instanceof EmbedError)) return 500
  switch (err.code) {
    case 'ERR_EMBED_INVALID_ARGUMENT': return 400
    case 'ERR_EMBED_REQUEST_TOO_LARGE': return 413
    case 'ERR_EMBED_NO_SPACE': return 507
    case 'ERR_EMBED_NO_LEADER': case 'ERR_EMBED_TIMEOUT': case 'ERR_EMBED_TOO_MANY_REQUESTS': case 'ERR_EMBED_CLOSED': return 503
    default: return 500
  }
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `a value is at most ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return new Uint8Array(Buffer.concat(chunks))
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
}

/** A key prefix as a range: every key when the prefix is empty (from the zero byte on). */
const range = (prefix: string): [string, { prefix: true } | { end: string }] => (prefix === '' ? ['\0', { end: '\0' }] : [prefix, { prefix: true }])

async function handle(store: Store, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const method = req.method ?? 'GET'
  if (url.pathname === '/events' && method === 'GET') return events(store, req, res, url.searchParams.get('prefix') ?? '')
  if (!url.pathname.startsWith('/kv/')) throw new HttpError(404, 'routes: /kv/<key>, /kv/?prefix=<p>, /events?prefix=<p>')
  const key = decodeURIComponent(url.pathname.slice('/kv/'.length))

  if (key === '') {
    if (method !== 'GET') throw new HttpError(405, 'only GET /kv/?prefix=<p> lists keys')
    const [from, opts] = range(url.searchParams.get('prefix') ?? '')
    const r = await store.get(from, opts)
    const kvs = r.kvs.map((kv) => ({ key: str(kv.key), value: str(kv.value), modRevision: kv.modRevision, version: kv.version }))
    return json(res, 200, { revision: r.header.revision, kvs })
  }
  switch (method) {
    case 'PUT': {
      const { header } = await store.put(key, await readBody(req))
      return json(res, 200, { revision: header.revision })
    }
    case 'GET': {
      const r = await store.get(key)
      const kv = r.kvs[0]
      if (kv === undefined) throw new HttpError(404, `no key ${JSON.stringify(key)}`)
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'x-strata-revision': String(r.header.revision),
        'x-strata-mod-revision': String(kv.modRevision),
        'x-strata-version': String(kv.version),
      }).end(kv.value)
      return
    }
    case 'DELETE': {
      const r = await store.delete(key)
      return json(res, r.deleted === 0 ? 404 : 200, { revision: r.header.revision, deleted: r.deleted })
    }
    default:
      throw new HttpError(405, 'PUT, GET or DELETE /kv/<key>')
  }
}

/**
 * Server-Sent Events from `store.watch`: every put and delete under the prefix from the moment
 * the stream opens (or, with a Last-Event-ID header, from the revision after it), until the
 * client goes away. The first comment line names the revision the stream starts after.
 */
async function events(store: Store, req: IncomingMessage, res: ServerResponse, prefix: string): Promise<void> {
  const [from, opts] = range(prefix)
  const lastId = Number(req.headers['last-event-id'] ?? Number.NaN)
  const after = Number.isSafeInteger(lastId) && lastId >= 0 ? lastId : (await store.get(from, { ...opts, countOnly: true })).header.revision
  // Created before the response starts: a client that saw the headers cannot miss a change.
  const watch = store.watch(from, { ...opts, startRevision: after + 1, progressNotifyMs: 15_000 })
  res.on('close', () => watch.cancel())
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  res.write(`: watching ${JSON.stringify(prefix)} after revision ${after}\n\n`)
  for await (const r of watch) {
    if (res.destroyed) break
    if (r.compactRevision !== 0) {
      res.write(`event: compacted\ndata: ${JSON.stringify({ compactRevision: r.compactRevision })}\n\n`)
      break
    }
    if (r.events.length === 0) res.write(`: progress at revision ${r.revision}\n\n`) // keeps proxies from closing an idle stream
    for (const e of r.events) {
      const data = e.type === 'put'
        ? { key: str(e.kv.key), value: str(e.kv.value), modRevision: e.kv.modRevision, version: e.kv.version }
        : { key: str(e.kv.key), modRevision: e.kv.modRevision }
      res.write(`id: ${e.kv.modRevision}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`)
    }
  }
  res.end()
}

function startServer(store: Store, listenPort: number): Promise<Server> {
  const server = createServer((req, res) => {
    handle(store, req, res).catch((err: unknown) => {
      const status = statusOf(err)
      if (status === 500) console.error(err)
      if (res.headersSent) return void res.end()
      json(res, status, { error: err instanceof Error ? err.message : String(err), code: err instanceof EmbedError ? err.code : undefined })
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenPort, '127.0.0.1', () => resolve(server))
  })
}

async function stop(server: Server, store: Store): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeAllConnections() // open event streams included
  await closed
  await store.close()
}

// ---------------------------------------------------------------------------------------------
// The demo: the service as its own client
// ---------------------------------------------------------------------------------------------

/** Reads Server-Sent Events from a fetch response body, one `{ event, data }` at a time. */
async function* sse(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true })
    let cut: number
    while ((cut = buffered.indexOf('\n\n')) !== -1) {
      const block = buffered.slice(0, cut)
      buffered = buffered.slice(cut + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data.push(line.slice(6))
      }
      if (data.length > 0) yield { event, data: data.join('\n') }
    }
  }
}

async function demo(base: string): Promise<void> {
  const call = async (method: string, path: string, body?: string): Promise<string> => {
    const res = await fetch(`${base}${path}`, { method, body })
    const out = (await res.text()).trim()
    const rev = res.headers.get('x-strata-mod-revision')
    console.log(`  ${method.padEnd(6)} ${path}${body === undefined ? '' : ` ${JSON.stringify(body)}`} -> ${res.status} ${out}${rev === null ? '' : ` (mod revision ${rev})`}`)
    if (!res.ok && res.status !== 404) throw new Error(`${method} ${path} failed: ${res.status} ${out}`)
    return res.status === 404 ? '' : out
  }

  const runs = Number((await call('GET', '/kv/demo/runs')) || '0') + 1
  await call('PUT', '/kv/demo/runs', String(runs))
  await call('PUT', '/kv/demo/greeting', 'hello')
  await call('PUT', '/kv/demo/color', 'blue')
  await call('GET', '/kv/demo/greeting')
  await call('GET', '/kv/demo/color')
  await call('GET', '/kv/?prefix=demo/')

  console.log('events: GET /events?prefix=demo/ (a Server-Sent Events stream), then a put and a delete')
  const abort = new AbortController()
  const stream = await fetch(`${base}/events?prefix=demo/`, { signal: abort.signal })
  if (!stream.ok || stream.body === null) throw new Error(`GET /events: ${stream.status}`)
  const seen: string[] = []
  const reading = (async () => {
    for await (const { event, data } of sse(stream.body!)) {
      console.log(`  event: ${event} ${data}`)
      seen.push(event)
      if (seen.length === 3) return
    }
  })()
  await call('PUT', '/kv/demo/color', 'green')
  await call('PUT', '/kv/demo/scratch', 'temporary')
  await call('DELETE', '/kv/demo/scratch')
  let timer: NodeJS.Timeout | undefined
  await Promise.race([reading, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no events within 5 s')), 5000)))])
  clearTimeout(timer)
  abort.abort()
  console.log(`this was run #${runs} on this directory; the events stream saw ${seen.join(', ')}`)
}

// ---------------------------------------------------------------------------------------------

const store = await open({ dir })
const { count, header } = await store.get('\0', { end: '\0', countOnly: true })
console.log(`store: ${dir} (revision ${header.revision}), ${count} keys already present`)
const server = await startServer(store, port)
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

if (serve) {
  console.log(`serving on ${base} (Ctrl-C to stop); try: curl -X PUT --data blue ${base}/kv/color`)
  const shutdown = (): void => {
    console.log('stopping')
    stop(server, store).then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
} else {
  console.log(`listening on ${base}; acting as its own client:`)
  try {
    await demo(base)
  } finally {
    await stop(server, store)
  }
  console.log('closed the server and the store; run again to see the keys kept')
}
