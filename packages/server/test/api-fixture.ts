// Shared by the api-*, etcdctl and etcd3-client tests: one store in a temp dir behind an
// in-process gRPC server on a free loopback port.
import { type OpenOptions, type Store, open } from '@strata/embed'
import { tempDir } from '@strata/testkit'
import { type GrpcServer, type GrpcServerOptions, createGrpcServer } from '../src/index.js'

export interface ApiFixture {
  readonly store: Store
  readonly server: GrpcServer
  readonly port: number
  /** `127.0.0.1:<port>` */
  readonly endpoint: string
  readonly dir: string
  close(): Promise<void>
}

export async function startApiServer(options: GrpcServerOptions = {}, storeOptions: Partial<OpenOptions> = {}): Promise<ApiFixture> {
  const dir = await tempDir('strata-api-')
  const store = await open({ dir: dir.path, bcryptCost: 4, tickMs: 10, electionTicks: 10, ...storeOptions })
  const server = createGrpcServer({ store, ...options })
  const port = await server.listen('127.0.0.1', 0)
  return {
    store, server, port, endpoint: `127.0.0.1:${port}`, dir: dir.path,
    async close() {
      await server.close()
      await store.close()
      await dir.cleanup()
    },
  }
}
