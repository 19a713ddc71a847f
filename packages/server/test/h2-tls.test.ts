// createH2GrpcServer with TLS (ALPN h2) and client-certificate auth: grpc-js and etcdctl with a
// certificate the CA signed are served; no certificate, or another CA's, is refused.
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { type ServiceError, credentials, loadPackageDefinition } from '@grpc/grpc-js'
import { type Store, open } from '@strata/embed'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { loadEtcdProto } from '../src/api/proto.js'
import type { GrpcServer } from '../src/grpc-server.js'
import { createH2GrpcServer } from '../src/h2/server.js'
import { type TestCerts, makeTestCerts } from './tls-certs.js'

let certs: TestCerts
let store: Store
let server: GrpcServer
let dir: { path: string; cleanup(): Promise<void> }
let port = 0
const pkg = loadPackageDefinition(loadEtcdProto()) as unknown as { etcdserverpb: { KV: new (a: string, c: ReturnType<typeof credentials.createSsl>) => { Range: (...a: unknown[]) => void; close(): void } } }

function range(creds: ReturnType<typeof credentials.createSsl>): Promise<unknown> {
  const c = new pkg.etcdserverpb.KV(`localhost:${port}`, creds)
  return new Promise((resolve, reject) => c.Range({ key: Buffer.from('k') }, { deadline: Date.now() + 3000 }, (e: ServiceError | null, r: unknown) => {
    c.close()
    if (e) reject(e)
    else resolve(r)
  }))
}

test.before(async () => {
  certs = makeTestCerts()
  dir = await tempDir('strata-h2-tls-')
  store = await open({ dir: dir.path, tickMs: 20 })
  server = createH2GrpcServer({ store, tls: { cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile), ca: readFileSync(certs.caFile), clientCertAuth: true } })
  port = await server.listen('127.0.0.1', 0)
})

test.after(async () => {
  await server?.close()
  await store?.close()
  await dir?.cleanup()
  rmSync(certs.dir, { recursive: true, force: true })
})

test('a client with a certificate the CA signed is served; none, or another CA\'s, is refused', async () => {
  const ca = readFileSync(certs.caFile)
  await range(credentials.createSsl(ca, readFileSync(certs.keyFile), readFileSync(certs.certFile)))
  await assert.rejects(range(credentials.createSsl(ca)))
  await assert.rejects(range(credentials.createSsl(ca, readFileSync(certs.strangerKeyFile), readFileSync(certs.strangerCertFile))))
})

test('etcdctl with --cacert/--cert/--key over https, when installed', async () => {
  if (spawnSync('etcdctl', ['version']).status !== 0) return
  const out = await new Promise<string>((resolve, reject) => execFile('etcdctl', [`--endpoints=https://127.0.0.1:${port}`, `--cacert=${certs.caFile}`, `--cert=${certs.certFile}`, `--key=${certs.keyFile}`, '--dial-timeout=3s', 'put', 'tls/k', 'v'], { timeout: 15_000 }, (e, stdout, stderr) => (e ? reject(new Error(stderr)) : resolve(stdout))))
  assert.equal(out.trim(), 'OK')
})

test.run()
