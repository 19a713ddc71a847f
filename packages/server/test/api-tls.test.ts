// createGrpcServer with TLS and client-certificate auth: etcdctl and grpc-js with a certificate
// the CA signed are served; no certificate, or one from another CA, is refused.
import { rmSync } from 'node:fs'
import { test } from 'uvu'
import { type ApiFixture, startApiServer } from './api-fixture.js'
import { type TestCerts, makeTestCerts } from './tls-certs.js'
import { assertClientCertAuth, assertEtcdctlPutOverHttps, serverTls } from './tls-client.js'

let f: ApiFixture
let certs: TestCerts

test.before(async () => {
  certs = makeTestCerts()
  f = await startApiServer({ tls: serverTls(certs) })
})
test.after(async () => {
  await f?.close()
  rmSync(certs.dir, { recursive: true, force: true })
})

test('a client with a certificate the CA signed is served; none, or another CA\'s, is refused', async () => {
  await assertClientCertAuth(f.port, certs)
})

test('etcdctl with --cacert/--cert/--key over https', async () => {
  await assertEtcdctlPutOverHttps(f.port, certs)
})

test.run()
