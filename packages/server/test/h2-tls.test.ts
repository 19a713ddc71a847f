// createH2GrpcServer with TLS (ALPN h2) and client-certificate auth: grpc-js and etcdctl with a
// certificate the CA signed are served; no certificate, or another CA's, is refused.
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { type Store, open } from '@strata/embed'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import type { GrpcServer } from '../src/grpc-server.js'
import { createH2GrpcServer } from '../src/h2/server.js'
import { type TestCerts, makeTestCerts } from './tls-certs.js'
import { assertClientCertAuth, assertEtcdctlPutOverHttps, serverTls } from './tls-client.js'

let certs: TestCerts
let store: Store
let server: GrpcServer
let dir: { path: string; cleanup(): Promise<void> }
let port = 0

test.before(async () => {
  certs = makeTestCerts()
  dir = await tempDir('strata-h2-tls-')
  store = await open({ dir: dir.path, tickMs: 20 })
  server = createH2GrpcServer({ store, tls: serverTls(certs) })
  port = await server.listen('127.0.0.1', 0)
})

test.after(async () => {
  await server?.close()
  await store?.close()
  await dir?.cleanup()
  rmSync(certs.dir, { recursive: true, force: true })
})

test('a client with a certificate the CA signed is served; none, or another CA\'s, is refused', async () => {
  await assertClientCertAuth(port, certs)
})

test('etcdctl with --cacert/--cert/--key over https, when installed', async () => {
  if (spawnSync('etcdctl', ['version']).status !== 0) return
  await assertEtcdctlPutOverHttps(port, certs)
})

test.run()
