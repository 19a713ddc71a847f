// createGrpcServer with TLS and client-certificate auth: etcdctl and grpc-js with a certificate
// the CA signed are served; no certificate, or one from another CA, is refused.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { type ServiceError, credentials, loadPackageDefinition } from '@grpc/grpc-js'
import { test } from 'uvu'
import { loadEtcdProto } from '../src/index.js'
import { type ApiFixture, startApiServer } from './api-fixture.js'
import { type TestCerts, makeTestCerts } from './tls-certs.js'

let f: ApiFixture
let certs: TestCerts
const pkg = loadPackageDefinition(loadEtcdProto()) as any

function range(creds: ReturnType<typeof credentials.createSsl>): Promise<unknown> {
  const c = new pkg.etcdserverpb.KV(`localhost:${f.port}`, creds)
  return new Promise((resolve, reject) => c.Range({ key: Buffer.from('k') }, { deadline: Date.now() + 3000 }, (e: ServiceError | null, r: unknown) => {
    c.close()
    if (e) reject(e)
    else resolve(r)
  }))
}

test.before(async () => {
  certs = makeTestCerts()
  f = await startApiServer({ tls: { cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile), ca: readFileSync(certs.caFile), clientCertAuth: true } })
})
test.after(async () => {
  await f?.close()
  rmSync(certs.dir, { recursive: true, force: true })
})

test('a client with a certificate the CA signed is served; none, or another CA\'s, is refused', async () => {
  const ca = readFileSync(certs.caFile)
  await range(credentials.createSsl(ca, readFileSync(certs.keyFile), readFileSync(certs.certFile)))
  await assert.rejects(range(credentials.createSsl(ca)))
  await assert.rejects(range(credentials.createSsl(ca, readFileSync(certs.strangerKeyFile), readFileSync(certs.strangerCertFile))))
})

test('etcdctl with --cacert/--cert/--key over https', async () => {
  const out = await new Promise<string>((resolve, reject) => execFile('etcdctl', [`--endpoints=https://127.0.0.1:${f.port}`, `--cacert=${certs.caFile}`, `--cert=${certs.certFile}`, `--key=${certs.keyFile}`, '--dial-timeout=3s', 'put', 'tls/k', 'v'], { timeout: 15_000 }, (e, stdout, stderr) => (e ? reject(new Error(stderr)) : resolve(stdout))))
  assert.equal(out.trim(), 'OK')
})

test.run()
