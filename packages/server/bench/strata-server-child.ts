// A Strata member served by createGrpcServer (grpc-js) in its own process, for server.bench.ts:
// the bench client then measures only its own CPU, and the server is a process like etcd.
//   node --conditions=source --import tsx strata-server-child.ts <dir>
// Prints one JSON line {"port":N,"pid":N} when it serves; closes on SIGTERM or when stdin closes.
import { open } from '@strata/embed'
import { createGrpcServer } from '../src/grpc-server.js'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: strata-server-child.ts <data dir>')
const store = await open({ dir })
const server = createGrpcServer({ store })
const port = await server.listen('127.0.0.1', 0)
process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`)
let closing = false
const shutdown = async (): Promise<void> => {
  if (closing) return
  closing = true
  await server.close()
  await store.close()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown())
process.stdin.on('end', () => void shutdown())
process.stdin.resume()
