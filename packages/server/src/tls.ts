import { readFileSync } from 'node:fs'
import type { ConnectionOptions, TlsOptions } from 'node:tls'
import { ServerError } from './peer/errors.js'

/**
 * TLS material for one port, as etcd's flags name it: `--cert-file`/`--key-file` (this side's
 * certificate and key, PEM), `--trusted-ca-file` (the CA that signs the other side's
 * certificates, PEM) and `--client-cert-auth` (the listener asks every client for a
 * certificate signed by that CA and refuses a client without one). The peer port has the same
 * four as `--peer-*`. On the peer port a member is both a listener and a client of the others,
 * so the one certificate serves both roles (it needs the serverAuth and clientAuth usages if
 * it restricts them).
 */
export interface TlsFiles {
  readonly certFile: string
  readonly keyFile: string
  readonly trustedCaFile?: string
  readonly clientCertAuth?: boolean
}

/** The PEM contents behind {@link TlsFiles}, read once at start-up. */
export interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca: Buffer | undefined
  readonly clientCertAuth: boolean
}

function read(path: string, flag: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new ServerError('ERR_SERVER_TLS', `server: cannot read ${flag} ${path}: ${(err as Error).message}`, { path, flag }, { cause: err })
  }
}

/**
 * Reads the files (ERR_SERVER_TLS when one is unreadable). `prefix` names the flags in
 * messages: '' for the client port, 'peer-' for the peer port. Client-cert auth without a
 * trusted CA is refused (ERR_SERVER_INVALID_OPTION): nothing could be verified.
 */
export function loadTls(files: TlsFiles, prefix = ''): TlsMaterial {
  if (files.clientCertAuth === true && files.trustedCaFile === undefined) {
    throw new ServerError('ERR_SERVER_INVALID_OPTION', `server: --${prefix}client-cert-auth needs --${prefix}trusted-ca-file to verify client certificates against`, { flag: `${prefix}client-cert-auth` })
  }
  return {
    cert: read(files.certFile, `--${prefix}cert-file`),
    key: read(files.keyFile, `--${prefix}key-file`),
    ca: files.trustedCaFile === undefined ? undefined : read(files.trustedCaFile, `--${prefix}trusted-ca-file`),
    clientCertAuth: files.clientCertAuth === true,
  }
}

/** Options for a TLS listener: with client-cert auth, a client without a certificate signed by the CA fails the handshake. */
export function serverTlsOptions(m: TlsMaterial): TlsOptions {
  return {
    cert: m.cert, key: m.key,
    ...(m.ca === undefined ? {} : { ca: m.ca }),
    requestCert: m.clientCertAuth,
    rejectUnauthorized: m.clientCertAuth,
    minVersion: 'TLSv1.2',
  }
}

/** Options for dialing a TLS listener: verify it against the CA (or the system's roots without one) and present this side's certificate. */
export function clientTlsOptions(m: TlsMaterial): ConnectionOptions {
  return { cert: m.cert, key: m.key, ...(m.ca === undefined ? {} : { ca: m.ca }), minVersion: 'TLSv1.2' }
}
