import { mkdtempSync, readFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { etcdctl, freePort, serve, strata } from './cli-fixture.js'
import { makeTestCerts } from './tls-certs.js'

function httpsGet(port: number, path: string, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', ...tls }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', (e) => resolve({ error: e.message }))
    req.end()
  })
}

test('strata serve with TLS and client-cert auth on the client, peer and metrics ports: clients with the CA-signed certificate are served, clients without one are refused', async () => {
  const certs = makeTestCerts()
  const dir = mkdtempSync(join(tmpdir(), 'strata-tls-'))
  const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()]
  const s = serve(['--name', 'secure', '--data-dir', join(dir, 'secure'),
    '--listen-client-urls', `https://127.0.0.1:${client}`, '--listen-peer-urls', `https://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls', `https://127.0.0.1:${peer}`, '--listen-metrics-urls', `https://127.0.0.1:${metrics}`,
    '--cert-file', certs.certFile, '--key-file', certs.keyFile, '--trusted-ca-file', certs.caFile, '--client-cert-auth',
    '--peer-cert-file', certs.certFile, '--peer-key-file', certs.keyFile, '--peer-trusted-ca-file', certs.caFile, '--peer-client-cert-auth'])
  try {
    await s.ready
    const ep = `--endpoints=127.0.0.1:${client}`
    const tlsFlags = ['--cacert', certs.caFile, '--cert', certs.certFile, '--key', certs.keyFile]
    const put = await etcdctl([ep, ...tlsFlags, 'put', 'tls/a', 'secret'])
    assert.is(put.code, 0, put.stderr)
    const got = await etcdctl([ep, ...tlsFlags, 'get', 'tls/a', '--print-value-only'])
    assert.is(got.stdout.trim(), 'secret', got.stderr)
    const noCert = await etcdctl([ep, '--dial-timeout=1s', '--command-timeout=2s', '--cacert', certs.caFile, 'get', 'tls/a'])
    assert.is.not(noCert.code, 0, 'a client without a certificate was served')
    const stranger = await etcdctl([ep, '--dial-timeout=1s', '--command-timeout=2s', '--cacert', certs.caFile, '--cert', certs.strangerCertFile, '--key', certs.strangerKeyFile, 'get', 'tls/a'])
    assert.is.not(stranger.code, 0, 'a client with a certificate from another CA was served')

    const saved = await strata(['snapshot', 'save', join(dir, 'tls.snap'), ep, ...tlsFlags])
    assert.is(saved.code, 0, saved.stderr)

    const ca = readFileSync(certs.caFile)
    const health = await httpsGet(metrics, '/health', { ca, cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) })
    assert.equal(health, { status: 200, body: '{"health":"true"}' })
    const refused = await httpsGet(metrics, '/health', { ca })
    assert.ok('error' in refused || refused.status !== 200, 'the metrics port served a client without a certificate')
  } finally {
    s.proc.kill('SIGTERM')
  }
  assert.is(await s.exited, 0, s.stderr())
})

test.run()
