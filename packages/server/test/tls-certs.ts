// Test certificates made with openssl at run time (a CA, and leaf certificates it signs for
// 127.0.0.1/localhost with both serverAuth and clientAuth, as a peer certificate needs).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCerts {
  readonly dir: string
  readonly caFile: string
  /** A leaf signed by the CA: cert and key files. */
  readonly certFile: string
  readonly keyFile: string
  /** A leaf signed by another CA: a client the first CA does not trust. */
  readonly strangerCertFile: string
  readonly strangerKeyFile: string
}

function ossl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
}

function makeCa(dir: string, name: string): void {
  ossl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`])
}

function makeLeaf(dir: string, ca: string, name: string): void {
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n')
  ossl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`])
  ossl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`])
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'strata-certs-'))
  makeCa(dir, 'ca')
  makeLeaf(dir, 'ca', 'member')
  makeCa(dir, 'other-ca')
  makeLeaf(dir, 'other-ca', 'stranger')
  return {
    dir, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'member.pem'), keyFile: join(dir, 'member.key'),
    strangerCertFile: join(dir, 'stranger.pem'), strangerKeyFile: join(dir, 'stranger.key'),
  }
}
