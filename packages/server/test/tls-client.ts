// What the TLS tests of both gRPC servers (createGrpcServer: api-tls.test.ts, createH2GrpcServer:
// h2-tls.test.ts) check the same way: the server options for the test certificates with
// client-certificate auth on, and a client with a certificate the CA signed served while one
// without, or with another CA's, is refused — through grpc-js and through etcdctl over https.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { type ServiceError, credentials, loadPackageDefinition } from '@grpc/grpc-js'
import { loadEtcdProto } from '../src/api/proto.js'
import type { TestCerts } from './tls-certs.js'

type Creds = ReturnType<typeof credentials.createSsl>
const pkg = loadPackageDefinition(loadEtcdProto()) as unknown as {
  etcdserverpb: { KV: new (a: string, c: Creds) => { Range: (...a: unknown[]) => void; close(): void } }
}

/** The `tls` option of either server: the member certificate, the CA, client-certificate auth on. */
export function serverTls(certs: TestCerts): { cert: Buffer; key: Buffer; ca: Buffer; clientCertAuth: true } {
  return { cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile), ca: readFileSync(certs.caFile), clientCertAuth: true }
}

function range(port: number, creds: Creds): Promise<unknown> {
  const c = new pkg.etcdserverpb.KV(`localhost:${port}`, creds)
  return new Promise((resolve, reject) => c.Range({ key: Buffer.from('k') }, { deadline: Date.now() + 3000 }, (e: ServiceError | null, r: unknown) => {
    c.close()
    if (e) reject(e)
    else resolve(r)
  }))
}

/** grpc-js with the CA-signed certificate is served; without a certificate, or with the other CA's, refused. */
export async function assertClientCertAuth(port: number, certs: TestCerts): Promise<void> {
  const ca = readFileSync(certs.caFile)
  await range(port, credentials.createSsl(ca, readFileSync(certs.keyFile), readFileSync(certs.certFile)))
  await assert.rejects(range(port, credentials.createSsl(ca)))
  await assert.rejects(range(port, credentials.createSsl(ca, readFileSync(certs.strangerKeyFile), readFileSync(certs.strangerCertFile))))
}

/** `etcdctl put` over https with --cacert/--cert/--key answers OK. */
export async function assertEtcdctlPutOverHttps(port: number, certs: TestCerts): Promise<void> {
  const args = [`--endpoints=https://127.0.0.1:${port}`, `--cacert=${certs.caFile}`, `--cert=${certs.certFile}`, `--key=${certs.keyFile}`, '--dial-timeout=3s', 'put', 'tls/k', 'v']
  const out = await new Promise<string>((resolve, reject) => execFile('etcdctl', args, { timeout: 15_000 }, (e, stdout, stderr) => (e ? reject(new Error(stderr)) : resolve(stdout))))
  assert.equal(out.trim(), 'OK')
}
