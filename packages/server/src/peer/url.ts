import { ServerError } from './errors.js'

/** A parsed `http://host:port` (plain TCP) or `https://host:port` (TLS) URL. */
export interface HostPort {
  readonly tls: boolean
  readonly host: string
  readonly port: number
}

/**
 * Parses a peer, client or metrics URL as etcd's flags take them. The scheme picks TLS
 * (`https`, or `unixs` is not supported); the port is required. ERR_SERVER_BAD_URL otherwise.
 */
export function parseHostPort(url: string, what = 'URL'): HostPort {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new ServerError('ERR_SERVER_BAD_URL', `server: ${what} ${JSON.stringify(url)} is not a URL; write it as http://host:port or https://host:port`, { url })
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ServerError('ERR_SERVER_BAD_URL', `server: ${what} ${JSON.stringify(url)} has scheme ${u.protocol}; use http:// or https://`, { url })
  }
  if (u.port === '') throw new ServerError('ERR_SERVER_BAD_URL', `server: ${what} ${JSON.stringify(url)} has no port; write it as ${u.protocol}//${u.hostname}:PORT`, { url })
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  return { tls: u.protocol === 'https:', host, port: Number(u.port) }
}

/** Splits an etcd-style comma-separated URL list (`a,b`), trimming blanks; each one is parsed. */
export function parseUrlList(list: string, what: string): string[] {
  const urls = list.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  if (urls.length === 0) throw new ServerError('ERR_SERVER_BAD_URL', `server: ${what} is empty; give at least one http://host:port`, { list })
  for (const u of urls) parseHostPort(u, what)
  return urls
}
