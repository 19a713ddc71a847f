// A Strata member served by createGrpcServer (grpc-js) in its own process, for server.bench.ts:
// the bench client then measures only its own CPU, and the server is a process like etcd.
//   node --conditions=source --import tsx strata-server-child.ts <dir> [grpc-js|h2]
// (grpc-js: createGrpcServer, the default; h2: createH2GrpcServer, the lean framing of src/h2;
// h2-generic: the same without its hand codecs for Put and Range)
// Prints one JSON line {"port":N,"pid":N} when it serves; closes on SIGTERM or when stdin closes.
import { open } from '@strata/embed'
import { createGrpcServer } from '../src/grpc-server.js'
import { createH2GrpcServer } from '../src/h2/server.js'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: strata-server-child.ts <data dir>')
const store = await open({ dir })
const transport = process.argv[3] ?? 'grpc-js'
if (transport !== 'grpc-js' && transport !== 'h2' && transport !== 'h2-generic') throw new Error(`unknown transport ${transport}: grpc-js, h2 or h2-generic`)
const server = transport === 'grpc-js' ? createGrpcServer({ store }) : createH2GrpcServer({ store, fastCodecs: transport === 'h2' })
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
